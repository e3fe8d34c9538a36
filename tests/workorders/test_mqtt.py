"""MQTT against a real broker (Debian's mosquitto, started by .ci/run on 127.0.0.1:1883, or
AEROGRID_TEST_MQTT_URL): a subscriber receives a simulated drone's samples, its alert and the work
orders that alert and a detection open, on the documented topics. Skips when no broker answers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db.repos.alerts import NewAlert
from app.main import create_app
from app.services.mqtt import broker_address
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth
from tests.workorders.district import IN_G1, two_grids
from tests.workorders.test_webhooks import admin_token, fresh_dsn, wait_for

__all__ = ["fresh_dsn"]  # the fixture, imported for this module's tests

BROKER_URL = os.environ.get("AEROGRID_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")


def broker_reachable() -> bool:
    host, port = broker_address(BROKER_URL)
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not broker_reachable(), reason=f"no MQTT broker at {BROKER_URL} (.ci/run starts Debian's mosquitto)"
)


@asynccontextmanager
async def service(dsn: str, data_dir: Path, prefix: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(
        database_url=dsn,
        data_dir=data_dir,
        live_enabled=False,
        alerts_enabled=False,
        mqtt_url=BROKER_URL,
        mqtt_topic_prefix=prefix,
        mqtt_sample_interval_s=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aerogrid.test") as client:
            yield app, client


async def test_a_subscriber_gets_a_simulated_drones_samples_alerts_and_work_order_events(
    fresh_dsn: str, tmp_path: Path
) -> None:
    prefix = f"agtest{secrets.token_hex(3)}"
    received: list[tuple[str, dict[str, Any]]] = []
    host, port = broker_address(BROKER_URL)

    async def listen(ready: asyncio.Event) -> None:
        async with aiomqtt.Client(host, port) as sub:
            await sub.subscribe(f"{prefix}/#", qos=1)
            ready.set()
            async for message in sub.messages:
                received.append((str(message.topic), json.loads(bytes(message.payload))))

    ready = asyncio.Event()
    listener = asyncio.create_task(listen(ready))
    await asyncio.wait_for(ready.wait(), 10)
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=31, port=0, home_lon_deg=IN_G1["lon_deg"], home_lat_deg=IN_G1["lat_deg"], speedup=1.0
        )
    )
    await vehicle.start()
    try:
        async with service(fresh_dsn, tmp_path, prefix) as (app, client):
            token = await admin_token(app)
            await two_grids(app.state.db.pool, client, token)
            endpoint = f"udpout:127.0.0.1:{vehicle.port}"
            async with app.state.db.pool.acquire() as conn:
                drone_id: int = await conn.fetchval(
                    """INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg, community_code)
                       VALUES ('mqtt-sim', 'sim', $1, 31, $2, $3, 'C1') RETURNING id""",
                    endpoint,
                    IN_G1["lon_deg"],
                    IN_G1["lat_deg"],
                )
            await app.state.flights.link(drone_id, endpoint, 31, None)
            await app.state.flights.vehicle(drone_id).wait_online(10.0)
            await app.state.alerts.open(
                NewAlert(
                    drone_id=drone_id,
                    type="geofence_breach",
                    condition_key="Z1",
                    severity="warning",
                    message="left the inclusion zone",
                    evidence={},
                    at=datetime.now(UTC),
                    grid_code="G1",
                    community_code="C1",
                    lat_deg=IN_G1["lat_deg"],
                    lon_deg=IN_G1["lon_deg"],
                )
            )
            detection = {
                "idempotency_key": secrets.token_hex(6),
                "type": "crowd",
                "confidence": 0.8,
                "drone_id": drone_id,
                "position": {"type": "Point", "coordinates": [IN_G1["lon_deg"], IN_G1["lat_deg"]]},
            }
            r = await client.post("/detections", json=detection, headers=auth(token))
            assert r.status_code == 201, r.text
            order_id = r.json()["work_order_id"]

            def topics() -> list[str]:
                return [t for t, _ in received]

            sample_re = re.compile(rf"^{prefix}/[^/]+/[^/]+/[^/]+/drone/{drone_id}/sample$")
            wanted = {
                f"{prefix}/ST/C1/G1/drone/{drone_id}/alert/opened",
                f"{prefix}/ST/C1/G1/workorder/{order_id}/opened",
                f"{prefix}/ST/C1/G1/workorder/{order_id}/assigned",
            }

            async def all_seen() -> bool:
                return wanted <= set(topics()) and any(sample_re.match(t) for t in topics())

            try:
                await wait_for(all_seen, timeout_s=30)
            except AssertionError:
                raise AssertionError(
                    f"missing {wanted - set(topics())}; got {sorted(set(topics()))[:20]}"
                ) from None
            await app.state.flights.unlink(drone_id)
    finally:
        listener.cancel()
        await vehicle.stop()
    alert_orders = [p for t, p in received if t.endswith("/opened") and "/workorder/" in t]
    assert {p["data"]["work_order"]["type"] for p in alert_orders} == {"geofence_breach", "crowd"}
    sample = next(p for t, p in received if t.endswith("/sample"))
    assert sample["drone_id"] == drone_id and abs(sample["lat_deg"] - IN_G1["lat_deg"]) < 1e-3
