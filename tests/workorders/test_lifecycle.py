"""Work orders through the API against PostgreSQL: states, history, SLA marks on an injected
clock, community scope, and idempotent inbound orders under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.db.repos.alerts import NewAlert
from app.services.workorders import TRANSITIONS, utc_now
from tests.conftest import auth
from tests.workorders.district import G1_WORKER, IN_G1, IN_G2, scoped_token, two_grids

T0 = datetime(2031, 3, 1, 8, 0, tzinfo=UTC)  # far ahead: the service's own periodic check never reaches it


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FakeClock]:
    service = app.state.workorders
    fake = FakeClock(T0)
    service.clock = fake
    try:
        yield fake
    finally:
        service.clock = utc_now


@pytest.fixture
async def ops(pool: asyncpg.Pool, client: httpx.AsyncClient, role_tokens: dict[str, str]) -> dict[str, str]:
    await two_grids(pool, client, role_tokens["admin"])
    return auth(role_tokens["operator"])


def order_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "hotline_12345",
        "type": "noise",
        "severity": "critical",
        "title": "深夜施工噪音",
        "position": IN_G1,
    }
    body.update(extra)
    return body


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], order_id: int, action: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/work-orders/{order_id}/{action}", json=body, headers=headers)


async def test_hotline_order_is_filed_under_the_grid_assigned_to_its_worker_and_closed_with_history(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock
) -> None:
    r = await client.post("/work-orders", json=order_body(external_ref="H-1"), headers=ops)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["grid_code"] == "G1" and order["community_code"] == "C1" and order["street_code"] == "ST"
    assert order["state"] == "assigned"
    assert order["assignee"] == {"kind": "worker", "name": G1_WORKER[0], "phone": G1_WORKER[1]}
    assert datetime.fromisoformat(order["due_at"]) == T0 + timedelta(hours=4)
    oid = order["id"]
    clock.now = T0 + timedelta(minutes=5)
    assert (await act(client, ops, oid, "start")).json()["state"] == "in_progress"
    r = await act(client, ops, oid, "resolve")
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "feedback"
    clock.now = T0 + timedelta(minutes=50)
    r = await act(client, ops, oid, "resolve", feedback="已劝停施工", photos=["https://img.example/1.jpg"])
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    r = await act(client, ops, oid, "reopen", reason="居民反映仍有噪音")
    assert r.json()["state"] == "reopened"
    await act(client, ops, oid, "start")
    await act(client, ops, oid, "resolve", feedback="已停工")
    assert (await act(client, ops, oid, "close")).json()["state"] == "closed"
    r = await act(client, ops, oid, "resolve", feedback="again")
    assert r.status_code == 409
    assert r.json()["details"]["current_state"] == "closed" and "closed" in r.json()["message"]
    history = (await client.get(f"/work-orders/{oid}", headers=ops)).json()["history"]
    steps = [(h["action"], h["from_state"], h["to_state"]) for h in history]
    assert steps == [
        ("open", None, "open"),
        ("assign", "open", "assigned"),
        ("start", "assigned", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("reopen", "resolved", "reopened"),
        ("start", "reopened", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("close", "resolved", "closed"),
    ]
    assert history[3]["by"] == "test operator" and history[3]["reason"] == "已劝停施工"
    assert history[3]["at"] == (T0 + timedelta(minutes=50)).isoformat()
    assert history[4]["reason"] == "居民反映仍有噪音"


async def _order_in(client: httpx.AsyncClient, ops: dict[str, str], state: str) -> int:
    """A fresh order driven into ``state``."""
    body = order_body(position=None, grid_code="G1")
    oid: int = (await client.post("/work-orders", json=body, headers=ops)).json()["id"]
    path = {
        "assigned": [],
        "in_progress": ["start"],
        "resolved": ["start", "resolve"],
        "closed": ["start", "resolve", "close"],
        "reopened": ["start", "resolve", "reopen"],
        "cancelled": ["cancel"],
    }[state]
    for action in path:
        r = await act(client, ops, oid, action, feedback="done", reason="why")
        assert r.status_code == 200, r.text
    return oid


async def test_every_illegal_transition_is_409_naming_the_current_state_and_changes_nothing(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock
) -> None:
    checked = 0
    for state in ("assigned", "in_progress", "resolved", "closed", "reopened", "cancelled"):
        oid = await _order_in(client, ops, state)
        before = (await client.get(f"/work-orders/{oid}", headers=ops)).json()
        for action, (legal_from, _) in TRANSITIONS.items():
            if state in legal_from:
                continue
            r = await act(client, ops, oid, action, feedback="x", reason="x", assignee={"name": "王五"})
            assert r.status_code == 409, (state, action, r.text)
            assert r.json()["code"] == "illegal_transition"
            assert r.json()["details"] == {"field": "state", "current_state": state, "action": action}
            checked += 1
        after = (await client.get(f"/work-orders/{oid}", headers=ops)).json()
        assert after == before
    assert checked == 26  # 6 states x 6 actions - 10 legal pairs


async def test_sla_marks_warn_at_80_percent_overdue_at_100_and_escalate_later_each_once(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock, app: FastAPI, pool: asyncpg.Pool
) -> None:
    service = app.state.workorders
    oid = (await client.post("/work-orders", json=order_body(), headers=ops)).json()["id"]  # 4 h SLA

    async def fired_at(minutes: float) -> list[str]:
        return [a for i, a in await service.check_due(T0 + timedelta(minutes=minutes)) if i == oid]

    assert await fired_at(180) == []  # 75 %
    assert await fired_at(193) == ["due_warning"]  # 80 % is 192 min
    assert await fired_at(200) == []
    assert await fired_at(239) == []
    assert await fired_at(240) == ["overdue"]
    assert await fired_at(300) == []
    assert await fired_at(360) == ["escalated"]  # 150 %
    assert await fired_at(10_000) == []
    order = (await client.get(f"/work-orders/{oid}", headers=ops)).json()
    marks = [(h["action"], h["at"]) for h in order["history"] if h["action"] not in ("open", "assign")]
    assert marks == [
        ("due_warning", (T0 + timedelta(minutes=193)).isoformat()),
        ("overdue", (T0 + timedelta(minutes=240)).isoformat()),
        ("escalated", (T0 + timedelta(minutes=360)).isoformat()),
    ]
    assert order["history"][-1]["details"]["escalated_to"] == {"community_code": "C1"}
    listed = await client.get("/work-orders", params={"overdue": "true", "grid": "G1"}, headers=ops)
    clock.now = T0 + timedelta(hours=5)
    listed = await client.get("/work-orders", params={"overdue": "true", "grid": "G1"}, headers=ops)
    assert oid in [o["id"] for o in listed.json()]
    async with pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT event_type FROM outbox_events WHERE aggregate = $1 ORDER BY id", f"work_order:{oid}"
        )
    assert [e["event_type"] for e in events] == [
        "work_order.opened",
        "work_order.assigned",
        "work_order.due_warning",
        "work_order.overdue",
        "work_order.escalated",
    ]


async def test_a_resolved_order_waiting_for_verification_does_not_go_overdue(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock, app: FastAPI
) -> None:
    oid = await _order_in(client, ops, "resolved")
    fired = await app.state.workorders.check_due(T0 + timedelta(days=30))
    assert [a for i, a in fired if i == oid] == []


async def test_a_community_scoped_token_sees_and_opens_only_its_communities_orders(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock, role_tokens: dict[str, str]
) -> None:
    c1 = await scoped_token(client, role_tokens["admin"], "operator", "C1")
    in_g2 = (await client.post("/work-orders", json=order_body(position=IN_G2), headers=ops)).json()
    in_g1 = (await client.post("/work-orders", json=order_body(), headers=ops)).json()
    assert in_g2["grid_code"] == "G2"
    assert (await client.get(f"/work-orders/{in_g2['id']}", headers=c1)).status_code == 404
    assert (await client.get(f"/work-orders/{in_g1['id']}", headers=c1)).status_code == 200
    assert (await act(client, c1, in_g2["id"], "start")).status_code == 404
    listed = {o["id"] for o in (await client.get("/work-orders", headers=c1)).json()}
    assert in_g1["id"] in listed and in_g2["id"] not in listed
    r = await client.post("/work-orders", json=order_body(position=IN_G2), headers=c1)
    assert r.status_code == 403


async def test_the_same_channel_and_external_ref_sent_concurrently_makes_one_order(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock, pool: asyncpg.Pool
) -> None:
    body = order_body(channel="city_platform", external_ref="CP-2031-0001")
    answers = await asyncio.gather(*(client.post("/work-orders", json=body, headers=ops) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    again = await client.post("/work-orders", json=body, headers=ops)
    assert again.status_code == 200 and again.json()["id"] == answers[0].json()["id"]
    async with pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM work_orders WHERE channel = 'city_platform' AND external_ref = 'CP-2031-0001'"
        )
    assert count == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"position": {"lon_deg": 121.5, "lat_deg": 31.49}}, "position"),
        ({"grid_code": "NOPE", "position": None}, "grid_code"),
        ({"severity": "apocalyptic"}, "body.severity"),
        ({"type": "Noise!"}, "body.type"),
    ],
)
async def test_bad_orders_are_422_naming_the_field_and_store_nothing(
    client: httpx.AsyncClient,
    ops: dict[str, str],
    clock: FakeClock,
    pool: asyncpg.Pool,
    change: dict[str, Any],
    field: str,
) -> None:
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM work_orders")
    r = await client.post("/work-orders", json=order_body(**change), headers=ops)
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == field
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM work_orders") == before


async def test_statistics_per_grid_and_channel_in_json_and_csv(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock, role_tokens: dict[str, str]
) -> None:
    clock.now = T0 + timedelta(days=400)  # a range of its own, clear of the other tests' orders
    start = clock.now
    ids = []
    for n, position in enumerate((IN_G1, IN_G1, IN_G1, IN_G2)):
        body = order_body(position=position, external_ref=f"stats-{start.isoformat()}-{n}")
        ids.append((await client.post("/work-orders", json=body, headers=ops)).json()["id"])
    for oid, close_after in ((ids[0], timedelta(hours=1)), (ids[1], timedelta(hours=5))):
        clock.now = start + close_after
        for action in ("start", "resolve", "close"):
            assert (await act(client, ops, oid, action, feedback="done")).status_code == 200
    clock.now = start + timedelta(hours=6)  # ids[2] and ids[3] are past their 4 h now
    params = {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), "by": "grid"}
    groups = (await client.get("/stats/work-orders", params=params, headers=ops)).json()["groups"]
    assert groups == [
        {
            "key": "G1",
            "opened": 3,
            "closed": 2,
            "open": 1,
            "overdue": 1,
            "closed_within_sla_share": 0.5,
            "mean_close_s": 3 * 3600.0,
            "p90_close_s": pytest.approx(4.6 * 3600),
        },
        {
            "key": "G2",
            "opened": 1,
            "closed": 0,
            "open": 1,
            "overdue": 1,
            "closed_within_sla_share": None,
            "mean_close_s": None,
            "p90_close_s": None,
        },
    ]
    csv_text = (await client.get("/stats/work-orders", params={**params, "format": "csv"}, headers=ops)).text
    assert (
        csv_text.splitlines()[0]
        == "key,opened,closed,open,overdue,closed_within_sla_share,mean_close_s,p90_close_s"
    )
    assert csv_text.splitlines()[2] == "G2,1,0,1,1,,,"
    by_channel = await client.get("/stats/work-orders", params={**params, "by": "channel"}, headers=ops)
    assert [(g["key"], g["opened"]) for g in by_channel.json()["groups"]] == [("hotline_12345", 4)]
    c2 = await scoped_token(client, role_tokens["admin"], "viewer", "C2")
    scoped = (await client.get("/stats/work-orders", params=params, headers=c2)).json()["groups"]
    assert [g["key"] for g in scoped] == ["G2"]
    bad = await client.get("/stats/work-orders", params={**params, "to": params["from"]}, headers=ops)
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "from"


CAMERA = {
    "sensor_width_mm": 13.2,
    "sensor_height_mm": 8.8,
    "focal_length_mm": 8.8,
    "image_width_px": 5472,
    "image_height_px": 3648,
}


async def test_reflight_plans_an_inspection_of_the_spot_for_the_nearest_drone_with_a_camera(
    client: httpx.AsyncClient, ops: dict[str, str], clock: FakeClock, role_tokens: dict[str, str]
) -> None:
    admin = auth(role_tokens["admin"])
    ids = {}
    for name, east_deg, caps, port in (
        ("WO-NEAR-NOCAM", 0.0, {"battery_wh": 300}, 14661),
        ("WO-NEAR", 0.001, {"camera": CAMERA, "battery_wh": 300}, 14662),
        ("WO-FAR", 0.02, {"camera": CAMERA, "battery_wh": 300}, 14663),
    ):
        body = {
            "name": name,
            "kind": "sim",
            "endpoint": f"udpout:127.0.0.1:{port}",
            "sysid": 1,
            "home": {"lon_deg": IN_G1["lon_deg"] + east_deg, "lat_deg": IN_G1["lat_deg"], "alt_m": 3.0},
            "capabilities": caps,
        }
        r = await client.post("/drones", json=body, headers=admin)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    no_position = (await client.post("/work-orders", json=order_body(position=None), headers=ops)).json()
    r = await client.post(f"/work-orders/{no_position['id']}/reflight", json={}, headers=ops)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "position"
    oid = (await client.post("/work-orders", json=order_body(channel="drone"), headers=ops)).json()["id"]
    r = await client.post(f"/work-orders/{oid}/reflight", json={}, headers=ops)
    assert r.status_code == 201, r.text
    assert r.json()["drone_id"] == ids["WO-NEAR"]
    mission = r.json()["mission"]
    assert mission["kind"] == "inspect" and mission["ok"] and mission["stats"]["photos"] > 0
    history = (await client.get(f"/work-orders/{oid}", headers=ops)).json()["history"]
    assert history[-1]["action"] == "reflight_planned"
    assert history[-1]["details"] == {"mission_id": mission["id"], "drone_id": ids["WO-NEAR"]}
    assert history[-1]["from_state"] == history[-1]["to_state"] == "assigned"


async def test_a_geofence_alert_opens_one_work_order_for_the_grid_worker_and_a_battery_alert_none(
    client: httpx.AsyncClient, ops: dict[str, str], app: FastAPI, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        drone_id = await conn.fetchval(
            """INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg, community_code)
               VALUES ('wo-alert', 'sim', 'udpout:127.0.0.1:14671', 1, $1, $2, 'C1') RETURNING id""",
            IN_G1["lon_deg"],
            IN_G1["lat_deg"],
        )
    opened = []
    for alert_type, severity in (("geofence_breach", "critical"), ("battery_low", "critical")):
        event = await app.state.alerts.open(
            NewAlert(
                drone_id=drone_id,
                type=alert_type,
                condition_key="",
                severity=severity,
                message=f"{alert_type} over G1",
                evidence={},
                at=datetime.now(UTC),
                grid_code="G1",
                community_code="C1",
                lat_deg=IN_G1["lat_deg"],
                lon_deg=IN_G1["lon_deg"],
            )
        )
        opened.append(event.alert["id"])

    async def orders_of(alert_id: int) -> list[asyncpg.Record]:
        async with pool.acquire() as conn:
            return await conn.fetch("SELECT * FROM work_orders WHERE alert_id = $1", alert_id)

    for _ in range(100):
        if await orders_of(opened[0]):
            break
        await asyncio.sleep(0.05)
    (order,) = await orders_of(opened[0])
    assert order["channel"] == "drone" and order["external_ref"] == f"alert:{opened[0]}"
    assert order["grid_code"] == "G1" and order["assignee_name"] == G1_WORKER[0]
    assert order["type"] == "geofence_breach" and order["severity"] == "critical"
    assert await orders_of(opened[1]) == []
