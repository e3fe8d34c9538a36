"""The error answers each route documents in OpenAPI, all in the one error shape.

Routers list the statuses they can answer with ``errors(...)`` (router-wide ones on the
``APIRouter``, route-specific ones on the route), so ``/openapi.json`` tells clients every status and
its body; the schemathesis test in tests/api/test_schemathesis.py holds the routes to it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every 4xx and 5xx body: a machine code, a sentence, and the details (fields, results)."""

    code: str = Field(description="Machine-readable code, e.g. validation_failed, not_found")
    message: str = Field(description="What went wrong, naming the field where there is one")
    details: Any = Field(default=None, description="Per-field problems or the vehicle's verdict; may be null")


_DESCRIPTIONS = {
    401: "`unauthorized`: no token, or an unknown or revoked one",
    403: "`forbidden`: the role or the token's community scope does not allow this",
    404: "`not_found`: missing, or outside the token's community scope",
    409: "`conflict` (or a link code such as `command_rejected`): clashes with the current state",
    413: "`body_too_large`: the body is over AEROGRID_MAX_BODY_BYTES",
    422: "`validation_failed` (or a planning code): bad input; `details` names each field and problem",
    429: "`rate_limited`: too many requests or failed logins; retry after `Retry-After` seconds",
    502: "`link_error`, `mission_upload_failed`: the drone refused or the transfer failed",
    503: "`database_unavailable` (retry after `Retry-After`), or `link_not_connected` for an offline drone",
    504: "`link_timeout`: the drone did not answer in time",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, each with the error shape."""
    return {status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]} for status in statuses}


TOKEN_ROUTES = errors(401, 422, 429, 503)
"""What any route behind a token can answer: no token, bad input, too many tries, database down."""

WITH_BODY = errors(413)
