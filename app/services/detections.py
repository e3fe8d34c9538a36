"""Detections: what a drone's AI, a ground AI service or a person saw, filed under a grid.

One transaction per detection: the detection row, the detection alert it opens or joins (same
type within ``join_radius_m`` and ``join_window_s``: the alert's count rises instead of a second
alert opening), and, for a newly opened alert whose type and severity a rule names, the work
order (idempotent on ``detection-alert:<id>``). An uploaded image is checked from its bytes
(a whole JPEG or PNG of sane dimensions, app/services/images.py; size limit), written beside its final name first and renamed into place only
after the commit, so a refused detection leaves no file and a stored one never lacks its image.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
from shapely.geometry import shape

from app.auth import Principal
from app.db.repos import detections as repo
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


def _invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {problem}", details=[{"field": field, "problem": problem}])


def detection_json(r: asyncpg.Record) -> dict[str, Any]:
    image = None
    if r["image_url"] is not None:
        image = {"url": r["image_url"]}
    elif r["image_file"] is not None:
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
    def __init__(
        self, pool: asyncpg.Pool, rules: DetectionRules, workorders: WorkOrderService, image_dir: Path
    ) -> None:
        self.pool = pool
        self.rules = rules
        self.workorders = workorders
        self.image_dir = image_dir

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

    def _image(self, d: DetectionIn) -> tuple[bytes, str, str] | None:
        if d.image_base64 is None:
            return None
        try:
            data = base64.b64decode(d.image_base64, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("image.data_base64", "not valid base64") from None
        if len(data) > self.rules.image_max_bytes:
            raise _invalid("image.data_base64", f"{len(data)} bytes; at most {self.rules.image_max_bytes}")
        try:
            mime, ext = check_image(data)
        except NotAnImage as exc:
            raise _invalid("image.data_base64", str(exc)) from None
        return data, mime, ext

    async def submit(self, d: DetectionIn, principal: Principal) -> tuple[dict[str, Any], bool]:
        """Store the detection (or return the one stored under the same key): (detection, new)."""
        severity, lon_deg, lat_deg = self._check(d)
        image = self._image(d)
        staged: Path | None = None
        final: Path | None = None
        file_name = None
        if image is not None:
            data, _, ext = image
            file_name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
            final = self.image_dir / file_name
            self.image_dir.mkdir(parents=True, exist_ok=True)
            staged = self.image_dir / f".{file_name}.{secrets.token_hex(4)}.part"
            staged.write_bytes(data)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                existing = await repo.by_key(conn, d.idempotency_key)
                if existing is not None:
                    if not principal.sees_community(existing["community_code"]):
                        raise NotFound("this idempotency key names a detection outside your communities")
                    return detection_json(existing), False
                detection_id = await self._store(
                    conn, d, severity, lon_deg, lat_deg, image, file_name, principal
                )
                row = await repo.get(conn, detection_id)
            if staged is not None and final is not None:
                os.replace(staged, final)
                staged = None
        finally:
            if staged is not None:
                with contextlib.suppress(FileNotFoundError):
                    staged.unlink()
        assert row is not None
        return detection_json(row), True

    async def _store(
        self,
        conn: Any,
        d: DetectionIn,
        severity: str,
        lon_deg: float,
        lat_deg: float,
        image: tuple[bytes, str, str] | None,
        file_name: str | None,
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
                image_file=file_name,
                image_type=image[1] if image is not None else None,
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

    async def image(self, detection_id: int, principal: Principal) -> tuple[Path, str]:
        """The stored image file and its type; 404 when there is none or the token may not see it."""
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, detection_id)
        if row is None or not principal.sees_community(row["community_code"]) or row["image_file"] is None:
            raise NotFound(f"detection {detection_id} has no stored image")
        return self.image_dir / row["image_file"], row["image_type"]

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
