"""Webhooks against a real HTTP receiver on 127.0.0.1: while it is down nothing is lost (not even
across a service restart), and once it is back it gets every event once by event id, in order
per work order, each signed; a delivery that keeps failing is parked dead and can be replayed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.conftest import auth
from tests.dbtools import private_database
from tests.procs import free_tcp_port
from tests.workorders.district import IN_G1, two_grids

SECRET = "s3cret-for-the-receiver-" + secrets.token_hex(4)


class Receiver:
    """A minimal HTTP/1.1 server: records each POST (headers, body) and answers ``status``."""

    def __init__(self, port: int, status: int = 200) -> None:
        self.port = port
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append((headers, body))
                writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def fresh_dsn(server_dsn: str) -> AsyncIterator[str]:
    async with private_database(server_dsn, "aerogrid_wh") as db:
        yield db.dsn


@asynccontextmanager
async def service(dsn: str, data_dir: Path, **extra: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(
        database_url=dsn,
        data_dir=data_dir,
        links_enabled=False,
        live_enabled=False,
        webhook_backoff_s=0.2,
        webhook_backoff_max_s=0.5,
        webhook_poll_s=0.1,
        webhook_timeout_s=2,
        **extra,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aerogrid.test") as client:
            yield app, client


async def admin_token(app: FastAPI) -> str:
    from app.auth import Role
    from app.services import tokens

    async with app.state.db.pool.acquire() as conn:
        token, _ = await tokens.create(conn, name="admin", role=Role.ADMIN, communities=None, created_by=None)
    return token


async def wait_for(predicate: Any, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_receiver_down_across_a_service_restart_gets_every_event_once_in_order_and_signed(
    fresh_dsn: str, tmp_path: Path
) -> None:
    port = free_tcp_port()
    receiver = Receiver(port)
    async with service(fresh_dsn, tmp_path, webhook_max_attempts=100) as (app, client):
        token = await admin_token(app)
        admin = auth(token)
        await two_grids(app.state.db.pool, client, token)
        sub = {"url": f"http://127.0.0.1:{port}/hook", "event_types": ["*"], "secret": SECRET}
        assert (await client.post("/webhooks", json=sub, headers=admin)).status_code == 201
        for n in range(3):
            body = {"channel": "hotline_12345", "type": "noise", "title": f"噪音 {n}", "position": IN_G1}
            oid = (await client.post("/work-orders", json=body, headers=admin)).json()["id"]
            for action, extra in (("start", {}), ("resolve", {"feedback": "ok"}), ("close", {})):
                r = await client.post(f"/work-orders/{oid}/{action}", json=extra, headers=admin)
                assert r.status_code == 200, r.text

        async def all_tried() -> bool:
            rows = (await client.get("/webhooks/deliveries", headers=admin)).json()
            heads = [d for d in rows if d["attempts"] >= 2]  # one per order: the rest wait behind it
            return len(rows) == 15 and len(heads) == 3 and all(d["state"] == "pending" for d in rows)

        await wait_for(all_tried)
        async with app.state.db.pool.acquire() as conn:
            expected = await conn.fetch(
                "SELECT event_id::text AS event, aggregate FROM outbox_events ORDER BY outbox_events.id"
            )
    assert receiver.received == []
    await receiver.start()
    try:
        async with service(fresh_dsn, tmp_path, webhook_max_attempts=100) as (app, client):

            async def all_delivered() -> bool:
                rows = (await client.get("/webhooks/deliveries", headers=admin)).json()
                return all(d["state"] == "delivered" for d in rows)

            await wait_for(all_delivered)
    finally:
        await receiver.stop()
    ids = [h["x-aerogrid-event-id"] for h, _ in receiver.received]
    assert sorted(ids) == sorted(r["event"] for r in expected) and len(ids) == len(set(ids)) == 15
    for headers, body in receiver.received:
        signed = headers["x-aerogrid-timestamp"].encode() + b"." + body
        mac = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-aerogrid-signature"], mac)
        assert json.loads(body)["event_id"] == headers["x-aerogrid-event-id"]
    for aggregate in {r["aggregate"] for r in expected}:
        want = [r["event"] for r in expected if r["aggregate"] == aggregate]
        got = [i for i in ids if i in want]
        assert got == want, aggregate
    assert json.loads(receiver.received[0][1])["type"] == "work_order.opened"


async def test_a_delivery_that_keeps_failing_is_parked_dead_then_replayed(
    fresh_dsn: str, tmp_path: Path
) -> None:
    port = free_tcp_port()
    receiver = Receiver(port, status=500)
    await receiver.start()
    try:
        async with service(fresh_dsn, tmp_path, webhook_max_attempts=2) as (app, client):
            token = await admin_token(app)
            admin = auth(token)
            sub = {"url": f"http://127.0.0.1:{port}/", "event_types": ["work_order.opened"], "secret": SECRET}
            assert (await client.post("/webhooks", json=sub, headers=admin)).status_code == 201
            body = {"channel": "grid_worker", "type": "fallen_tree", "title": "倒树"}
            assert (await client.post("/work-orders", json=body, headers=admin)).status_code == 201

            async def dead() -> list[dict[str, Any]]:
                rows: list[dict[str, Any]] = (
                    await client.get("/webhooks/deliveries", params={"state": "dead"}, headers=admin)
                ).json()
                return rows

            await wait_for(dead)
            parked = (await dead())[0]
            assert parked["attempts"] == 2 and parked["last_error"] == "HTTP 500"
            assert len(receiver.received) == 2
            receiver.status = 204
            r = await client.post(f"/webhooks/deliveries/{parked['id']}/replay", headers=admin)
            assert r.status_code == 200 and r.json()["state"] == "pending"

            async def delivered() -> bool:
                rows = (await client.get("/webhooks/deliveries", headers=admin)).json()
                return bool(rows[0]["state"] == "delivered")

            await wait_for(delivered)
            assert len(receiver.received) == 3
    finally:
        await receiver.stop()


async def test_webhook_urls_other_than_http_or_https_are_refused(
    client: httpx.AsyncClient, role_tokens: dict[str, str]
) -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "ftp://x.example/", "http:///nohost"):
        body = {"url": url, "event_types": ["*"], "secret": SECRET}
        r = await client.post("/webhooks", json=body, headers=auth(role_tokens["admin"]))
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "body.url", url
