"""A coverage patrol cut short: the grid's seen share and unseen part, and a re-plan of the gap.

Through the API with a simulated drone over UDP and the real PostgreSQL: plan and upload a camera
coverage mission for one sample-district grid, fly it, fail a motor about halfway along the camera
work (the vehicle lands where it is), then read GET /grids/{code}/coverage. The seen share is
checked against an independent raster computation from the stored samples and against the
photos the simulator actually took; a re-plan with `area` = the unseen part must cover it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from app.services.sample import sample_document
from geofences.frame import LocalFrame
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth, wipe_district

SPEEDUP = 10.0  # 5 Hz positions on wall time: a sample every 1 s of flight at 5 m/s
BATTERY_WH = 400.0
ALT_M = 40.0
CAMERA = {  # DJI Mavic 3E wide: 56 m across track at 40 m
    "sensor_width_mm": 17.3,
    "sensor_height_mm": 13.0,
    "focal_length_mm": 12.29,
    "image_width_px": 5280,
    "image_height_px": 3956,
}
CAM_TRIGG_DIST = 206
NAV_COMMANDS = {16, 17, 18, 19, 20, 21, 22}
RASTER_STEP_M = 2.0
log = logging.getLogger(__name__)
SENSOR_PER_FOCAL = 17.3 / 12.29  # footprint width per metre of altitude


def patrol_grid() -> dict[str, Any]:
    """The smallest sample grid with a real area: a short flight."""
    grids = [g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6]
    return min(grids, key=lambda g: shape(g["geometry"]).area)


@pytest.fixture
async def sim_drone() -> AsyncIterator[SimVehicle]:
    c = shape(patrol_grid()["geometry"]).representative_point()
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=71,
            port=0,
            home_lon_deg=c.x,
            home_lat_deg=c.y,
            speedup=SPEEDUP,
            battery_capacity_wh=BATTERY_WH,
            gps_noise_m=0.0,
        )
    )
    await vehicle.start()
    try:
        yield vehicle
    finally:
        await vehicle.stop()


def camera_on_by_seq(items: list[dict[str, Any]]) -> list[bool]:
    """While flying to NAV item k, triggering is what the last DO_SET_CAM_TRIGG_DIST before k set."""
    on, out = False, []
    for item in items:
        out.append(on and item["command"] in NAV_COMMANDS)
        if item["command"] == CAM_TRIGG_DIST:
            on = item["param1"] > 0
    return out


def raster_seen_share(grid: Any, rows: list[asyncpg.Record], items: list[dict[str, Any]]) -> float:
    """Share of a 2 m lattice of grid points seen from a camera-on AUTO leg: the point projects onto
    the leg and lies within half the footprint width (at the leg's lower altitude) of it, or lies in
    the round join where two imaging legs meet."""
    frame = LocalFrame.for_geometry(grid)
    local = frame.to_local(grid)
    on = camera_on_by_seq(items)
    target = [it["z"] for it in items]

    def imaging(r: asyncpg.Record) -> bool:
        seq = r["mission_seq"]
        return bool(
            r["mode"] == "AUTO"
            and seq is not None
            and seq < len(on)
            and on[seq]
            and abs(r["alt_rel_m"] - target[seq]) <= 5
        )

    x0, y0, x1, y1 = local.bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, RASTER_STEP_M), np.arange(y0, y1, RASTER_STEP_M))
    pts = shapely.points(xs.ravel(), ys.ravel())
    inside = shapely.get_coordinates(pts[shapely.contains(local, pts)])
    seen = np.zeros(len(inside), dtype=bool)
    legs = 0
    previous_half_m: float | None = None  # the half width of the leg ending at ``a``, when it imaged
    for a, b in itertools.pairwise(rows):
        if not (imaging(a) and imaging(b)) or (
            a["mission_seq"] != b["mission_seq"] and (b["time"] - a["time"]).total_seconds() > 5
        ):
            previous_half_m = None
            continue
        pa = np.array(frame.xy(a["lon_deg"], a["lat_deg"]))
        d = np.array(frame.xy(b["lon_deg"], b["lat_deg"])) - pa
        length_sq = float(d @ d)
        if length_sq == 0:
            continue
        legs += 1
        rel = inside - pa
        t = rel @ d / length_sq
        across = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0]) / np.sqrt(length_sq)
        half_m = SENSOR_PER_FOCAL * min(a["alt_rel_m"], b["alt_rel_m"]) / 2
        seen |= (t >= 0) & (t <= 1) & (across <= half_m)
        if previous_half_m is not None:
            # Where two imaging legs join, the camera swept the wedge between their strips too
            # (the service buffers a run with round joins); sparse samples make the wedges large.
            seen |= np.hypot(rel[:, 0], rel[:, 1]) <= min(previous_half_m, half_m)
        previous_half_m = half_m
    assert legs, "no camera-on legs stored"
    return float(np.count_nonzero(seen)) / len(inside)


async def wait_for(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], done: Any, timeout_s: float
) -> Any:
    deadline = time.monotonic() + timeout_s
    body: Any = None
    while time.monotonic() < deadline:
        body = (await client.get(url, headers=headers)).json()
        if done(body):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting on {url}: {body}")


async def test_patrol_cut_halfway_reports_seen_share_and_a_replan_covers_the_gap(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], sim_drone: SimVehicle
) -> None:
    await wipe_district(pool)
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    assert (
        await client.post("/grids/import", json=sample_document("grids"), headers=admin)
    ).status_code == 200
    feature = patrol_grid()
    code = feature["properties"]["code"]
    grid = shape(feature["geometry"])

    before = (await client.get(f"/grids/{code}/coverage", headers=operator)).json()
    assert before["last_patrolled_at"] is None and before["seen_share"] is None
    assert shape(before["unseen"]).symmetric_difference(grid).area < 1e-9

    cfg = sim_drone.config
    r = await client.post(
        "/drones",
        json={
            "name": "sim-71",
            "kind": "sim",
            "endpoint": f"udpout:127.0.0.1:{sim_drone.port}",
            "sysid": cfg.sysid,
            "home": {"lon_deg": cfg.home_lon_deg, "lat_deg": cfg.home_lat_deg},
            "capabilities": {"battery_wh": BATTERY_WH, "max_speed_mps": 15, "camera": CAMERA},
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    drone_id = r.json()["id"]
    await wait_for(client, f"/drones/{drone_id}/state", operator, lambda s: s.get("online"), 20)

    plan_body = {
        "kind": "coverage",
        "grid_codes": [code],
        "drone_id": drone_id,
        "alt_m": ALT_M,
        "speed_mps": 5,
        "side_overlap_pct": 30,
        "front_overlap_pct": 60,
    }
    r = await client.post("/missions", json={"name": "patrol", **plan_body}, headers=operator)
    assert r.status_code == 201, r.text
    mission = r.json()
    items = [{k: v for k, v in it.items() if k != "seq"} for it in mission["sorties"][0]["items"]]
    on = camera_on_by_seq(items)
    camera_seqs = [k for k, v in enumerate(on) if v]
    assert len(camera_seqs) >= 4, "the plan should have several camera-on legs"
    halfway_seq = camera_seqs[len(camera_seqs) // 2]

    r = await client.post(f"/drones/{drone_id}/upload", json={"mission_id": mission["id"]}, headers=operator)
    assert r.status_code == 200 and r.json()["status"] == "verified", r.text
    upload_id = r.json()["upload_id"]
    assert (await client.post(f"/drones/{drone_id}/flight", headers=operator)).status_code == 202

    await wait_for(
        client,
        f"/drones/{drone_id}/state",
        operator,
        lambda s: (s.get("mission_seq") or 0) >= halfway_seq,
        120,
    )
    sim_drone.faults.motor_failure()
    photos_before_failure = len(sim_drone.photos)
    for _ in range(300):  # up to 60 s
        if not sim_drone.armed:
            break
        await asyncio.sleep(0.2)
    assert not sim_drone.armed, "the vehicle should land and disarm after the motor failure"

    cov = await wait_for(
        client, f"/grids/{code}/coverage", operator, lambda c: c["patrol"] and c["patrol"]["final"], 20
    )
    patrol = cov["patrol"]
    assert patrol["upload_id"] == upload_id and patrol["drone_id"] == drone_id
    assert cov["last_patrolled_at"] == patrol["ended_at"]

    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT time, lon_deg, lat_deg, alt_rel_m, mode, mission_seq FROM telemetry_samples
               WHERE drone_id = $1 AND upload_id = $2 ORDER BY time""",
            drone_id,
            upload_id,
        )
    expected = raster_seen_share(grid, rows, items)
    # The raster differs from the polygons by the 2 m lattice.
    assert abs(cov["seen_share"] - expected) <= 0.01, (cov["seen_share"], expected)
    assert 0.3 <= cov["seen_share"] <= 0.7, "cut about halfway through the camera work"

    unseen = shape(cov["unseen"])
    assert unseen.geom_type in ("Polygon", "MultiPolygon") and unseen.is_valid
    assert all(round(c, 7) == c for p in shapely.get_coordinates(unseen) for c in p)
    frame = LocalFrame.for_geometry(grid)
    grid_m2 = frame.to_local(grid).area
    assert abs(frame.to_local(unseen).area / grid_m2 - (1 - cov["seen_share"])) <= 0.005

    # What the vehicle actually photographed lies in the seen part, not the unseen one.
    shots = [Point(p.lon_deg, p.lat_deg) for p in sim_drone.photos[:photos_before_failure]]
    in_grid = [frame.to_local(s) for s in shots if grid.contains(s)]
    assert len(in_grid) >= 5
    deep_unseen = frame.to_local(unseen).buffer(-5.0)
    assert sum(deep_unseen.contains(s) for s in in_grid) <= len(in_grid) * 0.05

    r = await client.post("/missions/plan", json={**plan_body, "area": cov["unseen"]}, headers=operator)
    assert r.status_code == 200, r.text
    replan = r.json()
    footprints = [f for f in replan["geojson"]["features"] if f["properties"].get("kind") == "footprints"]
    assert footprints, "the re-plan should report its footprints"
    covered = frame.to_local(shape(footprints[0]["geometry"])).buffer(0)
    gap = frame.to_local(unseen)
    log.info(
        "seen_share=%.4f raster=%.4f replan_covers=%.4f unseen_m2=%.0f replan_area_m2=%.0f",
        cov["seen_share"],
        expected,
        covered.intersection(gap).area / gap.area,
        gap.area,
        replan["stats"]["area_m2"],
    )
    assert covered.intersection(gap).area >= 0.99 * gap.area
    assert replan["stats"]["area_m2"] <= 1.01 * gap.area, "the re-plan covers the gap, not the whole grid"

    listed = (await client.get(f"/grids/{code}/patrols", headers=operator)).json()
    assert [p["upload_id"] for p in listed] == [upload_id]
