"""Detections through the API: filed under the grid, duplicates inside the radius and window join
one detection alert with one work order for the grid's worker, images checked from their bytes and
served only to tokens that may see them, and every bad input refused with nothing written."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.services.legacy_images import MoveReport, move_legacy_images
from tests.conftest import auth
from tests.hostile.corpus import png
from tests.workorders.district import G1_WORKER, G2_WORKER, IN_G1, IN_G2, scoped_token, two_grids

PNG = png(16, 16)  # a whole PNG: the service checks the structure, not only the magic
FAR_AWAY = {"type": "Point", "coordinates": [121.9, 31.49]}


@pytest.fixture
async def ops(pool: asyncpg.Pool, client: httpx.AsyncClient, role_tokens: dict[str, str]) -> dict[str, str]:
    await two_grids(pool, client, role_tokens["admin"])
    return auth(role_tokens["operator"])


def detection(at: dict[str, float], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "idempotency_key": secrets.token_hex(8),
        "type": "illegal_dumping",
        "confidence": 0.9,
        "detected_at": "2031-05-01T10:00:00Z",
        "position": {"type": "Point", "coordinates": [at["lon_deg"], at["lat_deg"]]},
    }
    body.update(extra)
    return body


def near(at: dict[str, float], east_m: float) -> dict[str, float]:
    return {"lon_deg": at["lon_deg"] + east_m / 95_000, "lat_deg": at["lat_deg"]}


async def test_duplicates_inside_the_radius_and_window_join_one_alert_and_one_order_per_grid(
    client: httpx.AsyncClient, ops: dict[str, str]
) -> None:
    first = (await client.post("/detections", json=detection(IN_G1), headers=ops)).json()
    second = await client.post(
        "/detections", json=detection(near(IN_G1, 20), detected_at="2031-05-01T10:05:00Z"), headers=ops
    )
    assert second.status_code == 201, second.text
    assert first["grid_code"] == "G1" and not first["outside_district"]
    assert second.json()["alert"] == {"id": first["alert"]["id"], "detection_count": 2, "state": "open"}
    assert second.json()["work_order_id"] == first["work_order_id"] is not None
    far_in_time = await client.post(
        "/detections", json=detection(IN_G1, detected_at="2031-05-01T14:00:00Z"), headers=ops
    )
    assert far_in_time.json()["alert"]["id"] != first["alert"]["id"]
    other_grid = (await client.post("/detections", json=detection(IN_G2), headers=ops)).json()
    assert other_grid["grid_code"] == "G2" and other_grid["alert"]["detection_count"] == 1
    orders = {
        o["grid_code"]: o
        for o in [
            (await client.get(f"/work-orders/{d['work_order_id']}", headers=ops)).json()
            for d in (first, other_grid)
        ]
    }
    assert orders["G1"]["assignee"]["name"] == G1_WORKER[0] and orders["G1"]["channel"] == "drone"
    assert orders["G2"]["assignee"]["name"] == G2_WORKER[0]
    assert orders["G1"]["type"] == "illegal_dumping" and orders["G1"]["state"] == "assigned"


async def test_the_same_idempotency_key_returns_the_first_detection(
    client: httpx.AsyncClient, ops: dict[str, str]
) -> None:
    body = detection(IN_G1, type="fallen_tree")
    first = await client.post("/detections", json=body, headers=ops)
    again = await client.post("/detections", json=body, headers=ops)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["alert"]["detection_count"] == 1


async def test_a_position_near_but_outside_every_grid_is_filed_outside_the_district(
    client: httpx.AsyncClient, ops: dict[str, str]
) -> None:
    r = await client.post("/detections", json=detection(near(IN_G1, -500), type="crowd"), headers=ops)
    assert r.status_code == 201 and r.json()["outside_district"] and r.json()["grid_code"] is None


async def test_an_uploaded_png_is_stored_and_served_only_to_tokens_that_see_it(
    client: httpx.AsyncClient, ops: dict[str, str], role_tokens: dict[str, str]
) -> None:
    """Served from the database; tests/workorders/test_image_instances.py serves it from another instance."""
    image = {"data_base64": base64.b64encode(PNG).decode()}
    r = await client.post("/detections", json=detection(IN_G1, image=image), headers=ops)
    assert r.status_code == 201, r.text
    url = r.json()["image"]["url"]
    got = await client.get(url, headers=ops)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert got.headers["etag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
    assert got.headers["cache-control"] == "private, no-store" and "last-modified" in got.headers
    c2 = await scoped_token(client, role_tokens["admin"], "viewer", "C2")
    assert (await client.get(url, headers=c2)).status_code == 404
    assert (await client.get(url)).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "ufo"}, "type"),
        ({"confidence": 1.5}, "body.confidence"),
        ({"confidence": 0.1}, "confidence"),
        ({"image": {"data_base64": base64.b64encode(b"GIF89a not allowed").decode()}}, "image.data_base64"),
        (
            {"image": {"data_base64": base64.b64encode(PNG + b"\x00" * 5_000_000).decode()}},
            "image.data_base64",
        ),
        ({"image": {"url": "file:///etc/passwd"}}, "body.image.url"),
        ({"position": FAR_AWAY}, "position"),
        (
            {"position": FAR_AWAY, "image": {"data_base64": base64.b64encode(png(17, 16)).decode()}},
            "position",
        ),
    ],
)
async def test_bad_detections_are_422_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient,
    ops: dict[str, str],
    pool: asyncpg.Pool,
    app: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    async with pool.acquire() as conn:
        before = await conn.fetchval(
            "SELECT (SELECT count(*) FROM detections) + (SELECT count(*) FROM detection_alerts)"
            " + (SELECT count(*) FROM work_orders) + (SELECT count(*) FROM images)"
        )
    r = await client.post("/detections", json=detection(IN_G1, **change), headers=ops)
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == field
    async with pool.acquire() as conn:
        after = await conn.fetchval(
            "SELECT (SELECT count(*) FROM detections) + (SELECT count(*) FROM detection_alerts)"
            " + (SELECT count(*) FROM work_orders) + (SELECT count(*) FROM images)"
        )
    assert after == before
    assert not (app.state.settings.data_dir / "detections").exists()


async def test_image_files_of_older_versions_are_moved_into_the_database_once_and_still_served(
    client: httpx.AsyncClient,
    ops: dict[str, str],
    pool: asyncpg.Pool,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    legacy = png(19, 16)
    sha256 = hashlib.sha256(legacy).hexdigest()
    r = await client.post("/detections", json=detection(IN_G1, type="fallen_tree"), headers=ops)
    detection_id = r.json()["id"]
    async with pool.acquire() as conn:  # the row as an older version wrote it, its file beside it
        await conn.execute(
            "UPDATE detections SET image_file = $2, image_type = 'image/png' WHERE id = $1",
            detection_id,
            f"{sha256}.png",
        )
    assert (await client.get(f"/detections/{detection_id}/image", headers=ops)).status_code == 404
    image_dir = tmp_path / "detections"
    image_dir.mkdir()
    (image_dir / f"{sha256}.png").write_bytes(legacy)
    (image_dir / f".{sha256}.png.0a1b2c3d.part").write_bytes(legacy[:10])  # an old crash's leftover
    stray = hashlib.sha256(b"stray").hexdigest()
    (image_dir / f"{stray}.png").write_bytes(b"stray")  # bytes that do not match the name: kept

    with caplog.at_level(logging.INFO, logger="app.services.legacy_images"):
        first = await move_legacy_images(pool, image_dir)
    assert first == MoveReport(files_moved=1, detections_moved=1, files_left=1, detections_elsewhere=0)
    assert "moved 1 image files (1 detections)" in caplog.text
    assert sorted(p.name for p in image_dir.iterdir()) == [f"{stray}.png"]
    got = await client.get(f"/detections/{detection_id}/image", headers=ops)
    assert got.status_code == 200 and got.content == legacy and got.headers["content-type"] == "image/png"
    detail = (await client.get(f"/detections/{detection_id}", headers=ops)).json()
    assert detail["image"] == {"url": f"/detections/{detection_id}/image", "type": "image/png"}

    again = await move_legacy_images(pool, image_dir)
    assert again == MoveReport(files_moved=0, detections_moved=0, files_left=1, detections_elsewhere=0)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM images WHERE sha256 = $1", sha256) == 1


async def test_a_detection_whose_file_another_instance_holds_is_counted_and_its_image_404(
    client: httpx.AsyncClient, ops: dict[str, str], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    r = await client.post("/detections", json=detection(IN_G1, type="crowd"), headers=ops)
    detection_id = r.json()["id"]
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE detections SET image_file = $2, image_type = 'image/jpeg' WHERE id = $1",
            detection_id,
            f"{'ab' * 32}.jpg",
        )
    try:
        report = await move_legacy_images(pool, tmp_path / "no-such-dir")
        assert report == MoveReport(files_moved=0, detections_moved=0, files_left=0, detections_elsewhere=1)
        detail = (await client.get(f"/detections/{detection_id}", headers=ops)).json()
        assert detail["image"] == {"url": f"/detections/{detection_id}/image", "type": "image/jpeg"}
        assert (await client.get(f"/detections/{detection_id}/image", headers=ops)).status_code == 404
    finally:  # the other tests' moves must not count it
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE detections SET image_file = NULL, image_type = NULL WHERE id = $1", detection_id
            )
