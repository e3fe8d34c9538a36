"""The hostile corpus for what routes read inside their inputs: GeoJSON, images, schedules, ranges.

Malformed geometry of every kind against every route that takes one (grid and zone imports, one
zone, a planning area, a detection's position), a million vertices, images that are not images,
RRULEs, time zones and dates that cannot be, ranges that end before they start, bodies over the size
limit (with Content-Length and chunked), and SQL-looking text, which is stored verbatim. Like
tests/hostile/test_corpus_routes.py, every hostile request travels on one keep-alive connection to
a real uvicorn, must be a 4xx in the one shape naming the field, and must write nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import auth, wipe_district
from tests.hostile import corpus
from tests.hostile.corpus import LAT0, LON0, Campaign, campaign_on
from tests.live.wsclient import Server

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
async def server(app: FastAPI) -> AsyncIterator[Server]:
    async with Server(app) as s:
        yield s


@pytest.fixture(scope="module")
async def admin(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> AsyncIterator[dict[str, str]]:
    """A district of one grid (G1, holding HOME), so that only the hostile part of a request is wrong.

    Afterwards the detection alerts this module opened are deleted (with their detections): left
    open, they would be joined by later suites' detections of the same type nearby.
    """
    await wipe_district(pool)
    headers = {**auth(role_tokens["admin"]), **JSON}
    doc = corpus.feature_collection(corpus.grid_feature("G1", corpus.square(LON0, LAT0)))
    r = await client.post("/grids/import", json=doc, headers=headers)
    assert r.status_code == 200, r.text
    yield headers
    async with pool.acquire() as conn:
        await conn.execute(
            "DELETE FROM detection_alerts WHERE id IN"
            " (SELECT alert_id FROM detections WHERE idempotency_key LIKE 'whole-%')"
        )


@pytest.fixture
async def campaign(
    request: pytest.FixtureRequest, server: Server, admin: dict[str, str], pool: asyncpg.Pool
) -> AsyncIterator[Campaign]:
    async with campaign_on(server.port, admin, pool, request.node.name) as run:
        yield run


def raw(value: Any) -> bytes:
    return json.dumps(value).encode()


# --- GeoJSON ----------------------------------------------------------------------------------


def geometry_targets(geometry: Any) -> list[tuple[str, str, Any, str]]:
    """(method, url, body, field) for every route that reads a geometry, with ``geometry`` in it."""
    grid = corpus.grid_feature("G2", corpus.square(LON0, LAT0))
    grid["geometry"] = geometry
    detection = dict(corpus.valid_bodies()["POST /detections"], position=geometry)
    plan = dict(corpus.valid_bodies()["POST /missions/plan"], area=geometry)
    return [
        ("POST", "/grids/import", corpus.feature_collection(grid), "features.0.geometry"),
        (
            "POST",
            "/geofences/import",
            corpus.feature_collection(corpus.zone_feature("Z1", geometry)),
            "features.0.geometry",
        ),
        ("POST", "/geofences", corpus.zone_feature("Z1", geometry), "geometry"),
        ("PUT", "/geofences/Z1", corpus.zone_feature("Z1", geometry), "geometry"),
        ("POST", "/missions/plan", plan, "area"),
        ("POST", "/detections", detection, "position"),
    ]


RFC_7946_VALID_ELSEWHERE = {"3d-coordinates"}
"""RFC 7946 positions may carry an altitude: grids, zones and a planning area take it (and drop it);
a detection's position is documented as [lon, lat] and refuses it."""


@pytest.mark.parametrize("case", list(corpus.bad_geometries()))
async def test_malformed_geometry_is_refused_by_every_route_that_reads_one(
    campaign: Campaign, case: str
) -> None:
    geometry = corpus.bad_geometries()[case]
    for method, url, body, field in geometry_targets(geometry):
        if case in RFC_7946_VALID_ELSEWHERE and url != "/detections":
            continue
        if geometry is None and url == "/missions/plan":
            continue  # area null is the documented default: the whole grid
        await campaign.expect(case, method, url, raw(body), field=field)
    campaign.assert_clean()


@pytest.mark.parametrize("literal", (*corpus.NON_FINITE, "1e999"))
async def test_non_finite_coordinates_are_refused_by_every_route_that_reads_one(
    campaign: Campaign, literal: str
) -> None:
    ring = corpus.square(LON0, LAT0)
    marked: list[list[Any]] = [[corpus.MARKER, ring[0][1]], *ring[1:-1], [corpus.MARKER, ring[0][1]]]
    for method, url, body, field in geometry_targets(corpus.polygon(marked)):
        text = json.dumps(body).replace(json.dumps(corpus.MARKER), literal)
        await campaign.expect(literal, method, url, text.encode(), field=field)
    campaign.assert_clean()


async def test_empty_collections_are_refused(campaign: Campaign) -> None:
    empty = {"type": "FeatureCollection", "features": []}
    for url in ("/grids/import", "/geofences/import"):
        await campaign.expect(url, "POST", url, raw(empty), field="features")
    plan = dict(corpus.valid_bodies()["POST /missions/plan"], kind="inspect", sites=empty)
    await campaign.expect("no sites", "POST", "/missions/plan", raw(plan), field="sites")
    campaign.assert_clean()


async def test_a_million_vertices_is_refused_naming_the_limit(campaign: Campaign) -> None:
    """About 15 MB: under the body limit, so the decoder and the GeoJSON validator both see it."""
    feature = corpus.grid_feature("M1", [[corpus.MARKER]])
    text = json.dumps(corpus.feature_collection(feature)).encode()
    body = text.replace(f"[[{json.dumps(corpus.MARKER)}]]".encode(), corpus.million_vertex_ring())
    await campaign.expect("1e6", "POST", "/grids/import", body, field="features.0.geometry", contains="10000")
    campaign.assert_clean()


# --- images -----------------------------------------------------------------------------------


async def stored_images(app: FastAPI) -> int:
    async with app.state.db.pool.acquire() as conn:
        n: int = await conn.fetchval("SELECT count(*) FROM images")
    return n


@pytest.mark.parametrize("case", list(corpus.not_images()))
async def test_an_image_that_is_not_a_jpeg_or_png_is_refused_and_nothing_is_kept(
    campaign: Campaign, app: FastAPI, case: str
) -> None:
    before = await stored_images(app)
    data = base64.b64encode(corpus.not_images()[case]).decode()
    body = dict(corpus.valid_bodies()["POST /detections"], idempotency_key=f"img-{case}")
    body["image"] = {"data_base64": data}
    await campaign.expect(case, "POST", "/detections", raw(body), field="image.data_base64")
    assert await stored_images(app) == before
    campaign.assert_clean()


async def test_a_whole_small_jpeg_and_png_are_stored_and_read_back(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The structural check refuses the corpus above, not real images."""
    for name, data, mime in (("jpeg", corpus.jpeg(), "image/jpeg"), ("png", corpus.png(16, 16), "image/png")):
        body = dict(corpus.valid_bodies()["POST /detections"], idempotency_key=f"whole-{name}")
        body["image"] = {"data_base64": base64.b64encode(data).decode()}
        r = await client.post("/detections", json=body, headers=admin)
        assert r.status_code == 201, r.text
        image = await client.get(r.json()["image"]["url"], headers=admin)
        assert (image.status_code, image.content, image.headers["content-type"]) == (200, data, mime)


@pytest.mark.parametrize(
    "image",
    [
        {"data_base64": "not base64 !"},
        {"url": "javascript:alert(1)"},
        {"url": "data:image/svg+xml;base64,PHN2Zz4="},
        {},
    ],
    ids=["bad-base64", "javascript-url", "data-url", "neither"],
)
async def test_an_image_reference_that_is_not_http_or_base64_is_refused(
    campaign: Campaign, image: dict[str, str]
) -> None:
    body = dict(corpus.valid_bodies()["POST /detections"], image=image)
    await campaign.expect(str(image), "POST", "/detections", raw(body), field="image")
    campaign.assert_clean()


@pytest.mark.parametrize(
    "photo",
    [
        "javascript:alert(1)",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "file:///etc/passwd",
        "\\\\host\\share",
    ],
)
async def test_a_work_order_photo_that_is_not_an_http_url_is_refused(campaign: Campaign, photo: str) -> None:
    body = {"feedback": "done", "photos": [photo]}
    await campaign.expect(photo, "POST", "/work-orders/1/resolve", raw(body), field="photos.0")
    campaign.assert_clean()


# --- schedules: rules, zones, dates -----------------------------------------------------------

BAD_SCHEDULE_FIELDS: list[tuple[str, Any, str]] = [
    ("rrule", "FREQ=SOMETIMES", "rrule"),
    ("rrule", "FREQ=DAILY;BYHOUR=25", "rrule"),
    ("rrule", "FREQ=SECONDLY", "rrule"),
    ("rrule", "FREQ=MINUTELY;INTERVAL=1", "rrule"),
    ("rrule", "FREQ=DAILY;COUNT=1;UNTIL=20300101T000000Z", "rrule"),
    ("rrule", "FREQ=DAILY\nRRULE:FREQ=HOURLY", "rrule"),
    ("rrule", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "rrule"),
    ("rrule", "FREQ=DAILY;UNTIL=20200101T000000Z", "rrule"),
    ("rrule", "'; DROP TABLE schedules; --", "rrule"),
    ("timezone", "Mars/Olympus_Mons", "timezone"),
    ("timezone", "UTC+8", "timezone"),
    ("timezone", "../../../etc/passwd", "timezone"),
    ("timezone", "Asia/Shanghai\x01", "timezone"),
    ("start_at", "2030-02-30T08:00:00", "start_at"),
    ("start_at", "2029-02-29T08:00:00", "start_at"),
    ("start_at", "2030-13-01T08:00:00", "start_at"),
    ("start_at", "2030-01-01T24:30:00", "start_at"),
    ("start_at", "0001-01-01T00:00:00", "start_at"),
    ("start_at", "9999-12-31T23:59:59+14:00", "start_at"),
    ("start_at", "next tuesday", "start_at"),
    ("window", {"start": "25:00", "end": "26:00"}, "window.start"),
    ("window", {"start": "18:00", "end": "07:00"}, "window.end"),
    ("blackout_dates", ["2030-02-30"], "blackout_dates.0"),
    ("blackout_dates", ["2030-01-01"] * 367, "blackout_dates"),
    ("quiet_hours", {"start": "07:61", "end": "08:00"}, "quiet_hours.start"),
]


async def test_bad_rrules_time_zones_and_dates_are_refused(campaign: Campaign) -> None:
    """Checked before the mission is looked up, so the mission need not exist."""
    valid = corpus.valid_bodies()["POST /schedules"]
    for name, value, field in BAD_SCHEDULE_FIELDS:
        body = {**valid, name: value}
        await campaign.expect(
            f"{name}={value!r:.40}", "POST", "/schedules", raw(body), field=field, follow_up=False
        )
    one_off = {**valid, "rrule": None, "start_at": "2000-01-01T08:00:00"}
    await campaign.expect("one-off in the past", "POST", "/schedules", raw(one_off), field="start_at")
    campaign.assert_clean()


# --- control characters ---------------------------------------------------------------------


async def test_every_control_character_is_refused_but_tab_and_line_breaks(campaign: Campaign) -> None:
    """In free text (a detection type filter takes any text up to 64 characters)."""
    for char in corpus.CONTROL_CHARACTERS:
        url = f"/detections?type={corpus.encoded('a' + char + 'b')}"
        await campaign.expect(f"U+{ord(char):04X}", "GET", url, field="query.type", follow_up=False)
    for char in "\t\n\r":
        answer = await campaign.conn.request(
            "GET", f"/detections?type={corpus.encoded(char)}", campaign.headers
        )
        assert answer.status == 200, (char, answer)
    campaign.assert_clean()


# --- ranges -----------------------------------------------------------------------------------

LATER, EARLIER = "2030-01-02T00:00:00Z", "2030-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "url",
    ["/alerts", "/alerts/counts", "/telemetry/samples", "/telemetry/events", "/stats/work-orders"],
)
async def test_a_range_that_ends_before_it_starts_is_refused(campaign: Campaign, url: str) -> None:
    await campaign.expect("from>to", "GET", f"{url}?from={LATER}&to={EARLIER}", field="from")
    campaign.assert_clean()


async def test_a_telemetry_range_beyond_the_allowed_span_is_refused(campaign: Campaign) -> None:
    url = "/telemetry/samples?from=1990-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"
    await campaign.expect("40 years", "GET", url, field="to")
    campaign.assert_clean()


# --- huge bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413_and_the_connection_serves_on(
    campaign: Campaign, app: FastAPI, chunked: bool
) -> None:
    """Refused by its declared length or as the chunks arrive; the rest is drained, not parsed."""
    limit: int = app.state.settings.max_body_bytes
    body = b'{"name": "' + b"x" * (limit + 1_000_000) + b'"}'
    await campaign.expect("over", "POST", "/drones", body, field="body", statuses=(413,), chunked=chunked)
    campaign.assert_clean()


# --- SQL-looking text -------------------------------------------------------------------------


@pytest.mark.parametrize("text", corpus.SQL_LOOKING)
async def test_sql_looking_text_is_stored_verbatim_and_never_run(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, text: str
) -> None:
    """A token name, a drone name and a work order's title come back exactly as sent, and every
    table the text names still holds its rows."""
    before = await corpus.table_counts(pool)
    token = await client.post("/tokens", json={"name": text, "role": "viewer"}, headers=admin)
    drone_body = dict(corpus.valid_bodies()["POST /drones"], name=text)
    drone = await client.post("/drones", json=drone_body, headers=admin)
    order_body = dict(corpus.valid_bodies()["POST /work-orders"], title=text, external_ref=text)
    order = await client.post("/work-orders", json=order_body, headers=admin)
    for r in (token, drone, order):
        assert r.status_code == 201, r.text
    assert (await client.get(token.headers["Location"], headers=admin)).json()["name"] == text
    assert (await client.get(f"/drones/{drone.json()['id']}", headers=admin)).json()["name"] == text
    assert (await client.get(f"/work-orders/{order.json()['id']}", headers=admin)).json()["title"] == text
    after = await corpus.table_counts(pool)
    assert after["grids"] == before["grids"] == 1
    assert after["drones"] == before["drones"] + 1
    assert after["api_tokens"] == before["api_tokens"] + 1
    assert (await client.delete(f"/drones/{drone.json()['id']}", headers=admin)).status_code == 204
