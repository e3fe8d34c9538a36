"""The command-center page in headless Chromium against the real service, database and simulated drones.

The page is driven only through its contract (docs/operator-guide.md and the page's element ids and
data attributes); what it shows is checked against the API, which reads the same database.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from selenium.webdriver.chrome.webdriver import WebDriver as Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser import one, severe_console_entries, sign_in, visible, wait_for
from tests.browser.conftest import Launcher
from tests.browser.stack import District, Drone

ALERT_WITHIN_S = 5.0
CJK = re.compile(r"[\u4e00-\u9fff]")


def api(district: District, role: str, path: str, *, base: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {district.tokens[role]}"}
    r = httpx.get((base or district.url_a) + path, headers=headers, timeout=10.0)
    assert r.status_code == 200, r.text
    return r.json()


def marker(driver: WebDriver, drone_id: int) -> dict[str, str | None]:
    el = one(driver, f'#map [data-drone-id="{drone_id}"]')
    names = ("data-lat", "data-lon", "data-heading-deg", "data-alt-m", "data-battery-pct", "data-mode")
    return {name: el.get_attribute(name) for name in names}


def signed_in(open_browser: Launcher, district: District, role: str, *, lang: str = "en-US") -> Chrome:
    driver = open_browser(lang=lang)
    sign_in(driver, district.url_a, district.tokens[role], role)
    return driver


def test_a_bad_token_is_refused_with_the_services_message(open_browser: Launcher, district: District) -> None:
    driver = open_browser()
    driver.get(district.url_a + "/")
    wait_for(driver, "the sign-in form", lambda d: visible(d, "#signin-token"))
    one(driver, "#signin-token").send_keys("ag_notatoken_0000")
    one(driver, "#signin-submit").click()
    wait_for(driver, "the sign-in error", lambda d: visible(d, "#signin-error"))
    assert one(driver, "#signin-error").text.strip(), "the error says what went wrong"
    assert not visible(driver, "#app")
    assert driver.execute_script("return document.body.dataset.role || ''") == ""


def test_the_page_loads_the_district_and_its_drones_with_no_console_errors(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "operator")
    wait_for(
        driver,
        "every grid drawn",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map [data-grid-code]")) >= len(district.grid_codes),
    )
    drawn = {
        e.get_attribute("data-grid-code")
        for e in driver.find_elements(By.CSS_SELECTOR, "#map [data-grid-code]")
    }
    assert drawn == set(district.grid_codes)
    states = {
        e.get_attribute("data-state") for e in driver.find_elements(By.CSS_SELECTOR, "#map [data-grid-code]")
    }
    assert states <= {"patrolled", "overdue", "alert", "workorder", "idle"}, states
    local = [*district.flying, *district.pads]
    wait_for(
        driver,
        "a marker and a list row for every drone",
        lambda d: all(
            d.find_elements(By.CSS_SELECTOR, f'#map [data-drone-id="{x.drone_id}"]')
            and d.find_elements(By.CSS_SELECTOR, f'#drones [data-drone-row="{x.drone_id}"]')
            for x in local
        ),
    )
    row = one(driver, f'#drones [data-drone-row="{district.flying[0].drone_id}"]').text
    assert district.flying[0].name in row
    assert one(driver, "html").get_attribute("lang") == "en"
    time.sleep(2.0)  # let live states and late asset loads arrive before reading the console
    assert severe_console_entries(driver) == []


def test_flying_drones_move_on_the_map_with_their_route(open_browser: Launcher, district: District) -> None:
    driver = signed_in(open_browser, district, "viewer")
    drone = district.flying[0]
    wait_for(driver, "the marker placed", lambda d: marker(d, drone.drone_id)["data-lat"])
    first = marker(driver, drone.drone_id)
    wait_for(
        driver,
        "the marker moved",
        lambda d: (
            (m := marker(d, drone.drone_id))["data-lat"] != first["data-lat"]
            or m["data-lon"] != first["data-lon"]
        ),
    )
    now = marker(driver, drone.drone_id)
    state = api(district, "viewer", f"/drones/{drone.drone_id}/state")
    assert abs(float(now["data-lat"] or "nan") - state["lat_deg"]) < 0.002  # ~200 m: a few states apart
    assert abs(float(now["data-lon"] or "nan") - state["lon_deg"]) < 0.002
    assert now["data-mode"] == "AUTO"
    assert float(now["data-alt-m"] or "nan") > 10.0
    assert 0 <= float(now["data-battery-pct"] or "nan") <= 100
    assert 0 <= float(now["data-heading-deg"] or "nan") <= 360
    assert driver.find_elements(By.CSS_SELECTOR, f'#map [data-route-drone-id="{drone.drone_id}"]')
    wait_for(
        driver,
        "the flown track drawn",
        lambda d: d.find_elements(By.CSS_SELECTOR, f'#map [data-track-drone-id="{drone.drone_id}"]'),
    )


def alert_ids(driver: WebDriver) -> set[str]:
    return {
        e.get_attribute("data-alert-id") or "" for e in driver.find_elements(By.CSS_SELECTOR, "#alerts li")
    }


def inject_low_battery(district: District, drone: Drone) -> None:
    """The simulator's battery fault: the pack loses 93 % of its charge at once."""
    district.loop.call(lambda: drone.vehicle.faults.battery_sag(93.0))


def open_alert_id(district: District, drone: Drone, alert_type: str) -> int:
    """The drone's open alert of ``alert_type`` once the service has it (10 s at most)."""
    deadline = time.monotonic() + 10
    while not (
        found := api(district, "viewer", f"/alerts?drone_id={drone.drone_id}&type={alert_type}&state=open")
    ):
        assert time.monotonic() < deadline, f"no open {alert_type} alert on {drone.name}"
        time.sleep(0.1)
    return int(found[0]["id"])


def test_an_injected_low_battery_shows_within_5_s_and_acknowledging_it_sticks(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "operator")
    pad = district.pads[0]
    before = alert_ids(driver)
    inject_low_battery(district, pad)
    injected_s = time.monotonic()
    new = '#alerts li[data-kind="battery_low"][data-state="open"]'
    wait_for(
        driver,
        "the battery alert in the feed",
        lambda d: any(
            e.get_attribute("data-alert-id") not in before for e in d.find_elements(By.CSS_SELECTOR, new)
        ),
        10.0,
    )
    shown_after_s = time.monotonic() - injected_s
    assert shown_after_s <= ALERT_WITHIN_S, f"shown {shown_after_s:.1f} s after the fault"
    alert_id = open_alert_id(district, pad, "battery_low")
    item = one(driver, f'#alerts li[data-alert-id="{alert_id}"]')
    assert (item.get_attribute("data-kind"), item.get_attribute("data-state")) == ("battery_low", "open")
    assert api(district, "operator", f"/alerts/{alert_id}")["ack"] is None
    item.find_element(By.CSS_SELECTOR, "button.ack").click()
    wait_for(
        driver,
        "the alert acknowledged",
        lambda d: (
            one(d, f'#alerts li[data-alert-id="{alert_id}"]').get_attribute("data-state") == "acknowledged"
        ),
    )
    ack = api(district, "operator", f"/alerts/{alert_id}")["ack"]
    assert ack is not None and ack["by"] == "browser operator", ack
    item = one(driver, f'#alerts li[data-alert-id="{alert_id}"]')
    assert item.find_elements(By.CSS_SELECTOR, "button.ack") == [], "acknowledged: nothing left to click"


def test_a_viewer_gets_no_flight_controls_and_no_acknowledge(
    open_browser: Launcher, district: District
) -> None:
    spare = district.pads[1]
    inject_low_battery(district, spare)
    alert_id = open_alert_id(district, spare, "battery_low")
    driver = signed_in(open_browser, district, "viewer")
    item = f'#alerts li[data-alert-id="{alert_id}"][data-state="open"]'
    wait_for(driver, "the open alert in the viewer's feed", lambda d: d.find_elements(By.CSS_SELECTOR, item))
    assert one(driver, item).find_elements(By.CSS_SELECTOR, "button.ack") == []
    drone = district.flying[1]
    row = f'#drones [data-drone-row="{drone.drone_id}"]'
    wait_for(driver, "the drone's row", lambda d: d.find_elements(By.CSS_SELECTOR, row))
    one(driver, row).click()
    time.sleep(0.5)  # nothing to wait for: what must not appear would have appeared by now
    assert driver.find_elements(By.CSS_SELECTOR, "#run-controls") == []
    assert driver.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
    assert driver.find_elements(By.CSS_SELECTOR, "#alerts button.ack") == []


def test_an_operators_abort_asks_first_and_sends_the_drone_home(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "operator")
    drone = district.flying[1]
    row = f'#drones [data-drone-row="{drone.drone_id}"]'
    wait_for(driver, "the drone's row", lambda d: d.find_elements(By.CSS_SELECTOR, row))
    one(driver, row).click()
    abort = '#run-controls button[data-action="abort"]'
    wait_for(driver, "the abort button", lambda d: visible(d, abort))
    assert api(district, "operator", f"/runs/{drone.run_id}")["state"] == "running"

    one(driver, abort).click()
    wait_for(driver, "the confirmation", lambda d: visible(d, "#confirm-dialog"))
    one(driver, "#confirm-no").click()
    wait_for(driver, "the confirmation closed", lambda d: not visible(d, "#confirm-dialog"))
    run = api(district, "operator", f"/runs/{drone.run_id}")
    assert run["state"] == "running" and "aborted" not in [t["to_state"] for t in run["transitions"]]

    one(driver, abort).click()
    wait_for(driver, "the confirmation", lambda d: visible(d, "#confirm-dialog"))
    one(driver, "#confirm-yes").click()
    wait_for(driver, "the marker's mode RTL", lambda d: marker(d, drone.drone_id)["data-mode"] == "RTL", 15.0)
    assert api(district, "operator", f"/drones/{drone.drone_id}/state")["mode"] == "RTL"
    run = api(district, "operator", f"/runs/{drone.run_id}")
    assert "aborted" in [t["to_state"] for t in run["transitions"]] or run["state"] == "returning", run


def test_a_work_orders_detail_shows_its_history_and_only_allowed_transitions(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "operator")
    order = district.workorder_assigned
    row = f'#workorders [data-workorder-id="{order}"]'
    wait_for(driver, "the order listed", lambda d: d.find_elements(By.CSS_SELECTOR, row))
    assert one(driver, row).get_attribute("data-state") == "assigned"
    one(driver, row).click()
    wait_for(driver, "the order's detail", lambda d: visible(d, "#workorder-detail"))
    detail = one(driver, "#workorder-detail")
    assert "Dumped construction waste" in detail.text
    offered = {
        b.get_attribute("data-transition")
        for b in detail.find_elements(By.CSS_SELECTOR, "button[data-transition]")
    }
    assert "start" in offered and offered <= {"assign", "start", "cancel"}, offered  # from assigned
    detail.find_element(By.CSS_SELECTOR, 'button[data-transition="start"]').click()
    if visible(driver, "#confirm-dialog"):
        one(driver, "#confirm-yes").click()
    wait_for(
        driver,
        "the order in progress",
        lambda d: one(d, row).get_attribute("data-state") == "in_progress",
    )
    assert api(district, "operator", f"/work-orders/{order}")["state"] == "in_progress"

    viewer = signed_in(open_browser, district, "viewer")
    resolved = f'#workorders [data-workorder-id="{district.workorder_resolved}"]'
    wait_for(viewer, "the resolved order listed", lambda d: d.find_elements(By.CSS_SELECTOR, resolved))
    one(viewer, resolved).click()
    wait_for(viewer, "the order's detail", lambda d: visible(d, "#workorder-detail"))
    detail = one(viewer, "#workorder-detail")
    assert "Cleared by the grid worker." in detail.text  # the feedback
    assert detail.find_elements(By.CSS_SELECTOR, "button[data-transition]") == []


def shown_labels(driver: WebDriver) -> list[str]:
    return [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-i18n]") if e.is_displayed() and e.text
    ]


def test_chinese_labels_render_when_the_browser_prefers_chinese(
    open_browser: Launcher, district: District
) -> None:
    driver = open_browser(lang="zh-CN")
    driver.get(district.url_a + "/")
    wait_for(driver, "the sign-in form", lambda d: visible(d, "#signin-token"))
    assert one(driver, "html").get_attribute("lang") == "zh-CN"
    assert one(driver, "#signin-submit").text == "登录"
    sign_in(driver, district.url_a, district.tokens["operator"], "operator")
    assert one(driver, '[data-i18n="panel.alerts"]').get_attribute("textContent") == "告警"
    labels = shown_labels(driver)
    assert len(labels) > 10, labels
    assert all(CJK.search(text) for text in labels), [t for t in labels if not CJK.search(t)]
    one(driver, "#lang-toggle").click()
    wait_for(driver, "switched to English", lambda d: one(d, "html").get_attribute("lang") == "en")
    assert one(driver, '[data-i18n="panel.alerts"]').get_attribute("textContent") == "Alerts"
    english = shown_labels(driver)
    assert len(english) == len(labels) and not any(CJK.search(text) for text in english), english


def test_a_drone_linked_by_the_other_instance_shows_on_this_ones_page(
    open_browser: Launcher, district: District
) -> None:
    remote = district.remote
    linked_on_a = district.app_a.state.flights.manager.drone_ids()
    assert str(remote.drone_id) not in linked_on_a, "A holds no link to B's drone"
    driver = signed_in(open_browser, district, "viewer")
    wait_for(driver, "B's drone on A's map", lambda d: marker(d, remote.drone_id)["data-lat"], 15.0)
    cfg = remote.vehicle.config
    placed = marker(driver, remote.drone_id)
    assert abs(float(placed["data-lat"] or "nan") - cfg.home_lat_deg) < 1e-4
    assert abs(float(placed["data-lon"] or "nan") - cfg.home_lon_deg) < 1e-4
    assert remote.name in one(driver, f'#drones [data-drone-row="{remote.drone_id}"]').text
