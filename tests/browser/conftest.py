"""Fixtures of the browser tests: the running district (tests/browser/stack.py) and browsers on it.

Every browser a test opens is screenshotted when the test ends, passed or failed, to
``test-artifacts/browser/<test name>[-<n>].png`` beside its remaining console lines (``.log``): CI
keeps them as the record of what the page showed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver as Chrome

from tests.browser.browser import console_entries, launch, missing_parts
from tests.browser.stack import District, ServiceStack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

Launcher = Callable[..., Chrome]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every browser test, with the reason, where Debian's chromium or its driver is absent."""
    reason = missing_parts()
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="package")
def district(server_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[District]:
    """Started once for tests/browser and stopped when its last test ends, not at the end of the run:
    flying drones, a second instance and open pages would load the machine under every later test."""
    stack = ServiceStack(server_dsn, tmp_path_factory.mktemp("browser-stack"))
    district = stack.start()
    try:
        yield district
    finally:
        stack.stop()


class Browsers:
    """One headless Chromium per language for the whole run, started on first use.

    Starting Chromium costs seconds on a busy machine; a tab costs little. Each test gets fresh tabs
    (sessionStorage, which holds the page's token, belongs to a tab), so no sign-in carries over.
    """

    def __init__(self, profile_dir: Path) -> None:
        self.profile_dir = profile_dir
        self.by_lang: dict[str, Chrome] = {}

    def get(self, lang: str) -> Chrome:
        if lang not in self.by_lang:
            self.by_lang[lang] = launch(self.profile_dir, lang=lang)
        return self.by_lang[lang]

    def close(self) -> None:
        for driver in self.by_lang.values():
            driver.quit()


@pytest.fixture(scope="package")
def browsers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browsers]:
    profile_dir = tmp_path_factory.mktemp("browser-profiles")
    pool = Browsers(profile_dir)
    try:
        yield pool
    finally:
        pool.close()
        shutil.rmtree(profile_dir, ignore_errors=True)


@pytest.fixture
def open_browser(request: pytest.FixtureRequest, browsers: Browsers) -> Iterator[Launcher]:
    """``open_browser(lang="zh-CN")``: a new tab of that language's browser, the only tab open.

    Each tab is screenshotted (with its console lines) when the test opens the next one or ends,
    passed or failed, as ``<test name>[-<n>].png``.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened: list[Chrome] = []

    def keep(driver: Chrome) -> None:
        stem = request.node.name + (f"-{len(opened) - 1}" if len(opened) > 1 else "")
        driver.save_screenshot(str(ARTIFACTS / f"{stem}.png"))
        lines = console_entries(driver)
        (ARTIFACTS / f"{stem}.log").write_text("".join(json.dumps(x) + "\n" for x in lines))

    def fresh_tab(driver: Chrome) -> None:
        old = driver.window_handles
        driver.switch_to.new_window("tab")
        for handle in old:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(driver.window_handles[0])
        console_entries(driver)  # the closed tabs' lines belong to earlier tests

    def opener(*, lang: str = "en-US") -> Chrome:
        driver = browsers.get(lang)
        if opened:
            keep(opened[-1])
        fresh_tab(driver)
        opened.append(driver)
        return driver

    yield opener
    if opened:
        keep(opened[-1])
