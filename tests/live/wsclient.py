"""A real WebSocket client for the live stream tests (the ``websockets`` package over TCP)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect


class Server:
    """uvicorn serving an already started app (its lifespan is the caller's) on 127.0.0.1.

    ``send_buffer_bytes`` fixes the kernel send buffer of every accepted connection (they inherit
    it from the listening socket): without it Linux grows a stalled client's buffer to 4 MiB, which
    a test would need half a minute of states to fill.
    """

    def __init__(self, app: FastAPI, *, send_buffer_bytes: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if send_buffer_bytes is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(app, lifespan="off", log_level="warning")
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live"

    async def __aenter__(self) -> Server:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


async def open_client(url: str, token: str) -> ClientConnection:
    """Connected and authenticated (the ``ready`` message read)."""
    ws = await connect(url, max_size=2**24)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    ready = await recv(ws)
    assert ready["type"] == "ready", ready
    return ws


async def recv(ws: ClientConnection, timeout_s: float = 10.0) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return value


async def recv_until(ws: ClientConnection, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The next message of type ``kind`` (others skipped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} message in {timeout_s} s"
        msg = await recv(ws, left)
        if msg["type"] == kind:
            return msg


async def subscribe(ws: ClientConnection, **targets: list[Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "subscribe", **targets}))
    while True:
        msg = await recv(ws)
        if msg["type"] in ("subscribed", "error"):
            return msg


class StalledClient:
    """A WebSocket client that authenticates, subscribes, and then never reads again.

    A raw TCP socket with a small receive buffer, so the service's sends back up within a second
    instead of after megabytes: the worst case a hub must survive.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(
            b"GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, value: dict[str, Any]) -> None:
        payload = json.dumps(value).encode()
        assert len(payload) < 65536
        head = (
            bytes([0x81, 0x80 | len(payload)])
            if len(payload) < 126
            else bytes([0x81, 0xFE]) + len(payload).to_bytes(2, "big")
        )
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def close(self) -> None:
        self.sock.close()
