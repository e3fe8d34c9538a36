"""The page's WGS-84 -> GCJ-02 port (js/geo.js) gives the service's own conversion, run in Chromium.

GCJ-02 tiles (Amap, Tencent) line up with the grids only if the page shifts positions exactly as
geofences/crs.py does; the JavaScript is run in the same headless Chromium the browser tests use and
compared point by point with `geofences.crs.wgs84_to_gcj02` over China and around its edges.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from app.web.routes import STATIC_DIR
from geofences.crs import wgs84_to_gcj02

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOLERANCE_DEG = 1e-9  # ~0.1 mm: the same formula in double precision on both sides

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    os.environ["SE_OFFLINE"] = "true"  # the system driver only: Selenium Manager fetches nothing
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _in_browser(driver: WebDriver, points: list[tuple[float, float]]) -> list[list[float]]:
    """geo.js evaluated as a classic script (its exports stripped) on a blank page, applied to points."""
    source = re.sub(r"^export ", "", (STATIC_DIR / "js" / "geo.js").read_text(encoding="utf-8"), flags=re.M)
    driver.get("about:blank")
    result: list[list[float]] = driver.execute_script(
        source + "\nreturn arguments[0].map(([lon, lat]) => wgs84ToGcj02(lon, lat));", points
    )
    return result


def test_the_page_shifts_to_gcj02_exactly_as_the_service_converts(chromium: WebDriver) -> None:
    points = [(73.0 + 8.0 * i, 18.0 + 5.0 * j) for i in range(9) for j in range(8)]
    points += [(120.5276, 31.494), (116.397, 39.908), (113.26, 23.13)]
    shifted = _in_browser(chromium, points)
    assert len(shifted) == len(points)
    moved = 0
    for (lon, lat), (js_lon, js_lat) in zip(points, shifted, strict=True):
        py_lon, py_lat = wgs84_to_gcj02(lon, lat)
        assert abs(js_lon - py_lon) < TOLERANCE_DEG and abs(js_lat - py_lat) < TOLERANCE_DEG, (lon, lat)
        moved += (js_lon, js_lat) != (lon, lat)
    assert moved > 60  # inside China the shift is hundreds of metres, not a no-op


def test_points_outside_china_are_not_shifted(chromium: WebDriver) -> None:
    points = [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7), (150.0, -33.9), (71.9, 30.0), (100.0, 0.5)]
    assert _in_browser(chromium, points) == [[lon, lat] for lon, lat in points]
