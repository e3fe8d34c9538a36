"""Webhook subscriptions and their deliveries (district admins): subscribe a URL to event types
with a signing secret, see pending, delivered and dead deliveries, replay one.
A subscription receives every community's events and deliveries carry them, so managing either
needs an admin token without a community scope (a scoped admin gets 403).

Target URLs are operator-configured, and only http and https are accepted; the secret is stored to
sign deliveries and never shown again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.deps import DistrictAdmin
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, errors
from app.auth import Principal
from app.db.repos import outbox as repo
from app.errors import Forbidden, NotFound
from app.services.outbox import EVENT_TYPES, DeliveryWorker

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

ItemId = Annotated[int, Path(ge=1, le=2**62)]


async def _district_wide_admin(principal: DistrictAdmin) -> Principal:
    if principal.communities is not None:
        raise Forbidden(
            "webhooks deliver every community's events: managing them needs a token without a community scope"
        )
    return principal


WebhookAdmin = Annotated[Principal, Depends(_district_wide_admin)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, never silently dropped
    url: str = Field(max_length=2000, description="http:// or https:// only")
    event_types: list[str] = Field(min_length=1, max_length=50, description="'*' for every event")
    secret: str = Field(min_length=16, max_length=200, description="HMAC-SHA256 key for the signature")

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("only http:// and https:// URLs are accepted")
        if not parts.hostname:
            raise ValueError("the URL has no host")
        return url

    @field_validator("event_types")
    @classmethod
    def _known_events(cls, event_types: list[str]) -> list[str]:
        unknown = sorted(set(event_types) - {*EVENT_TYPES, "*"})
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {[*EVENT_TYPES, '*']}")
        return event_types


def _subscription(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "url": r["url"],
        "event_types": list(r["event_types"]),
        "created_by": r["created_by"],
        "created_at": r["created_at"],
    }


def _delivery(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "subscription_id": r["subscription_id"],
        "event_id": str(r["event_id"]),
        "event_type": r["event_type"],
        "aggregate": r["aggregate"],
        "state": r["state"],
        "attempts": r["attempts"],
        "next_attempt_at": r["next_attempt_at"],
        "last_error": r["last_error"],
        "delivered_at": r["delivered_at"],
        "event_created_at": r["event_created_at"],
    }


@router.post("", status_code=201, responses=errors(403, 422))
async def subscribe(request: Request, principal: WebhookAdmin, body: SubscriptionIn) -> dict[str, Any]:
    """Deliver every later event of these types to ``url`` (earlier events are not back-filled)."""
    async with request.app.state.db.pool.acquire() as conn:
        row = await repo.create_subscription(
            conn,
            url=body.url,
            event_types=list(body.event_types),
            secret=body.secret,
            created_by=principal.name,
        )
    return _subscription(row)


@router.get("", responses=errors(403))
async def list_subscriptions(request: Request, principal: WebhookAdmin) -> list[dict[str, Any]]:
    async with request.app.state.db.pool.acquire() as conn:
        return [_subscription(r) for r in await repo.list_subscriptions(conn)]


@router.delete("/{subscription_id:int}", status_code=204, responses=errors(403, 404))
async def unsubscribe(request: Request, principal: WebhookAdmin, subscription_id: ItemId) -> None:
    """Remove the subscription and its undelivered deliveries."""
    async with request.app.state.db.pool.acquire() as conn:
        if not await repo.delete_subscription(conn, subscription_id):
            raise NotFound(f"webhook subscription {subscription_id} not found")


@router.get("/deliveries", responses=errors(403))
async def list_deliveries(
    request: Request,
    principal: WebhookAdmin,
    state: Literal["pending", "delivered", "dead"] | None = None,
    subscription_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[dict[str, Any]]:
    """Deliveries newest first: attempts, next try, last error; ``state=dead`` lists the parked ones."""
    async with request.app.state.db.pool.acquire() as conn:
        rows = await repo.list_deliveries(
            conn, state=state, subscription_id=subscription_id, limit=limit, before_id=before_id
        )
    return [_delivery(r) for r in rows]


@router.post("/deliveries/{delivery_id:int}/replay", responses=errors(403, 404))
async def replay_delivery(request: Request, principal: WebhookAdmin, delivery_id: ItemId) -> dict[str, Any]:
    """Send a delivery again (a dead one after the receiver is fixed): pending, due now, attempts reset."""
    async with request.app.state.db.pool.acquire() as conn:
        row = await repo.replay(conn, delivery_id)
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    worker: DeliveryWorker | None = getattr(request.app.state, "webhook_worker", None)
    if worker is not None:
        worker.wake()
    return _delivery(row)
