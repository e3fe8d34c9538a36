"""Detections through the API: filed under the grid, duplicates inside the radius and window join
one detection alert with one work order for the grid's worker, images checked from their bytes and
served only to tokens that may see them, and every bad input refused with nothing written."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth
from tests.hostile.corpus import png
from tests.workorders.district import G1_WORKER, G2_WORKER, IN_G1, IN_G2, scoped_token, two_grids

PNG = png(16, 16)  # a whole PNG: the service checks the structure, not only the magic


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
    image = {"data_base64": base64.b64encode(PNG).decode()}
    r = await client.post("/detections", json=detection(IN_G1, image=image), headers=ops)
    assert r.status_code == 201, r.text
    url = r.json()["image"]["url"]
    got = await client.get(url, headers=ops)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
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
        ({"position": {"type": "Point", "coordinates": [121.9, 31.49]}}, "position"),
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
            " + (SELECT count(*) FROM work_orders)"
        )
    r = await client.post("/detections", json=detection(IN_G1, **change), headers=ops)
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == field
    async with pool.acquire() as conn:
        after = await conn.fetchval(
            "SELECT (SELECT count(*) FROM detections) + (SELECT count(*) FROM detection_alerts)"
            " + (SELECT count(*) FROM work_orders)"
        )
    assert after == before
    image_dir = app.state.settings.data_dir / "detections"
    assert not list(image_dir.glob(".*.part")) if image_dir.exists() else True
