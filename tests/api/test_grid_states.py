"""GET /patrols/grid-states: every grid's latest patrol, open alerts and active work orders in one read.

A small district through the API (four grids in three communities, two streets) with patrol data
written as the service stores it: two final patrols of one grid (the later upload's is the latest),
one grid flown but never read (its patrol is computed by the bulk read itself from the stored
samples), alerts and work orders in every state that matters. Real PostgreSQL, no mocks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.db.conn import Conn
from app.db.repos.telemetry import ensure_partition, partition_start
from app.services import patrols
from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district

C2 = {"community_code": "C2", "community_name": "渔港村"}
C9 = {"street_code": "ST9", "street_name": "北街道", "community_code": "C9", "community_name": "北村"}
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SHARE_OLD, SHARE_NEW = 0.9, 0.4
UNSEEN = {"type": "MultiPolygon", "coordinates": []}


async def _patrol(conn: Conn, code: str, upload: dict[str, Any], share: float, end: datetime) -> None:
    await conn.execute(
        """INSERT INTO grid_patrols (grid_code, upload_id, drone_id, mission_id, sortie, started_at, ended_at,
               samples, camera_samples, grid_m2, seen_m2, seen_share, unseen, alt_band_m, final)
           VALUES ($1, $2, $3, $4, 0, $5, $6, 100, 80, 1000.0, $7, $8, $9, 5.0, true)""",
        code, upload["id"], upload["drone_id"], upload["mission_id"], end - timedelta(minutes=5), end,
        1000.0 * share, share, UNSEEN,
    )  # fmt: skip


async def _upload(conn: Conn, drone: int, mission: int, started_at: datetime) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO drone_uploads (drone_id, mission_id, item_count, status, started_at)
           VALUES ($1, $2, 10, 'verified', $3) RETURNING id, drone_id, mission_id""",
        drone, mission, started_at,
    )  # fmt: skip
    assert row is not None
    return dict(row)


@pytest.fixture
async def district(
    app: FastAPI, pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> dict[str, Any]:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    doc = collection(
        grid("GS1", square(LON0, LAT0)),
        grid("GS3", square(LON0, LAT0 + 0.003)),
        grid("GS2", square(LON0 + 0.003, LAT0), **C2),
        grid("GS9", square(LON0 + 0.006, LAT0), **C9),
    )
    assert (await client.post("/grids/import", json=doc, headers=admin)).status_code == 200
    body = {"name": "C1 viewer", "role": "viewer", "communities": ["C1"]}
    scoped = auth((await client.post("/tokens", json=body, headers=admin)).json()["token"])
    async with pool.acquire() as conn:
        drone = await conn.fetchval(
            """INSERT INTO drones (name, endpoint, sysid, home_lon_deg, home_lat_deg, kind)
               VALUES ('gs drone', 'udpin:127.0.0.1:0', 77, $1, $2, 'sim') RETURNING id""",
            LON0, LAT0,
        )  # fmt: skip
        mission = await conn.fetchval(
            """INSERT INTO missions (name, kind, grid_codes, communities, request, plan, sortie_count)
               VALUES ('gs patrol', 'coverage', ARRAY['GS1', 'GS2'], ARRAY['C1', 'C2'], '{}', '{}', 1)
               RETURNING id"""
        )
        old = await _upload(conn, drone, mission, T0)
        new = await _upload(conn, drone, mission, T0 + timedelta(hours=2))
        # The later upload's patrol ended earlier by the vehicle's clock: latest is by upload start.
        await _patrol(conn, "GS1", old, SHARE_OLD, T0 + timedelta(hours=5))
        await _patrol(conn, "GS1", new, SHARE_NEW, T0 + timedelta(hours=2, minutes=10))
        # GS1 flown on both uploads (patrols stored); GS2 flown on the new upload and never read: no
        # patrol row until the bulk read computes it.
        flown = [T0 + timedelta(hours=2, seconds=10 + s) for s in range(5)]
        tracks = [
            ("GS1", old["id"], [T0 + timedelta(seconds=s) for s in range(3)], LON0 + 0.0015),
            ("GS1", new["id"], [T0 + timedelta(hours=2, seconds=s) for s in range(3)], LON0 + 0.0015),
            ("GS2", new["id"], flown, LON0 + 0.0045),
        ]
        hours = app.state.settings.telemetry_partition_hours
        for start in {partition_start(t, hours) for _, _, times, _ in tracks for t in times}:
            await ensure_partition(conn, start, hours)
        await conn.executemany(
            """INSERT INTO telemetry_samples (time, drone_id, boot_id, time_boot_ms, grid_code, upload_id,
                   mission_id, sortie, lat_deg, lon_deg, alt_amsl_m, alt_rel_m, mode, armed, mission_seq,
                   received_at)
               VALUES ($1, $2, 1, $3, $4, $5, $6, 0, $7, $8, 40.0, 40.0, 'AUTO', true, 1, $1)""",
            [
                (t, drone, int((t - T0).total_seconds() * 1000), code, upload, mission, LAT0 + 0.0015, lon)
                for code, upload, times, lon in tracks
                for t in times
            ],
        )
        alerts = [("open", None), ("open", None), ("cleared", T0 + timedelta(hours=1))]
        for key, (state, cleared) in enumerate(alerts):
            await conn.execute(
                """INSERT INTO alerts (drone_id, type, condition_key, severity, state, message, grid_code,
                       community_code, opened_at, cleared_at)
                   VALUES ($1, 'battery_low', $2, 'warning', $3, 'low', 'GS1', 'C1', $4, $5)""",
                drone, f"k{key}", state, T0, cleared,
            )  # fmt: skip
        for state in ("open", "resolved", "closed", "cancelled"):
            await conn.execute(
                """INSERT INTO work_orders (channel, type, severity, title, state, grid_code, community_code,
                       opened_at, due_at, updated_at, created_by)
                   VALUES ('manual', 'litter', 'info', 'wo', $1, 'GS2', 'C2', $2, $3, $2, 'test')""",
                state, T0, T0 + timedelta(days=1),
            )  # fmt: skip
    return {"admin": admin, "viewer": auth(role_tokens["viewer"]), "scoped": scoped, "flown": flown}


def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["grid_code"]: g for g in body["grids"]}


async def test_bulk_read_gives_each_grid_its_latest_patrol_alerts_and_work_orders(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    r = await client.get("/patrols/grid-states", headers=district["viewer"])
    assert r.status_code == 200, r.text
    assert r.json()["pending_patrols"] == 0
    grids = by_code(r.json())
    assert sorted(grids) == ["GS1", "GS2", "GS3", "GS9"]
    gs1, gs2 = grids["GS1"], grids["GS2"]
    assert datetime.fromisoformat(gs1["last_patrolled_at"]) == T0 + timedelta(hours=2, minutes=10)
    assert gs1["seen_share"] == pytest.approx(SHARE_NEW)
    assert (gs1["open_alerts"], gs1["active_work_orders"]) == (2, 0)
    # Computed by the bulk read from the stored samples: the flight ended at its last sample.
    assert datetime.fromisoformat(gs2["last_patrolled_at"]) == district["flown"][-1]
    assert gs2["seen_share"] == 0.0 and gs2["patrol_final"] is True
    assert (gs2["open_alerts"], gs2["active_work_orders"]) == (0, 2)
    for never in ("GS3", "GS9"):
        g = grids[never]
        assert (g["last_patrolled_at"], g["seen_share"], g["open_alerts"], g["active_work_orders"]) == (
            None,
            None,
            0,
            0,
        )
    assert (grids["GS9"]["community_code"], grids["GS9"]["street_code"]) == ("C9", "ST9")


async def test_bulk_read_agrees_with_the_per_grid_coverage(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    grids = by_code((await client.get("/patrols/grid-states", headers=district["viewer"])).json())
    for code in ("GS1", "GS2", "GS3"):
        one = (await client.get(f"/grids/{code}/coverage", headers=district["viewer"])).json()
        assert (grids[code]["last_patrolled_at"], grids[code]["seen_share"]) == (
            one["last_patrolled_at"],
            one["seen_share"],
        ), code


async def test_bulk_read_filters_by_community_and_street(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    async def codes(query: str) -> list[str]:
        r = await client.get(f"/patrols/grid-states?{query}", headers=district["viewer"])
        assert r.status_code == 200, r.text
        return sorted(by_code(r.json()))

    assert await codes("community=C1") == ["GS1", "GS3"]
    assert await codes("street=ST") == ["GS1", "GS2", "GS3"]
    assert await codes("street=ST9") == ["GS9"]
    assert await codes("community=C2&street=ST9") == []
    assert await codes("community=NOPE") == []


async def test_community_scoped_token_sees_only_its_communities_grids(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    r = await client.get("/patrols/grid-states", headers=district["scoped"])
    assert r.status_code == 200, r.text
    assert sorted(by_code(r.json())) == ["GS1", "GS3"]
    r = await client.get("/patrols/grid-states?community=C2", headers=district["scoped"])
    assert r.status_code == 200 and r.json()["grids"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("community=bad%20code", "query.community"),
        ("street=" + "s" * 65, "query.street"),
        ("community=", "query.community"),
    ],
)
async def test_bad_filter_is_a_422_naming_the_field(
    client: httpx.AsyncClient, district: dict[str, Any], query: str, field: str
) -> None:
    r = await client.get(f"/patrols/grid-states?{query}", headers=district["viewer"])
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert field in [d["field"] for d in body["details"]], body


async def test_bulk_read_needs_a_token(client: httpx.AsyncClient, district: dict[str, Any]) -> None:
    r = await client.get("/patrols/grid-states")
    assert r.status_code == 401
    assert set(r.json()) == {"code", "message", "details"}


async def test_flights_beyond_the_per_read_bound_are_counted_and_computed_by_a_later_read(
    client: httpx.AsyncClient, district: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patrols, "PENDING_PER_READ", 0)
    body = (await client.get("/patrols/grid-states", headers=district["viewer"])).json()
    assert body["pending_patrols"] == 1
    assert by_code(body)["GS2"]["last_patrolled_at"] is None
    monkeypatch.undo()
    body = (await client.get("/patrols/grid-states", headers=district["viewer"])).json()
    assert body["pending_patrols"] == 0
    assert datetime.fromisoformat(by_code(body)["GS2"]["last_patrolled_at"]) == district["flown"][-1]
