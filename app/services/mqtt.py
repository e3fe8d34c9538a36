"""Publishing telemetry samples, alerts and work-order events to an MQTT broker (aiomqtt).

City platforms subscribe to a broker the way they consume DJI's cloud API; the topics put the
place first so a subscriber picks its street, community, grid or drone with wildcards:

    <prefix>/<street>/<community>/<grid>/drone/<drone_id>/sample        samples, QoS 0, at most
                                                                        one per drone per interval
    <prefix>/<street>/<community>/<grid>/drone/<drone_id>/alert/<event> alert.opened|cleared|acked
    <prefix>/<street>/<community>/<grid>/workorder/<id>/<event>         work_order.* events

A part that is not known (a sample outside every grid) is ``_``. Codes are ``[A-Za-z0-9._-]``, so
never an MQTT wildcard or level separator. Alert and work-order events are read from the outbox
(in commit order, from the moment the publisher starts), samples from the telemetry bus. The
broker going away is retried every second; what happens meanwhile is not queued (the webhooks are
the guaranteed channel; MQTT is the live feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import asyncpg

from app.db.errors import DATABASE_FAILED
from app.db.repos import outbox as outbox_repo
from app.telemetry.bus import TelemetryBus
from app.telemetry.records import Sample

log = logging.getLogger(__name__)

UNKNOWN = "_"


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of ``mqtt://host[:port]``; 1883 by default."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"AEROGRID_MQTT_URL must be mqtt://host[:port], not {url!r}")
    return parts.hostname, parts.port or 1883


def _part(value: object) -> str:
    return value if isinstance(value, str) and value else UNKNOWN


def sample_json(s: Sample) -> dict[str, Any]:
    return {
        "time": s.time.isoformat(),
        "drone_id": s.drone_id,
        "grid_code": s.grid_code,
        "lat_deg": s.lat_deg,
        "lon_deg": s.lon_deg,
        "alt_rel_m": s.alt_rel_m,
        "groundspeed_mps": s.groundspeed_mps,
        "heading_deg": s.heading_deg,
        "battery_pct": s.battery_pct,
        "mode": s.mode,
        "armed": s.armed,
        "upload_id": s.upload_id,
        "mission_id": s.mission_id,
    }


class MqttPublisher:
    """Runs until closed: connects, publishes, reconnects after a lost broker."""

    def __init__(
        self,
        url: str,
        prefix: str,
        pool: asyncpg.Pool,
        bus: TelemetryBus | None,
        *,
        sample_interval_s: float = 1.0,
        poll_s: float = 0.25,
    ) -> None:
        self.host, self.port = broker_address(url)
        self.prefix = prefix
        self.pool = pool
        self.bus = bus
        self.sample_interval_s = sample_interval_s
        self.poll_s = poll_s
        self._places: dict[str, tuple[str, str]] = {}  # grid -> (street, community)
        self._streets: dict[str, str] = {}  # community -> street
        self._last_sample: dict[int, float] = {}
        self._cursor = 0
        self._refreshed_at = -1e9
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            self._cursor = await outbox_repo.last_event_id(conn)
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")

    async def _run(self) -> None:
        consumer = self.bus.subscribe("mqtt", max_batches=64) if self.bus is not None else None
        try:
            while True:
                try:
                    async with aiomqtt.Client(self.host, self.port) as client:
                        log.info("publishing to MQTT broker %s:%s", self.host, self.port)
                        async with asyncio.TaskGroup() as tasks:
                            tasks.create_task(self._events(client))
                            if consumer is not None:
                                tasks.create_task(self._samples(client, consumer))
                except* (aiomqtt.MqttError, OSError) as group:
                    log.warning(
                        "MQTT broker %s:%s unavailable (%s); retrying",
                        self.host,
                        self.port,
                        group.exceptions[0],
                    )
                except* DATABASE_FAILED as group:  # the outbox read failed: reconnect and read on
                    log.warning("MQTT publisher: database unavailable (%r); retrying", group.exceptions[0])
                await asyncio.sleep(1.0)
        finally:
            if consumer is not None and self.bus is not None:
                self.bus.remove(consumer)

    async def _know(self, grid: object, community: object) -> None:
        """Reload the grid -> street/community map when it lacks this place (a grid imported since),
        at most once a second, and every 10 s regardless (a grid moved to another community)."""
        unknown = (isinstance(grid, str) and grid not in self._places) or (
            isinstance(community, str) and community not in self._streets
        )
        age_s = time.monotonic() - self._refreshed_at
        if age_s > 10.0 or (unknown and age_s > 1.0):
            await self._refresh_places()

    async def _refresh_places(self) -> None:
        self._refreshed_at = time.monotonic()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT g.code, c.code AS community, c.street_code FROM grids g JOIN communities c ON c.code = g.community_code"
            )
            communities = await conn.fetch("SELECT code, street_code FROM communities")
        self._places = {r["code"]: (r["street_code"], r["community"]) for r in rows}
        self._streets = {r["code"]: r["street_code"] for r in communities}

    def _place(self, grid: object, community: object) -> str:
        if isinstance(grid, str) and grid in self._places:
            street, comm = self._places[grid]
            return f"{street}/{comm}/{grid}"
        known = self._streets.get(community) if isinstance(community, str) else None
        return f"{_part(known)}/{_part(community)}/{_part(grid)}"

    async def event_topic(self, event_type: str, payload: dict[str, Any]) -> str:
        kind, _, name = event_type.partition(".")
        if kind == "work_order":
            order = payload["work_order"]
            await self._know(order.get("grid_code"), order.get("community_code"))
            place = self._place(order.get("grid_code"), order.get("community_code"))
            return f"{self.prefix}/{place}/workorder/{order['id']}/{name}"
        await self._know(payload.get("grid_code"), payload.get("community_code"))
        place = self._place(payload.get("grid_code"), payload.get("community_code"))
        return f"{self.prefix}/{place}/drone/{payload.get('drone_id')}/alert/{name}"

    async def _events(self, client: aiomqtt.Client) -> None:
        while True:
            async with self.pool.acquire() as conn:
                rows = await outbox_repo.events_after(conn, self._cursor, 500)
            for row in rows:
                body = {"event_id": str(row["event_id"]), "type": row["event_type"], "data": row["payload"]}
                topic = await self.event_topic(row["event_type"], row["payload"])
                await client.publish(topic, json.dumps(body, default=str), qos=1)
                self._cursor = row["id"]
            if not rows:
                await asyncio.sleep(self.poll_s)

    async def _samples(self, client: aiomqtt.Client, consumer: Any) -> None:
        async for batch in consumer:
            now = time.monotonic()
            for sample in batch.samples:
                if now - self._last_sample.get(sample.drone_id, -1e9) < self.sample_interval_s:
                    continue
                self._last_sample[sample.drone_id] = now
                await self._know(sample.grid_code, None)
                place = self._place(sample.grid_code, None)
                topic = f"{self.prefix}/{place}/drone/{sample.drone_id}/sample"
                await client.publish(topic, json.dumps(sample_json(sample)), qos=0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
