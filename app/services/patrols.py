"""Grid patrols: when a grid was last flown and what share of it the camera saw, from telemetry.

A patrol is one verified upload's flight over a grid. It is computed from the stored samples
(``app.telemetry.coverage``) when it is read, and stored in ``grid_patrols``; a flight that has
ended (the drone sent a later sample that is not this upload's, or nothing for
``FINAL_AFTER_S`` of wall time) is stored as final and never recomputed. Computing on read rather
than in the flight watch also covers flights the service did not start (a mission run from a
ground station over a link the service listens to) and flights whose link was lost for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from shapely.geometry import MultiPolygon, Polygon, shape

from app.auth import Principal
from app.db.conn import Conn
from app.db.repos import district as district_repo
from app.db.repos import patrols as repo
from app.errors import NotFound
from app.telemetry.coverage import ALT_BAND_M, CameraPlan, TrackSample, grid_coverage, unseen_wgs84
from geofences.geojson import geometry_to_geojson
from missions.camera import Camera, camera_footprint
from missions.serialize import items_from_list

logger = logging.getLogger(__name__)

FINAL_AFTER_S = 120.0
"""A flight with no sample received for this long (wall time) has ended, whatever its last state."""
PENDING_PER_READ = 16
"""A bulk read computes at most this many not-yet-final patrols (newest first) before it answers, so
the first read after a busy day stays bounded; it reports how many it left (``pending_patrols``)."""


@dataclass(frozen=True, slots=True)
class Grid:
    code: str
    boundary: Polygon | MultiPolygon


async def visible_grid(conn: Conn, code: str, principal: Principal) -> Grid:
    row = await district_repo.get_grid(conn, code)
    if row is None or not principal.sees_community(row["community_code"]):
        raise NotFound(f"grid {code} not found")
    geom = shape(row["boundary"])
    assert isinstance(geom, Polygon | MultiPolygon)
    return Grid(code=code, boundary=geom)


def _camera(upload: asyncpg.Record) -> Camera | None:
    """The camera the plan was made for: the request's, else the drone's."""
    request = upload["request"] or {}
    caps = upload["capabilities"] or {}
    spec = request.get("camera") or caps.get("camera")
    if not spec:
        return None
    return Camera(
        sensor_width_mm=spec["sensor_width_mm"],
        sensor_height_mm=spec["sensor_height_mm"],
        focal_length_mm=spec["focal_length_mm"],
        image_width_px=spec["image_width_px"],
        image_height_px=spec["image_height_px"],
    )


def footprint_width(camera: Camera | None) -> Callable[[float], float]:
    """Across-track footprint width (m) at an altitude: landscape, as the planner lays lanes."""

    def width_at_m(alt_rel_m: float) -> float:
        if camera is None or alt_rel_m <= 0.0:
            return 0.0
        return camera_footprint(camera, alt_rel_m, 0.0, 0.0).footprint_width_m

    return width_at_m


def camera_plan(upload: asyncpg.Record) -> CameraPlan:
    plan = upload["plan"]
    sortie = upload["sortie"]
    if not plan or sortie >= len(plan["sorties"]):
        return CameraPlan(camera_on=(), target_alt_m=())  # mission deleted: no camera work is known
    items = items_from_list(plan["sorties"][sortie]["items"])
    return CameraPlan.from_items(items, alt_offset_m=float(upload["alt_offset_m"]))


def track(rows: list[asyncpg.Record]) -> list[TrackSample]:
    return [
        TrackSample(
            time_s=r["time"].timestamp(),
            lon_deg=r["lon_deg"],
            lat_deg=r["lat_deg"],
            alt_rel_m=r["alt_rel_m"],
            mode=r["mode"],
            armed=r["armed"],
            mission_seq=r["mission_seq"],
        )
        for r in rows
    ]


async def _compute(conn: Conn, grid: Grid, upload_id: int) -> asyncpg.Record | None:
    upload = await repo.get_upload(conn, upload_id)
    if upload is None:
        return None
    rows = await repo.upload_samples(conn, upload["drone_id"], upload_id, upload["started_at"])
    if not rows:
        return None
    # Geometry of a long flight takes a while: off the event loop (shapely releases the GIL).
    result = await asyncio.to_thread(
        grid_coverage, grid.boundary, track(rows), camera_plan(upload), footprint_width(_camera(upload))
    )
    last = rows[-1]
    quiet = datetime.now(UTC) - last["received_at"] > timedelta(seconds=FINAL_AFTER_S)
    final = quiet or await repo.flown_on(conn, upload["drone_id"], upload_id, last["time"])
    values = {
        "grid_code": grid.code,
        "upload_id": upload_id,
        "drone_id": upload["drone_id"],
        "mission_id": upload["mission_id"],
        "sortie": upload["sortie"],
        "started_at": rows[0]["time"],
        "ended_at": last["time"],
        "samples": len(rows),
        "camera_samples": result.camera_samples,
        "grid_m2": result.grid_m2,
        "seen_m2": result.seen_m2,
        "seen_share": min(1.0, max(0.0, result.seen_share)),
        "unseen": geometry_to_geojson(result.unseen_wgs84),
        "alt_band_m": ALT_BAND_M,
        "final": final,
    }
    stored = await repo.upsert(conn, values)
    if stored is None:  # another reader stored it as final meanwhile
        stored = await repo.get_patrol(conn, grid.code, upload_id)
    logger.info(
        "patrol computed",
        extra={"grid": grid.code, "upload": upload_id, "seen_share": values["seen_share"], "final": final},
    )
    return stored


async def patrols(pool: asyncpg.Pool, code: str, principal: Principal, limit: int) -> list[dict[str, Any]]:
    """The grid's latest ``limit`` patrols, newest first (computed or refreshed as needed)."""
    out: list[dict[str, Any]] = []
    async with pool.acquire() as conn:
        grid = await visible_grid(conn, code, principal)
        for flown in await repo.uploads_over_grid(conn, code, limit):
            row = await repo.get_patrol(conn, code, flown["upload_id"])
            if row is None or not row["final"]:
                row = await _compute(conn, grid, flown["upload_id"])
            if row is not None:
                out.append(patrol_json(row))
    return out


async def coverage(pool: asyncpg.Pool, code: str, principal: Principal) -> dict[str, Any]:
    """The latest patrol's seen share and unseen part; never patrolled: the whole grid unseen."""
    latest = await patrols(pool, code, principal, limit=1)
    if latest:
        p = latest[0]
        return {
            "grid_code": code,
            "last_patrolled_at": p["ended_at"],
            "seen_share": p["seen_share"],
            "unseen": p["unseen"],
            "patrol": p,
        }
    async with pool.acquire() as conn:
        grid = await visible_grid(conn, code, principal)
    return {
        "grid_code": code,
        "last_patrolled_at": None,
        "seen_share": None,
        "unseen": geometry_to_geojson(unseen_wgs84(grid.boundary, Polygon())),
        "patrol": None,
    }


def patrol_json(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key in ("started_at", "ended_at", "computed_at"):
        out[key] = out[key].isoformat()
    return out


async def grid_states(
    pool: asyncpg.Pool, principal: Principal, community: str | None, street: str | None
) -> dict[str, Any]:
    """Every visible grid's latest patrol time and seen share, open alerts and active work orders.

    Patrols are computed on read (see the module doc), so the flights over these grids that have no
    final patrol yet are computed first (at most ``PENDING_PER_READ``); then one query reads every
    grid's figures. A district whose patrols are stored costs two queries whatever its grid count.
    """
    scope = principal.community_scope
    async with pool.acquire() as conn:
        pending = await repo.pending_patrols(conn, community, street, scope)
        for flown in pending[:PENDING_PER_READ]:
            row = await district_repo.get_grid(conn, flown["grid_code"])
            if row is None:  # deleted meanwhile
                continue
            geom = shape(row["boundary"])
            assert isinstance(geom, Polygon | MultiPolygon)
            await _compute(conn, Grid(code=flown["grid_code"], boundary=geom), flown["upload_id"])
        rows = await repo.grid_states(conn, community, street, scope)
    grids = []
    for r in rows:
        item = dict(r)
        at = item["last_patrolled_at"]
        item["last_patrolled_at"] = None if at is None else at.isoformat()
        grids.append(item)
    return {"grids": grids, "pending_patrols": max(0, len(pending) - PENDING_PER_READ)}
