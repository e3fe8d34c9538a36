"""The alert store and API against a real PostgreSQL: one open alert per condition, clear, ack,
filters, counts, community scope, and bad input answered with a 4xx naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.auth import Role
from app.db.repos.alerts import NewAlert
from app.services import tokens
from app.services.alerts import AlertEvent, AlertService
from tests.conftest import auth, wipe_district

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


async def seed(pool: asyncpg.Pool) -> tuple[int, int]:
    """Two drones in two communities (C-A, C-B) of one street, with grid codes G-A and G-B."""
    await wipe_district(pool)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO streets (code, name) VALUES ('S1', 'Street')")
        await conn.execute(
            "INSERT INTO communities (code, name, street_code) VALUES ('C-A', 'A', 'S1'), ('C-B', 'B', 'S1')"
        )
        ids = []
        for n, community in ((1, "C-A"), (2, "C-B")):
            ids.append(
                await conn.fetchval(
                    """INSERT INTO drones (name, endpoint, sysid, community_code, home_lon_deg, home_lat_deg)
                       VALUES ($1, 'udpout:127.0.0.1:1', $2, $3, 120.0, 30.0) RETURNING id""",
                    f"alert-drone-{n}",
                    n,
                    community,
                )
            )
    return ids[0], ids[1]


def new_alert(drone_id: int, **over: Any) -> NewAlert:
    values: dict[str, Any] = {
        "drone_id": drone_id,
        "type": "battery_low",
        "condition_key": "",
        "severity": "warning",
        "message": "battery at 20%",
        "evidence": {"battery_pct": 20},
        "at": T0,
        "grid_code": "G-A",
        "community_code": "C-A",
        "lat_deg": 30.0,
        "lon_deg": 120.0,
        "alt_rel_m": 40.0,
    }
    values.update(over)
    return NewAlert(**values)


@pytest.fixture
def service(app: FastAPI) -> AlertService:
    svc: AlertService = app.state.alerts
    return svc


async def test_same_condition_updates_the_open_alert_and_severity_only_rises(
    pool: asyncpg.Pool, service: AlertService
) -> None:
    drone_a, _ = await seed(pool)
    events: list[AlertEvent] = []
    unsubscribe = service.sink.subscribe(events.append)
    try:
        first = await service.open(new_alert(drone_a))
        second = await service.open(new_alert(drone_a, severity="critical", evidence={"battery_pct": 12}))
        third = await service.open(new_alert(drone_a, severity="warning", evidence={"battery_pct": 14}))
    finally:
        unsubscribe()
    assert [e.kind for e in events] == ["opened", "updated", "updated"]
    assert first.alert["id"] == second.alert["id"] == third.alert["id"]
    assert third.alert["severity"] == "critical"
    assert third.alert["evidence"] == {"battery_pct": 14}
    assert third.alert["update_count"] == 2
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM alerts WHERE drone_id = $1", drone_a) == 1


async def test_database_refuses_a_second_open_alert_for_one_condition(pool: asyncpg.Pool) -> None:
    drone_a, _ = await seed(pool)
    insert = """INSERT INTO alerts (drone_id, type, condition_key, severity, message)
                VALUES ($1, 'geofence_breach', 'above_ceiling', 'critical', 'over')"""
    async with pool.acquire() as conn:
        await conn.execute(insert, drone_a)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, drone_a)
        # Another key of the same type is another condition.
        await conn.execute(insert.replace("'above_ceiling'", "'inside_exclusion:Z1'"), drone_a)
        assert await conn.fetchval("SELECT count(*) FROM alerts WHERE state = 'open'") == 2


async def test_cleared_alert_keeps_its_clearing_time_and_a_new_breach_opens_a_new_alert(
    pool: asyncpg.Pool, service: AlertService
) -> None:
    drone_a, _ = await seed(pool)
    opened = await service.open(new_alert(drone_a))
    cleared_at = T0 + timedelta(seconds=42)
    cleared = await service.clear((drone_a, "battery_low", ""), at=cleared_at, evidence={"battery_pct": 80})
    assert cleared is not None
    assert cleared.alert["state"] == "cleared"
    assert cleared.alert["cleared_at"] == cleared_at
    assert cleared.alert["clear_evidence"] == {"battery_pct": 80}
    assert await service.clear((drone_a, "battery_low", ""), at=cleared_at, evidence={}) is None
    again = await service.open(new_alert(drone_a, at=T0 + timedelta(minutes=5)))
    assert again.kind == "opened"
    assert again.alert["id"] != opened.alert["id"]


async def test_list_filters_get_and_ack_records_who_and_when(
    client: httpx.AsyncClient, pool: asyncpg.Pool, service: AlertService, role_tokens: dict[str, str]
) -> None:
    drone_a, drone_b = await seed(pool)
    a1 = (await service.open(new_alert(drone_a))).alert
    a2 = (
        await service.open(
            new_alert(
                drone_b,
                type="geofence_breach",
                condition_key="above_ceiling",
                severity="critical",
                grid_code="G-B",
                community_code="C-B",
                at=T0 + timedelta(hours=1),
            )
        )
    ).alert
    await service.clear((drone_a, "battery_low", ""), at=T0 + timedelta(seconds=5), evidence={})
    viewer, operator = auth(role_tokens["viewer"]), auth(role_tokens["operator"])

    r = await client.get("/alerts", headers=viewer)
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()] == [a2["id"], a1["id"]]
    ids = lambda resp: [a["id"] for a in resp.json()]  # noqa: E731
    assert ids(await client.get("/alerts", params={"state": "open"}, headers=viewer)) == [a2["id"]]
    assert ids(await client.get("/alerts", params={"grid": "G-A"}, headers=viewer)) == [a1["id"]]
    assert ids(await client.get("/alerts", params={"community": "C-B"}, headers=viewer)) == [a2["id"]]
    assert ids(await client.get("/alerts", params={"drone_id": drone_a}, headers=viewer)) == [a1["id"]]
    assert ids(await client.get("/alerts", params={"type": "geofence_breach"}, headers=viewer)) == [a2["id"]]
    assert ids(
        await client.get("/alerts", params=[("severity", "warning"), ("severity", "info")], headers=viewer)
    ) == [a1["id"]]
    window = {"from": (T0 + timedelta(minutes=30)).isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}
    assert ids(await client.get("/alerts", params=window, headers=viewer)) == [a2["id"]]
    assert ids(await client.get("/alerts", params={"limit": 1, "before_id": a2["id"]}, headers=viewer)) == [
        a1["id"]
    ]

    one = await client.get(f"/alerts/{a2['id']}", headers=viewer)
    assert one.status_code == 200
    assert one.json()["position"] == {"lat_deg": 30.0, "lon_deg": 120.0, "alt_rel_m": 40.0}
    assert one.json()["ack"] is None

    assert (await client.post(f"/alerts/{a2['id']}/ack", headers=viewer)).status_code == 403
    acked = await client.post(f"/alerts/{a2['id']}/ack", headers=operator)
    assert acked.status_code == 200, acked.text
    ack = acked.json()["ack"]
    assert ack["by"] == "test operator" and ack["at"] is not None
    again = await client.post(f"/alerts/{a2['id']}/ack", headers=auth(role_tokens["admin"]))
    assert again.json()["ack"] == ack  # the first acknowledgement stands
    assert ids(await client.get("/alerts", params={"acked": "false"}, headers=viewer)) == [a1["id"]]
    assert (await client.get("/alerts/999999", headers=viewer)).status_code == 404


async def test_counts_per_grid_and_per_community(
    client: httpx.AsyncClient, pool: asyncpg.Pool, service: AlertService, role_tokens: dict[str, str]
) -> None:
    drone_a, drone_b = await seed(pool)
    await service.open(new_alert(drone_a))
    await service.open(new_alert(drone_a, type="gps_degraded", severity="critical"))
    await service.open(new_alert(drone_b, grid_code="G-B", community_code="C-B"))
    await service.clear((drone_b, "battery_low", ""), at=T0 + timedelta(seconds=1), evidence={})
    viewer = auth(role_tokens["viewer"])
    r = await client.get("/alerts/counts", params={"by": "grid"}, headers=viewer)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "by": "grid",
        "counts": [
            {
                "code": "G-A",
                "total": 2,
                "open": 2,
                "open_unacked": 2,
                "open_critical": 1,
                "open_warning": 1,
                "open_info": 0,
            },
            {
                "code": "G-B",
                "total": 1,
                "open": 0,
                "open_unacked": 0,
                "open_critical": 0,
                "open_warning": 0,
                "open_info": 0,
            },
        ],
    }
    r = await client.get("/alerts/counts", params={"by": "community", "state": "open"}, headers=viewer)
    assert [(c["code"], c["open"]) for c in r.json()["counts"]] == [("C-A", 2)]


async def test_community_scoped_token_sees_only_its_communities_alerts(
    client: httpx.AsyncClient, pool: asyncpg.Pool, service: AlertService
) -> None:
    drone_a, drone_b = await seed(pool)
    mine = (await service.open(new_alert(drone_a))).alert
    theirs = (await service.open(new_alert(drone_b, grid_code="G-B", community_code="C-B"))).alert
    async with pool.acquire() as conn:
        token, _ = await tokens.create(
            conn, name="community A operator", role=Role.OPERATOR, communities=["C-A"], created_by=None
        )
    scoped = auth(token)
    assert [a["id"] for a in (await client.get("/alerts", headers=scoped)).json()] == [mine["id"]]
    assert (await client.get(f"/alerts/{theirs['id']}", headers=scoped)).status_code == 404
    assert (await client.post(f"/alerts/{theirs['id']}/ack", headers=scoped)).status_code == 404
    assert (await client.post(f"/alerts/{mine['id']}/ack", headers=scoped)).status_code == 200
    counts = (await client.get("/alerts/counts", params={"by": "community"}, headers=scoped)).json()
    assert [c["code"] for c in counts["counts"]] == ["C-A"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"}, "from"),
        ({"from": "2026-05-02T00:00:00", "to": "2026-05-01T00:00:00Z"}, "from"),  # no zone: UTC
        ({"type": "meteor_strike"}, "query.type.0"),
        ({"severity": "apocalyptic"}, "query.severity.0"),
        ({"state": "closed"}, "query.state"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 100_000}, "query.limit"),
        ({"before_id": -1}, "query.before_id"),
        ({"grid": "bad code!"}, "query.grid"),
        ({"acked": "perhaps"}, "query.acked"),
        ({"drone_id": "x"}, "query.drone_id"),
    ],
)
async def test_bad_query_is_a_422_naming_the_field(
    client: httpx.AsyncClient, role_tokens: dict[str, str], params: dict[str, Any], field: str
) -> None:
    paths = ["/alerts"] if field in ("query.limit", "query.before_id") else ["/alerts", "/alerts/counts"]
    for path in paths:
        r = await client.get(path, params=params, headers=auth(role_tokens["viewer"]))
        assert r.status_code == 422, (path, r.text)
        body = r.json()
        assert set(body) == {"code", "message", "details"}
        assert body["code"] == "validation_failed"
        assert body["details"][0]["field"] == field
        assert body["message"].startswith(field)


async def test_unknown_count_grouping_and_bad_alert_id_are_422(
    client: httpx.AsyncClient, role_tokens: dict[str, str]
) -> None:
    viewer = auth(role_tokens["viewer"])
    r = await client.get("/alerts/counts", params={"by": "street"}, headers=viewer)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "query.by"
    r = await client.get("/alerts/0", headers=viewer)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "path.alert_id"
