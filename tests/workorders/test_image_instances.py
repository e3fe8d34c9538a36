"""Two service instances on one PostgreSQL, each with its own data directory (as two containers):
an image uploaded to one is served with the same bytes by the other, and an image file an older
version left in one instance's data directory is moved into the database when that instance starts,
then served by both (issues 12 and 13: the command-center page showed broken photos)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.services import tokens
from tests.conftest import _with_database, auth
from tests.hostile.corpus import png
from tests.workorders.district import IN_G1, IN_G2, two_grids
from tests.workorders.test_detections import detection


@pytest.fixture
async def own_dsn(server_dsn: str) -> AsyncIterator[str]:
    name = f"aerogrid_images_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_dsn, name)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def instance(dsn: str, data_dir: Path) -> FastAPI:
    """An instance serving the API only: no links, telemetry, runs or schedules to start."""
    settings = Settings(
        database_url=dsn,
        data_dir=data_dir,
        instance_id=data_dir.name,
        links_enabled=False,
        telemetry_enabled=False,
        runs_enabled=False,
        schedules_enabled=False,
        plan_workers=1,
    )
    return create_app(settings)


async def started(stack: AsyncExitStack, app: FastAPI) -> httpx.AsyncClient:
    await stack.enter_async_context(app.router.lifespan_context(app))
    transport = httpx.ASGITransport(app=app)
    return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://a.test"))


async def test_an_image_uploaded_to_one_instance_is_served_by_the_other(own_dsn: str, tmp_path: Path) -> None:
    legacy = png(21, 16)  # written by an older version into instance B's data directory
    legacy_name = f"{hashlib.sha256(legacy).hexdigest()}.png"
    (tmp_path / "b" / "detections").mkdir(parents=True)
    (tmp_path / "b" / "detections" / legacy_name).write_bytes(legacy)
    async with AsyncExitStack() as stack:
        a_app = instance(own_dsn, tmp_path / "a")
        a = await started(stack, a_app)
        pool: asyncpg.Pool = a_app.state.db.pool
        async with pool.acquire() as conn:
            admin, _ = await tokens.create(
                conn, name="admin", role=Role.ADMIN, communities=None, created_by=None
            )
            operator, _ = await tokens.create(
                conn, name="ops", role=Role.OPERATOR, communities=None, created_by=None
            )
        ops = auth(operator)
        await two_grids(pool, a, admin)
        old = (await a.post("/detections", json=detection(IN_G2, type="crowd"), headers=ops)).json()
        async with pool.acquire() as conn:  # the row as the older version wrote it
            await conn.execute(
                "UPDATE detections SET image_file = $2, image_type = 'image/png' WHERE id = $1",
                old["id"],
                legacy_name,
            )
        assert (await a.get(f"/detections/{old['id']}/image", headers=ops)).status_code == 404

        b = await started(stack, instance(own_dsn, tmp_path / "b"))  # moves B's file at start
        assert not (tmp_path / "b" / "detections").exists()
        for client in (a, b):
            got = await client.get(f"/detections/{old['id']}/image", headers=ops)
            assert got.status_code == 200 and got.content == legacy

        for sender, receiver, image, at in ((a, b, png(22, 16), IN_G1), (b, a, png(23, 16), IN_G2)):
            body = detection(at, image={"data_base64": base64.b64encode(image).decode()})
            r = await sender.post("/detections", json=body, headers=ops)
            assert r.status_code == 201, r.text
            got = await receiver.get(r.json()["image"]["url"], headers=ops)
            assert got.status_code == 200, got.text
            assert got.content == image and got.headers["content-type"] == "image/png"
            assert got.headers["etag"] == f'"{hashlib.sha256(image).hexdigest()}"'
        assert not (tmp_path / "a" / "detections").exists() and not (tmp_path / "b" / "detections").exists()
