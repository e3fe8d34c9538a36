"""The command-center page in headless Chromium against the real service, database and simulated drones.

The page is driven only through the element ids and data attributes it promises (the contract between
app/web and these tests: #signin, #map [data-drone-id], #alerts li[data-alert-id], #run-controls,
#confirm-dialog, ...), with real clicks; what it shows is checked against the API, which reads the same
database. Each test opens its own tabs, so no sign-in carries over.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from selenium.webdriver.chrome.webdriver import WebDriver as Chrome
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser import (
    all_attr,
    attr,
    attrs,
    click,
    count,
    one,
    open_signin,
    severe_console_entries,
    shown_texts,
    sign_in,
    signin_ready,
    text,
    visible,
    wait_for,
)
from tests.browser.conftest import Launcher
from tests.browser.stack import WORKORDER_GRID, District, Drone, grid_feature

ALERT_WITHIN_S = 5.0
CJK = re.compile(r"[\u4e00-\u9fff]")


def api(district: District, role: str, path: str) -> Any:
    """GET ``path`` from instance A as ``role``."""
    headers = {"Authorization": f"Bearer {district.tokens[role]}"}
    r = httpx.get(district.url_a + path, headers=headers, timeout=10.0)
    assert r.status_code == 200, r.text
    return r.json()


MARKER_ATTRS = ("data-lat", "data-lon", "data-heading-deg", "data-alt-m", "data-battery-pct", "data-mode")


def marker(driver: WebDriver, drone_id: int) -> dict[str, str | None]:
    """The drone marker's data attributes (all None while it is not drawn)."""
    found = attrs(driver, f'#map [data-drone-id="{drone_id}"]', *MARKER_ATTRS)
    return found or dict.fromkeys(MARKER_ATTRS)


def signed_in(open_browser: Launcher, district: District, role: str, *, lang: str = "en-US") -> Chrome:
    driver = open_browser(lang=lang)
    sign_in(driver, district.url_a, district.tokens[role], role)
    return driver


def test_sign_in_refuses_a_bad_token_keeps_a_good_one_over_a_reload_and_sign_out_forgets_it(
    open_browser: Launcher, district: District
) -> None:
    driver = open_browser()
    open_signin(driver, district.url_a)
    one(driver, "#signin-token").send_keys("ag_notatoken_0000")
    click(driver, "#signin-submit", "sign in")
    wait_for(driver, "the sign-in error", lambda d: visible(d, "#signin-error"))
    assert text(driver, "#signin-error").strip(), "the error says what went wrong"
    assert not visible(driver, "#app")
    assert driver.execute_script("return document.body.dataset.role || ''") == ""

    sign_in(driver, district.url_a, district.tokens["viewer"], "viewer")
    driver.refresh()
    wait_for(driver, "still signed in after a reload", lambda d: visible(d, "#app"))
    assert driver.execute_script("return document.body.dataset.role") == "viewer"
    click(driver, "#signout", "sign out")
    wait_for(driver, "the sign-in form again", lambda d: visible(d, "#signin-token"))
    driver.refresh()
    wait_for(driver, "the sign-in form after a reload", signin_ready)
    assert not visible(driver, "#app")


RESOURCES_JS = "return performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"


def test_grid_states_come_from_one_bulk_read_and_a_flown_grid_shows_patrolled(
    open_browser: Launcher, district: District
) -> None:
    flown = [c for c, g in _grid_states(district).items() if g["last_patrolled_at"]]
    assert flown, "the stack's coverage runs stored no patrol"
    driver = signed_in(open_browser, district, "viewer")
    grids = "#map [data-grid-code]"
    wait_for(driver, "every grid drawn", lambda d: count(d, grids) >= len(district.grid_codes))

    def states_match(d: WebDriver) -> bool:
        """Every grid the API calls freshly patrolled, with nothing open on it, is `patrolled` on the page."""
        api_states = _grid_states(district)
        quiet = [
            c for c in flown if not (api_states[c]["open_alerts"] or api_states[c]["active_work_orders"])
        ]
        return bool(quiet) and all(
            attr(d, f'#map [data-grid-code="{c}"]', "data-state") == "patrolled" for c in quiet
        )

    wait_for(driver, "the flown grids patrolled", states_match, timeout_s=20.0)
    paths: list[str] = driver.execute_script(RESOURCES_JS)
    assert "/patrols/grid-states" in paths
    assert not [p for p in paths if p.endswith("/coverage")], (
        "per-grid coverage read before any grid was opened"
    )


def _grid_states(district: District) -> dict[str, Any]:
    return {g["grid_code"]: g for g in api(district, "viewer", "/patrols/grid-states")["grids"]}


def test_the_page_loads_the_district_and_its_drones_with_no_console_errors(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "operator")
    grids = "#map [data-grid-code]"
    wait_for(driver, "every grid drawn", lambda d: count(d, grids) >= len(district.grid_codes))
    assert set(all_attr(driver, grids, "data-grid-code")) == set(district.grid_codes)
    states = set(all_attr(driver, grids, "data-state"))
    assert states <= {"patrolled", "overdue", "alert", "workorder", "idle"}, states
    local = [*district.flying, *district.pads]
    wait_for(
        driver,
        "a marker and a list row for every drone",
        lambda d: all(
            count(d, f'#map [data-drone-id="{x.drone_id}"]')
            and count(d, f'#drones [data-drone-row="{x.drone_id}"]')
            for x in local
        ),
    )
    assert district.flying[0].name in text(
        driver, f'#drones [data-drone-row="{district.flying[0].drone_id}"]'
    )
    assert attr(driver, "html", "lang") == "en"
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
    assert count(driver, f'#map [data-route-drone-id="{drone.drone_id}"]') == 1
    wait_for(
        driver, "the flown track drawn", lambda d: count(d, f'#map [data-track-drone-id="{drone.drone_id}"]')
    )


def alert_ids(driver: WebDriver, css: str = "#alerts li") -> set[str | None]:
    return set(all_attr(driver, css, "data-alert-id"))


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
        lambda d: alert_ids(d, new) - before,
        10.0,
    )
    shown_after_s = time.monotonic() - injected_s
    assert shown_after_s <= ALERT_WITHIN_S, f"shown {shown_after_s:.1f} s after the fault"
    alert_id = open_alert_id(district, pad, "battery_low")
    item = f'#alerts li[data-alert-id="{alert_id}"]'
    assert attrs(driver, item, "data-kind", "data-state") == {
        "data-kind": "battery_low",
        "data-state": "open",
    }
    assert api(district, "operator", f"/alerts/{alert_id}")["ack"] is None
    click(driver, f"{item} button.ack", "acknowledge")
    wait_for(driver, "the alert acknowledged", lambda d: attr(d, item, "data-state") == "acknowledged")
    ack = api(district, "operator", f"/alerts/{alert_id}")["ack"]
    assert ack is not None and ack["by"] == "browser operator", ack
    assert count(driver, f"{item} button.ack") == 0, "acknowledged: nothing left to click"


def test_a_viewer_gets_no_flight_controls_and_no_acknowledge(
    open_browser: Launcher, district: District
) -> None:
    spare = district.pads[1]
    inject_low_battery(district, spare)
    alert_id = open_alert_id(district, spare, "battery_low")
    driver = signed_in(open_browser, district, "viewer")
    item = f'#alerts li[data-alert-id="{alert_id}"][data-state="open"]'
    wait_for(driver, "the open alert in the viewer's feed", lambda d: count(d, item))
    assert count(driver, f"{item} button.ack") == 0
    drone = district.flying[1]
    row = f'#drones [data-drone-row="{drone.drone_id}"]'
    wait_for(driver, "the drone's row", lambda d: count(d, row))
    click(driver, row, "the drone's row")
    time.sleep(0.5)  # nothing to wait for: what must not appear would have appeared by now
    assert count(driver, "#run-controls") == 0
    assert count(driver, "button[data-action]") == 0
    assert count(driver, "#alerts button.ack") == 0


def test_an_operators_abort_asks_first_and_sends_the_drone_home(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "operator")
    drone = district.flying[1]
    row = f'#drones [data-drone-row="{drone.drone_id}"]'
    wait_for(driver, "the drone's row", lambda d: count(d, row))
    click(driver, row, "the drone's row")
    abort = '#run-controls button[data-action="abort"]'
    wait_for(driver, "the abort button", lambda d: visible(d, abort))
    assert api(district, "operator", f"/runs/{drone.run_id}")["state"] == "running"

    click(driver, abort, "abort")
    wait_for(driver, "the confirmation", lambda d: visible(d, "#confirm-dialog"))
    click(driver, "#confirm-no", "no")
    wait_for(driver, "the confirmation closed", lambda d: not visible(d, "#confirm-dialog"))
    run = api(district, "operator", f"/runs/{drone.run_id}")
    assert run["state"] == "running" and "aborted" not in [t["to_state"] for t in run["transitions"]]

    click(driver, abort, "abort")
    wait_for(driver, "the confirmation", lambda d: visible(d, "#confirm-dialog"))
    click(driver, "#confirm-yes", "yes")
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
    wait_for(driver, "the order listed", lambda d: count(d, row))
    assert attr(driver, row, "data-state") == "assigned"
    click(driver, row, "the order")
    wait_for(
        driver, "the order's detail", lambda d: "Dumped construction waste" in text(d, "#workorder-detail")
    )
    assert visible(driver, "#workorder-detail")
    offered = set(all_attr(driver, "#workorder-detail button[data-transition]", "data-transition"))
    assert "start" in offered and offered <= {"assign", "start", "cancel"}, offered  # from assigned
    click(driver, '#workorder-detail button[data-transition="start"]', "start")
    wait_for(driver, "the confirmation", lambda d: visible(d, "#confirm-dialog"))
    click(driver, "#confirm-yes", "yes")
    wait_for(driver, "the order in progress", lambda d: attr(d, row, "data-state") == "in_progress")
    assert api(district, "operator", f"/work-orders/{order}")["state"] == "in_progress"

    viewer = signed_in(open_browser, district, "viewer")
    resolved = f'#workorders [data-workorder-id="{district.workorder_resolved}"]'
    wait_for(viewer, "the resolved order listed", lambda d: count(d, resolved))
    click(viewer, resolved, "the resolved order")
    wait_for(
        viewer,
        "the order's feedback",
        lambda d: "Cleared by the grid worker." in text(d, "#workorder-detail"),
    )
    assert count(viewer, "#workorder-detail button[data-transition]") == 0


def test_a_grids_detail_names_its_worker_and_lists_its_work_orders(
    open_browser: Launcher, district: District
) -> None:
    driver = signed_in(open_browser, district, "viewer")
    code = WORKORDER_GRID  # both work orders are filed under it
    polygon = f'#map [data-grid-code="{code}"]'
    wait_for(driver, "the grid drawn", lambda d: count(d, polygon))
    click(driver, polygon, "the grid")
    wait_for(driver, "the grid's detail", lambda d: visible(d, "#grid-detail"))
    wait_for(driver, "the grid's work orders", lambda d: "Fallen tree on path" in text(d, "#grid-detail"))
    shown = text(driver, "#grid-detail")
    assert code in shown
    assert grid_feature(code)["properties"]["worker_name"] in shown
    assert "Dumped construction waste" in shown


def label(driver: WebDriver, key: str) -> str:
    """The text of the label ``key`` as the page wrote it (before CSS text-transform)."""
    return str(
        driver.execute_script(
            "return document.querySelector(`[data-i18n='${arguments[0]}']`).textContent", key
        )
    )


def test_chinese_labels_render_when_the_browser_prefers_chinese(
    open_browser: Launcher, district: District
) -> None:
    driver = open_browser(lang="zh-CN")
    open_signin(driver, district.url_a)
    languages = driver.execute_script("return navigator.languages")
    assert attr(driver, "html", "lang") == "zh-CN", f"navigator.languages {languages}"
    assert text(driver, "#signin-submit") == "登录"
    sign_in(driver, district.url_a, district.tokens["operator"], "operator")
    assert label(driver, "panel.alerts") == "告警"
    labels = shown_texts(driver, "[data-i18n]")
    assert len(labels) > 10, labels
    assert all(CJK.search(text) for text in labels), [t for t in labels if not CJK.search(t)]
    click(driver, "#lang-toggle", "the language button")
    wait_for(driver, "switched to English", lambda d: attr(d, "html", "lang") == "en")
    assert label(driver, "panel.alerts") == "Alerts"
    english = shown_texts(driver, "[data-i18n]")
    assert len(english) > 10 and not any(CJK.search(text) for text in english), english


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
    row = f'#drones [data-drone-row="{remote.drone_id}"]'
    wait_for(driver, "B's drone in A's fleet list", lambda d: remote.name in text(d, row))
