"""Detections: what a drone's AI, a ground AI service or a person saw, filed under a grid.

One transaction per detection: the detection row, the detection alert it opens or joins (same
type within ``join_radius_m`` and ``join_window_s``: the alert's count rises instead of a second
alert opening), and, for a newly opened alert whose type and severity a rule names, the work
order (idempotent on ``detection-alert:<id>``). An uploaded image is checked from its bytes
(a whole JPEG or PNG of sane dimensions, app/services/images.py; size limit) and stored as a row of
``images`` in the same transaction, so a refused detection leaves nothing, a stored one never lacks
its image, and every instance on the database serves it (a file in one instance's data directory
was served by that instance only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from shapely.geometry import shape

from app.auth import Principal
from app.db.repos import detections as repo
from app.db.repos import images
from app.db.repos.detections import NewDetection
from app.errors import Forbidden, NotFound, ValidationFailed
from app.services.images import NotAnImage, check_image
from app.services.placement import place
from app.services.workorders import OrderRequest, WorkOrderService

SEVERITY_RANK: Final = {"info": 0, "warning": 1, "critical": 2}
CHANNEL_BY_SOURCE: Final = {"onboard_ai": "drone", "ground_ai": "video_ai", "person": "inspection"}


@dataclass(frozen=True, slots=True)
class DetectionRules:
    min_confidence: dict[str, float]
    severity: dict[str, str]
    order_rules: dict[str, str]
    join_radius_m: float
    join_window_s: float
    max_outside_m: float
    image_max_bytes: int


@dataclass(frozen=True, slots=True)
class DetectionIn:
    idempotency_key: str
    type: str
    source: str
    confidence: float
    detected_at: datetime
    position: dict[str, Any]
    drone_id: int | None = None
    upload_id: int | None = None
    image_url: str | None = None
    image_base64: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An uploaded image's bytes, type and SHA-256 (its key and ETag); when it was first stored."""

    data: bytes
    content_type: str
    sha256: str
    stored_at: datetime | None = None


def _invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {problem}", details=[{"field": field, "problem": problem}])


def detection_json(r: asyncpg.Record) -> dict[str, Any]:
    image = None
    if r["image_url"] is not None:
        image = {"url": r["image_url"]}
    elif r["image_sha256"] is not None or r["image_file"] is not None:  # image_file: not moved yet
        image = {"url": f"/detections/{r['id']}/image", "type": r["image_type"]}
    return {
        "id": r["id"],
        "idempotency_key": r["idempotency_key"],
        "type": r["type"],
        "source": r["source"],
        "confidence": r["confidence"],
        "detected_at": r["detected_at"],
        "position": r["position"],
        "point": {"lon_deg": r["lon_deg"], "lat_deg": r["lat_deg"]},
        "grid_code": r["grid_code"],
        "outside_district": r["grid_code"] is None,
        "community_code": r["community_code"],
        "drone_id": r["drone_id"],
        "upload_id": r["upload_id"],
        "image": image,
        "note": r["note"],
        "alert": {"id": r["alert_id"], "detection_count": r["detection_count"], "state": r["alert_state"]},
        "work_order_id": r["work_order_id"],
        "created_by": r["created_by"],
        "created_at": r["created_at"],
    }


class DetectionService:
    def __init__(self, pool: asyncpg.Pool, rules: DetectionRules, workorders: WorkOrderService) -> None:
        self.pool = pool
        self.rules = rules
        self.workorders = workorders

    def _check(self, d: DetectionIn) -> tuple[str, float, float]:
        """The severity and the representative (lon, lat) of a well-formed detection; 422 otherwise."""
        minimum = self.rules.min_confidence.get(d.type)
        if minimum is None:
            raise _invalid(
                "type", f"unknown detection type '{d.type}'; known: {sorted(self.rules.min_confidence)}"
            )
        if d.confidence < minimum:
            raise _invalid("confidence", f"{d.confidence} is below the minimum {minimum} for {d.type}")
        geometry = shape(d.position)
        if geometry.is_empty or not geometry.is_valid:
            raise _invalid("position", "not a valid point or polygon")
        point = geometry if geometry.geom_type == "Point" else geometry.representative_point()
        return self.rules.severity.get(d.type, "warning"), float(point.x), float(point.y)

    def _image(self, d: DetectionIn) -> StoredImage | None:
        if d.image_base64 is None:
            return None
        try:
            data = base64.b64decode(d.image_base64, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("image.data_base64", "not valid base64") from None
        if len(data) > self.rules.image_max_bytes:
            raise _invalid("image.data_base64", f"{len(data)} bytes; at most {self.rules.image_max_bytes}")
        try:
            mime, _ = check_image(data)
        except NotAnImage as exc:
            raise _invalid("image.data_base64", str(exc)) from None
        return StoredImage(data=data, content_type=mime, sha256=hashlib.sha256(data).hexdigest())

    async def submit(self, d: DetectionIn, principal: Principal) -> tuple[dict[str, Any], bool]:
        """Store the detection (or return the one stored under the same key): (detection, new)."""
        severity, lon_deg, lat_deg = self._check(d)
        image = self._image(d)
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await repo.by_key(conn, d.idempotency_key)
            if existing is not None:
                if not principal.sees_community(existing["community_code"]):
                    raise NotFound("this idempotency key names a detection outside your communities")
                return detection_json(existing), False
            detection_id = await self._store(conn, d, severity, lon_deg, lat_deg, image, principal)
            row = await repo.get(conn, detection_id)
        assert row is not None
        return detection_json(row), True

    async def _store(
        self,
        conn: Any,
        d: DetectionIn,
        severity: str,
        lon_deg: float,
        lat_deg: float,
        image: StoredImage | None,
        principal: Principal,
    ) -> int:
        placement = await place(
            conn, lon_deg, lat_deg, field="position", max_outside_m=self.rules.max_outside_m
        )
        community = placement.community_code
        if d.drone_id is not None:
            found, drone_community = await repo.drone_community(conn, d.drone_id)
            if not found:
                raise _invalid("drone_id", f"no drone {d.drone_id}")
            community = community or drone_community
        if not principal.sees_community(community):
            raise Forbidden(  # the scope forbids it (docs/api.md): 403, as for work orders
                "position: outside the communities of this token",
                details=[{"field": "position", "problem": "outside the communities of this token"}],
            )
        await repo.lock_type(conn, d.type)
        joined = await repo.join_open_alert(
            conn,
            type_=d.type,
            lon_deg=lon_deg,
            lat_deg=lat_deg,
            at=d.detected_at,
            radius_m=self.rules.join_radius_m,
            window_s=self.rules.join_window_s,
        )
        alert = joined or await repo.open_alert(
            conn,
            type_=d.type,
            severity=severity,
            grid_code=placement.grid_code,
            community_code=community,
            lon_deg=lon_deg,
            lat_deg=lat_deg,
            at=d.detected_at,
        )
        if image is not None:
            await images.put(conn, image.sha256, image.content_type, image.data)
        detection_id = await repo.insert(
            conn,
            NewDetection(
                idempotency_key=d.idempotency_key,
                type=d.type,
                source=d.source,
                confidence=d.confidence,
                detected_at=d.detected_at,
                position=d.position,
                lat_deg=lat_deg,
                lon_deg=lon_deg,
                grid_code=placement.grid_code,
                community_code=community,
                drone_id=d.drone_id,
                upload_id=d.upload_id,
                image_url=d.image_url,
                image_sha256=image.sha256 if image is not None else None,
                image_type=image.content_type if image is not None else None,
                note=d.note,
                created_by=principal.name,
            ),
            alert["id"],
        )
        rule = self.rules.order_rules.get(d.type)
        if joined is None and rule is not None and SEVERITY_RANK[severity] >= SEVERITY_RANK[rule]:
            await self.workorders.open_in(
                conn,
                OrderRequest(
                    channel=CHANNEL_BY_SOURCE[d.source],
                    external_ref=f"detection-alert:{alert['id']}",
                    type=d.type,
                    severity=severity,
                    title=f"{d.type.replace('_', ' ')} detected",
                    description=d.note or "",
                    grid_code=placement.grid_code,
                    lon_deg=lon_deg,
                    lat_deg=lat_deg,
                    drone_id=d.drone_id,
                    detection_alert_id=alert["id"],
                ),
                actor="system",
                principal=None,
            )
        return detection_id

    async def get(self, detection_id: int, principal: Principal) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, detection_id)
        if row is None or not principal.sees_community(row["community_code"]):
            raise NotFound(f"detection {detection_id} not found")
        return detection_json(row)

    async def image(self, detection_id: int, principal: Principal) -> StoredImage:
        """The stored image; 404 when there is none (a URL, no image, or a file an older version
        wrote that its instance has not moved yet) or the token may not see the detection."""
        async with self.pool.acquire() as conn:
            row = await images.of_detection(conn, detection_id)
        if row is None or not principal.sees_community(row["community_code"]) or row["sha256"] is None:
            raise NotFound(f"detection {detection_id} has no stored image")
        return StoredImage(
            data=row["data"],
            content_type=row["content_type"],
            sha256=row["sha256"],
            stored_at=row["created_at"],
        )

    async def search(
        self,
        principal: Principal,
        *,
        type_: str | None,
        alert_id: int | None,
        limit: int,
        before_id: int | None,
    ) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await repo.list_scoped(
                conn,
                scope=principal.community_scope,
                type_=type_,
                alert_id=alert_id,
                limit=limit,
                before_id=before_id,
            )
        return [detection_json(r) for r in rows]
