"""Headless Chromium from Debian's packages, driven by Selenium, and the page's sign-in.

Only the system browser and driver are used: the Service names /usr/bin/chromedriver and the options
name /usr/bin/chromium, so Selenium Manager has nothing to look up, and SE_OFFLINE keeps it from
downloading anything should it run at all. Every browser gets a fresh profile directory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver as Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 900)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing_parts() -> str | None:
    """Why the browser tests cannot run here, or None."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    return (
        f"{' and '.join(absent)} not installed (apt-get install chromium chromium-driver)" if absent else None
    )


def launch(profile_dir: Path, *, lang: str = "en-US") -> Chrome:
    """A headless Chromium whose navigator.languages starts with ``lang``, logging every console line."""
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='profile-', dir=profile_dir)}")
    options.add_argument(f"--lang={lang}")
    options.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},{lang.split('-')[0]}"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    # --window-size is the window's outer size: grow it so the page itself gets WINDOW.
    inner_w, inner_h = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * WINDOW[0] - int(inner_w), 2 * WINDOW[1] - int(inner_h))
    return driver


def wait_for(
    driver: WebDriver, what: str, condition: Callable[[WebDriver], object], timeout_s: float = 10.0
) -> object:
    """``condition`` polled every 100 ms until truthy; the assertion names ``what`` otherwise.

    An element the page replaced between finding and using it (the lists re-render on every live
    update) is retried like a false condition.
    """
    waiting = WebDriverWait(
        driver,
        timeout_s,
        poll_frequency=0.1,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )
    try:
        return waiting.until(condition)
    except TimeoutException as exc:
        raise AssertionError(f"{what}: not within {timeout_s} s") from exc


# Reads go through one script each, so they see one rendering of the page, never half of two.
_VISIBLE_JS = "return [...document.querySelectorAll(arguments[0])].some((e) => e.checkVisibility())"
_ATTRS_JS = """const e = document.querySelector(arguments[0]);
return e ? Object.fromEntries(arguments[1].map((n) => [n, e.getAttribute(n)])) : null;"""
_ALL_ATTR_JS = "return [...document.querySelectorAll(arguments[0])].map((e) => e.getAttribute(arguments[1]))"
_TEXT_JS = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null"
_SHOWN_TEXTS_JS = """return [...document.querySelectorAll(arguments[0])]
  .filter((e) => e.checkVisibility()).map((e) => e.innerText).filter(Boolean)"""


def visible(driver: WebDriver, css: str) -> bool:
    """Some element matching ``css`` is rendered (neither it nor an ancestor hidden)."""
    return bool(driver.execute_script(_VISIBLE_JS, css))


def attrs(driver: WebDriver, css: str, *names: str) -> dict[str, str | None] | None:
    """The attributes of the first element matching ``css``; None when there is none."""
    found: dict[str, str | None] | None = driver.execute_script(_ATTRS_JS, css, list(names))
    return found


def attr(driver: WebDriver, css: str, name: str) -> str | None:
    found = attrs(driver, css, name)
    return None if found is None else found[name]


def all_attr(driver: WebDriver, css: str, name: str) -> list[str | None]:
    values: list[str | None] = driver.execute_script(_ALL_ATTR_JS, css, name)
    return values


def text(driver: WebDriver, css: str) -> str:
    """The rendered text of the first element matching ``css`` ("" when there is none)."""
    return str(driver.execute_script(_TEXT_JS, css) or "")


def shown_texts(driver: WebDriver, css: str) -> list[str]:
    """The rendered texts of the visible elements matching ``css`` that have any."""
    texts: list[str] = driver.execute_script(_SHOWN_TEXTS_JS, css)
    return texts


def count(driver: WebDriver, css: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, css))


def one(driver: WebDriver, css: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, css)


def click(driver: WebDriver, css: str, what: str) -> None:
    """A real click on the first element matching ``css``, found again if the page replaced it."""

    def clicked(d: WebDriver) -> bool:
        one(d, css).click()
        return True

    wait_for(driver, f"click {what}", clicked)


def signin_ready(driver: WebDriver) -> bool:
    """The sign-in form is shown and the page's script has taken it over.

    The form is in the page's HTML, visible before the script has loaded its labels and attached
    its submit handler; a click then would submit the form natively. The script focuses the token
    field once it has, which is what this waits for.
    """
    focused = driver.execute_script("return document.activeElement && document.activeElement.id")
    return focused == "signin-token" and visible(driver, "#signin-token")


def open_signin(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/")
    wait_for(driver, "the sign-in form, ready", signin_ready)


def sign_in(driver: WebDriver, base_url: str, token: str, role: str) -> None:
    """Open the page, sign in with ``token`` and wait until the app shows for ``role``, connected."""
    open_signin(driver, base_url)
    one(driver, "#signin-token").send_keys(token)
    click(driver, "#signin-submit", "sign in")
    wait_for(
        driver,
        f"signed in as {role}",
        lambda d: d.execute_script("return document.body.dataset.role") == role and visible(d, "#app"),
    )
    assert not visible(driver, "#signin"), "the sign-in form hides once signed in"
    wait_for(
        driver, "the live stream connected", lambda d: attr(d, "#conn-status", "data-state") == "connected"
    )


def console_entries(driver: Chrome) -> list[dict[str, Any]]:
    """The browser's console lines since the last call (Chromium hands each out once)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def severe_console_entries(driver: Chrome) -> list[str]:
    return [str(e["message"]) for e in console_entries(driver) if e["level"] == "SEVERE"]
