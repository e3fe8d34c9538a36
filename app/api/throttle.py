"""Request budgets at the routes: token creation, and commands that move a drone (docs/api.md).

Checked in the handler, after authentication, permission and input validation: a refused request
costs nothing, and a 429 never hides a 401, 403 or 422. Commands that make a drone safer (disarm,
pause, return, land; a run's pause, abort, land) are never limited: an operator whose budget is spent
must still be able to bring the aircraft down.
"""

from __future__ import annotations

from fastapi import Request

from app.auth import Principal
from app.errors import RateLimited
from app.ratelimit import RequestLimits, client_key, spend

SAFE_ACTIONS = frozenset({"disarm", "pause", "return", "land", "abort"})
"""Drone commands and run actions that make a drone safer: never limited."""


def _limits(request: Request) -> RequestLimits:
    limits: RequestLimits = request.app.state.request_limits
    return limits


def spend_token_creation(request: Request, principal: Principal) -> None:
    """One token created: from the admin token's budget and from the client address's (both must allow it)."""
    limits = _limits(request)
    address = client_key(request.client.host if request.client else None)
    budgets = (
        (limits.tokens_per_token, str(principal.token_id), "tokens created with this token"),
        (limits.tokens_per_address, address, "tokens created from this address"),
    )
    for limiter, key, what in budgets:  # check both before spending either
        retry_after_s = limiter.retry_after_s(key)
        if retry_after_s is not None:
            raise RateLimited(f"too many {what}; retry in {retry_after_s} s", retry_after_s=retry_after_s)
    for limiter, key, what in budgets:
        spend(limiter, key, what)


def spend_flight_command(request: Request, principal: Principal, target: str, action: str | None) -> None:
    """One command that moves a drone, per token and ``target`` (``drone:7``, ``run:3``)."""
    if action in SAFE_ACTIONS:
        return
    spend(_limits(request).flight, f"{principal.token_id}/{target}", f"flight commands for {target}")
