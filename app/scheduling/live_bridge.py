"""Run transitions onto the live stream: each one, once stored, goes to the WebSocket clients
watching the run's drone (or its community), and through the relay to the other instances' clients.

Message: ``{"type": "run", "run": {run_id, drone_id, from_state, to_state, sortie, actor, reason, at}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from app.live.hub import LiveHub, Routed
from app.scheduling.runs import RunEvent, RunEvents


def run_message(event: RunEvent) -> str:
    def jsonable(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"not JSON: {type(value).__name__}")

    return json.dumps({"type": "run", "run": asdict(event)}, default=jsonable, separators=(",", ":"))


def stream_runs(events: RunEvents, hub: LiveHub) -> Callable[[], None]:
    """Publish every run transition on ``hub``; returns the unsubscriber."""

    def on_event(event: RunEvent) -> None:
        community = hub.community_of(event.drone_id) if event.drone_id is not None else None
        routed = Routed(event.drone_id, None, community, run_message(event))
        hub.deliver([], [routed])
        if hub.relay is not None:
            hub.relay([], [routed])

    return events.subscribe(on_event)
