"""NOTIFY payloads: under PostgreSQL's 8,000-byte limit however many states, large alerts summarised."""

from __future__ import annotations

import json

from app.auth import Principal, Role
from app.live.hub import LiveHub, Routed
from app.live.relay import MAX_PAYLOAD_BYTES, Relay, pack, unpack

ADMIN = Principal(token_id=1, name="t", role=Role.ADMIN, communities=None)


def state(drone_id: int) -> Routed:
    text = json.dumps(
        {"drone_id": drone_id, "lat_deg": 30.123456789, "lon_deg": 120.123456789, "mode": "AUTO"}
    )
    return Routed(drone_id, "G-01", "C1", text)


def test_a_thousand_states_pack_into_payloads_under_the_notify_limit_and_unpack_in_order() -> None:
    states = [state(i) for i in range(1, 1001)]
    payloads = pack("A", states, [])
    assert len(payloads) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in payloads)
    back = [m for p in payloads for m in unpack(p)[1]]
    assert [(m.drone_id, m.grid_code, m.community_code) for m in back] == [
        (i, "G-01", "C1") for i in range(1, 1001)
    ]
    assert [json.loads(m.text) for m in back] == [json.loads(s.text) for s in states]


def test_an_alert_too_large_for_notify_goes_without_its_evidence_and_says_so() -> None:
    alert = {"id": 9, "drone_id": 3, "message": "geofence", "evidence": {"points": list(range(5000))}}
    big = Routed(3, "G-01", "C1", json.dumps({"type": "alert", "kind": "opened", "alert": alert}))
    (payload,) = pack("A", [], [big])
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    (event,) = unpack(payload)[2]
    sent = json.loads(event.text)
    assert sent["truncated"] is True and sent["alert"]["id"] == 9 and sent["alert"]["evidence"] is None


async def test_an_instance_ignores_its_own_notifications_and_delivers_the_others() -> None:
    hub = LiveHub()
    client = hub.add_client(ADMIN)
    client.drones.add(5)
    relay = Relay("postgresql://unused", hub, "A")
    (own,) = pack("A", [state(5)], [])
    relay._on_notify(None, 0, "aerogrid_live", own)
    assert client.pending_states == 0
    (other,) = pack("B", [state(5)], [])
    relay._on_notify(None, 0, "aerogrid_live", other)
    assert client.pending_states == 1 and relay.payloads_received == 1
