"""Per-client buffers: latest-wins states, bounded events, scope filtering (no sockets needed)."""

from __future__ import annotations

import json

import pytest

from app.auth import Principal, Role
from app.live.hub import ClientOverflow, LiveHub, Routed

ADMIN = Principal(token_id=1, name="t", role=Role.ADMIN, communities=None)
SCOPED = Principal(token_id=2, name="s", role=Role.VIEWER, communities=frozenset({"CA"}))


async def test_an_unread_client_keeps_only_the_newest_state_of_each_drone() -> None:
    hub = LiveHub()
    client = hub.add_client(ADMIN)
    client.drones |= {1, 2}
    for n in range(100):
        hub.deliver(
            [Routed(1, None, None, json.dumps({"drone_id": 1, "n": n})), Routed(2, None, None, "{}")], []
        )
    assert client.pending_states == 2 and client.states_replaced == 198
    (frame,) = await client.next_frames()
    states = json.loads(frame)["states"]
    assert {"drone_id": 1, "n": 99} in states and len(states) == 2


async def test_a_client_that_lets_its_events_overflow_is_disconnected_not_buffered() -> None:
    hub = LiveHub(max_events=10)
    client = hub.add_client(ADMIN)
    client.drones.add(1)
    hub.deliver([], [Routed(1, None, None, f'{{"n":{n}}}') for n in range(11)])
    assert client.pending_events == 10
    with pytest.raises(ClientOverflow):
        await client.next_frames()


async def test_a_scoped_client_never_gets_another_communitys_messages_even_by_drone_id() -> None:
    hub = LiveHub()
    client = hub.add_client(SCOPED)
    client.drones |= {1, 2}
    hub.deliver([Routed(1, "GA", "CA", "{}"), Routed(2, "GB", "CB", "{}")], [Routed(2, "GB", "CB", "{}")])
    assert client.pending_states == 1 and client.pending_events == 0
