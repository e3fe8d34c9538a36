"""Datagram -> WebSocket latency for bench/ingest.py: the live hub and GET /ws/live on the bench's ingest.

The bench's drones are registered in the database (community ``BC``) so the real endpoint's
subscription check and the hub's directory see them; the hub takes samples from the bench's
``TelemetryIngest``; uvicorn serves the live router on 127.0.0.1; one client in its own process (so
it does not share the service's core) subscribes to the community and records, for every state, its
receive time less the state's ``received_unix_ms`` (when the service decoded the datagram; time the
datagram waited in the kernel before that is not included). Loss: states the hub published for the
client that it never received (its latest-wins buffer replacing an unsent state counts as lost).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import socket
import statistics
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI

from app.api import live
from app.api.deps import AuthGuard
from app.auth import Role
from app.config import Settings
from app.live.hub import LiveHub
from app.live.service import LiveService
from app.services import tokens
from app.services.alerts import AlertSink
from app.telemetry.pipeline import TelemetryIngest

COMMUNITY = "BC"


@dataclass(frozen=True, slots=True)
class LiveResult:
    published: int
    received: int
    p50_ms: float
    p99_ms: float

    @property
    def lost(self) -> int:
        return self.published - self.received


def client_main(url: str, token: str, stop: Any, out: Any) -> None:
    """The subscribed client (its own process): latencies of every state until ``stop`` and quiet."""

    async def run() -> list[float]:
        from websockets.asyncio.client import connect

        latencies: list[float] = []
        async with connect(url, max_size=2**26) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.send(json.dumps({"type": "subscribe", "communities": [COMMUNITY]}))
            quiet_since = time.monotonic()
            while not (stop.is_set() and time.monotonic() - quiet_since > 1.0):
                try:
                    text = await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    continue
                now_ms = time.time() * 1000
                quiet_since = time.monotonic()
                msg = json.loads(text)
                if msg["type"] == "state":
                    latencies.extend(now_ms - s["received_unix_ms"] for s in msg["states"])
                elif msg["type"] == "error":
                    raise RuntimeError(msg["message"])
        return latencies

    out.put(asyncio.run(run()))


class LiveProbe:
    def __init__(self, pool: asyncpg.Pool, ingest: TelemetryIngest) -> None:
        self.pool = pool
        self.ingest = ingest
        self.hub = LiveHub()
        self.service = LiveService(pool, self.hub, None)
        self.alerts = AlertSink()
        """Alerts the bench's detectors raise reach the hub (and the client) through this sink."""
        self._server: uvicorn.Server | None = None
        self._serve: asyncio.Task[None] | None = None
        self._proc: Any = None
        self._ctx = mp.get_context("spawn")
        self._stop = self._ctx.Event()
        self._out = self._ctx.Queue()
        self._published_before = 0

    async def register(self, drones: int, endpoints: list[str], sysids: list[int]) -> str:
        """Drone rows 1..N with the bench's endpoints in community BC; an admin token."""
        async with self.pool.acquire() as conn:
            await conn.executemany(
                """INSERT INTO drones (id, name, kind, endpoint, sysid, community_code, home_lon_deg,
                       home_lat_deg) OVERRIDING SYSTEM VALUE VALUES ($1, $2, 'sim', $3, $4, $5, 120.3, 30.2)""",
                [(i + 1, f"bench-{i + 1}", endpoints[i], sysids[i], COMMUNITY) for i in range(drones)],
            )
            token, _ = await tokens.create(
                conn, name="bench", role=Role.ADMIN, communities=None, created_by=None
            )
        return token

    async def start(self, token: str) -> None:
        await self.service.start(self.ingest, self.alerts)
        app = FastAPI()
        app.include_router(live.router)
        app.state.db = SimpleNamespace(pool=self.pool)
        app.state.auth_guard = AuthGuard.from_settings(Settings())
        app.state.live_hub = self.hub
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
        self._serve = asyncio.create_task(self._server.serve(sockets=[sock]))
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            await asyncio.sleep(0.02)
        url = f"ws://127.0.0.1:{port}/ws/live"
        self._proc = self._ctx.Process(target=client_main, args=(url, token, self._stop, self._out))
        self._proc.start()
        deadline = time.monotonic() + 30
        while not self.hub.clients or not next(iter(self.hub.clients)).communities:
            if time.monotonic() > deadline:
                raise RuntimeError("the live client did not subscribe")
            await asyncio.sleep(0.05)

    def mark(self) -> None:
        """From now on, count what the hub publishes."""
        self._published_before = self.hub.states_sent

    async def stop(self) -> LiveResult:
        published = self.hub.states_sent - self._published_before
        self._stop.set()
        latencies = sorted(await asyncio.to_thread(self._out.get))
        await asyncio.to_thread(self._proc.join)
        if self._server is not None and self._serve is not None:
            self._server.should_exit = True
            await self._serve
        await self.service.close()
        return LiveResult(
            published=published,
            received=len(latencies),
            p50_ms=statistics.median(latencies) if latencies else float("nan"),
            p99_ms=latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        )
