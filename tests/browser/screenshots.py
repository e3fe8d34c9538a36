"""Make the operator guide's screenshots (docs/screenshots/*.png) from the real page.

    .venv/bin/python -m tests.browser.screenshots [--out docs/screenshots]

Starts what the browser tests start (tests/browser/stack.py: an embedded PostgreSQL unless
DATABASE_URL is set, the service, simulated drones flying coverage runs), opens the page in headless
Chromium at 1400x900 and saves: the district with drones moving (``command-center.png``), an alert
in the feed after a low battery is injected (``alert.png``), a work order's detail
(``work-order.png``) and the page in Chinese (``command-center-zh.png``).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.browser.browser import launch, missing_parts, one, sign_in, visible, wait_for
from tests.browser.stack import District, ServiceStack

log = logging.getLogger("screenshots")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TRACK_S = 15.0
"""How long the drones fly on the open page before the first picture, so their tracks show."""


@contextmanager
def database() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    from app.db.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="aerogrid-shots-pg-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver runs the server as its own user when we are root
        embedded = EmbeddedPostgres(Path(tmp) / "pgdata")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


def shoot(district: District, out: Path, work: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    driver = launch(work)
    try:
        sign_in(driver, district.url_a, district.tokens["operator"], "operator")
        time.sleep(TRACK_S)
        one(driver, f'#drones [data-drone-row="{district.flying[0].drone_id}"]').click()
        time.sleep(1.0)
        driver.save_screenshot(str(out / "command-center.png"))

        district.loop.call(lambda: district.pads[0].vehicle.faults.battery_sag(93.0))
        wait_for(
            driver,
            "the alert",
            lambda d: d.find_elements(By.CSS_SELECTOR, '#alerts li[data-kind="battery_low"]'),
        )
        one(driver, f'#drones [data-drone-row="{district.pads[0].drone_id}"]').click()
        time.sleep(1.0)
        driver.save_screenshot(str(out / "alert.png"))

        one(driver, f'#workorders [data-workorder-id="{district.workorder_resolved}"]').click()
        wait_for(driver, "the work order's detail", lambda d: visible(d, "#workorder-detail"))
        time.sleep(0.5)
        driver.save_screenshot(str(out / "work-order.png"))
    finally:
        driver.quit()
    driver = launch(work, lang="zh-CN")
    try:
        sign_in(driver, district.url_a, district.tokens["operator"], "operator")
        time.sleep(2.0)
        driver.save_screenshot(str(out / "command-center-zh.png"))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DOCS, help="where the PNGs go (default docs/screenshots)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if reason := missing_parts():
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="aerogrid-shots-") as tmp, database() as dsn:
        stack = ServiceStack(dsn, Path(tmp))
        district = stack.start()
        try:
            shoot(district, args.out, Path(tmp))
        finally:
            stack.stop()
    log.info("screenshots written to %s", args.out)


if __name__ == "__main__":
    main()
