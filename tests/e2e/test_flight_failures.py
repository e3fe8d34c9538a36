"""Flights that must not end as a success: a vehicle killed and restarted mid-mission, a link cut for
longer than the limit, and (for contrast) a short blip that the flight rides out to completion.

The simulated ArduCopter runs as its own process (``aerogrid sim``), so SIGKILL is a real crash,
SIGSTOP/SIGCONT a real silence, and a restart on the same UDP port is a real reboot with its clock
back at zero and no mission on board. Everything is watched through GET /drones/{id}/state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from shapely.geometry import shape

from app.link.autopilots.ardupilot import FlightTimeouts
from app.services.flight import FlightService
from app.services.sample import sample_document
from tests.conftest import auth, wipe_district
from tests.drones import State, register_sim_drone, state_of, wait_for_state
from tests.e2e.test_api_flight import smallest_clear_grid
from tests.procs import SimFleetProcess, free_udp_port

SPEEDUP = 25.0
LINK_LOST_S = 8.0
"""The flights' link-lost limit here: longer than the 3 s online timeout plus a blip, short for a test."""
REBOOT_LINK_LOST_S = 30.0
"""The reboot test keeps the default limit: a busy machine may take seconds to restart the process."""
BLIP_S = 4.5
TIMEOUTS = FlightTimeouts(ready_s=30, takeoff_s=30, mission_s=120, landing_s=120, link_lost_s=LINK_LOST_S)


@pytest.fixture
def flights(app: FastAPI) -> Iterator[FlightService]:
    """The service's flights use TIMEOUTS for the test (FlightTimeouts is the service's knob)."""
    service: FlightService = app.state.flights
    saved = service.timeouts
    service.timeouts = TIMEOUTS
    try:
        yield service
    finally:
        service.timeouts = saved


@pytest.fixture
async def district(pool: asyncpg.Pool, client: httpx.AsyncClient, role_tokens: dict[str, str]) -> None:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    for path, name in (("/grids/import", "grids"), ("/geofences/import", "zones")):
        assert (await client.post(path, json=sample_document(name), headers=admin)).status_code == 200


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[SimFleetProcess]:
    """One vehicle (system id ``request.param``) at the smallest clear grid, in its own process."""
    c = shape(smallest_clear_grid()["geometry"]).representative_point()
    home, speedup = f"--home={c.x},{c.y}", f"--speedup={SPEEDUP}"
    process = SimFleetProcess(free_udp_port(), 1, home, speedup, first_sysid=request.param)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def fly_until_auto(
    client: httpx.AsyncClient, sim: SimFleetProcess, headers: dict[str, str], *, from_item: int
) -> tuple[int, int]:
    """Register the simulated drone, plan, upload and start a flight; return once it is in AUTO
    at ``from_item`` or later. Returns (drone id, mission items uploaded)."""
    grid = smallest_clear_grid()
    c = shape(grid["geometry"]).representative_point()
    drone_id = await register_sim_drone(
        client,
        headers,
        name=f"sim-{sim.base_port}",
        port=sim.base_port,
        sysid=sim.first_sysid,
        lon_deg=c.x,
        lat_deg=c.y,
        capabilities={"battery_wh": 400, "max_speed_mps": 15},
    )
    await wait_for_state(client, drone_id, headers, lambda s: bool(s.get("online")), within_s=20)
    r = await client.post(
        "/missions",
        json={
            "name": "failure drill",
            "kind": "coverage",
            "grid_codes": [grid["properties"]["code"]],
            "drone_id": drone_id,
            "swath_m": 60,
            "alt_m": 40,
            "speed_mps": 10,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    mission = r.json()
    items = len(mission["sorties"][0]["items"])
    assert items > from_item + 2, "the mission must outlast the fault"
    r = await client.post(f"/drones/{drone_id}/upload", json={"mission_id": mission["id"]}, headers=headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/drones/{drone_id}/flight", headers=headers)
    assert r.status_code == 202, r.text
    await wait_for_state(
        client,
        drone_id,
        headers,
        lambda s: s["flight"]["phase"] == "auto" and (s.get("mission_seq") or 0) >= from_item,
        within_s=60,
    )
    return drone_id, items


async def unregister(client: httpx.AsyncClient, drone_id: int, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        await client.delete(f"/drones/{drone_id}", headers=headers)


@pytest.mark.usefixtures("district")
@pytest.mark.parametrize("sim", [41], indirect=True)
async def test_vehicle_killed_mid_mission_and_restarted_ends_failed_as_rebooted_never_completed(
    client: httpx.AsyncClient, role_tokens: dict[str, str], sim: SimFleetProcess, flights: FlightService
) -> None:
    flights.timeouts = dataclasses.replace(TIMEOUTS, link_lost_s=REBOOT_LINK_LOST_S)
    operator = auth(role_tokens["operator"])
    drone_id, _ = await fly_until_auto(client, sim, operator, from_item=3)
    boot_before = (await state_of(client, drone_id, operator))["boot_id"]
    await sim.kill()
    seen: list[State] = []
    lost = await wait_for_state(
        client, drone_id, operator, lambda s: s["flight"]["phase"] != "auto", within_s=LINK_LOST_S, seen=seen
    )
    assert lost["flight"]["phase"] == "link_lost" and lost["flight"]["running"] is True, lost["flight"]
    sim.start()  # the same port, a new boot: clock at zero, no mission on board
    end = await wait_for_state(
        client,
        drone_id,
        operator,
        lambda s: not s["flight"]["running"],
        within_s=REBOOT_LINK_LOST_S,
        seen=seen,
    )
    flight = end["flight"]
    assert flight["phase"] == "failed", flight
    assert flight["error_code"] == "vehicle_rebooted"
    assert flight["error"].startswith("vehicle rebooted during the flight: time since boot went back")
    assert flight["report"]["completed"] is False
    assert end["boot_id"] == boot_before + 1
    assert not any(s["flight"]["phase"] == "done" for s in seen)
    assert any(e["kind"] == "boot" for e in end["events"])
    await unregister(client, drone_id, auth(role_tokens["admin"]))


@pytest.mark.usefixtures("district", "flights")
@pytest.mark.parametrize("sim", [42], indirect=True)
async def test_link_cut_for_longer_than_the_limit_shows_link_lost_then_fails(
    client: httpx.AsyncClient, role_tokens: dict[str, str], sim: SimFleetProcess
) -> None:
    operator = auth(role_tokens["operator"])
    drone_id, _ = await fly_until_auto(client, sim, operator, from_item=3)
    await sim.kill()
    killed_s = time.monotonic()
    lost = await wait_for_state(
        client, drone_id, operator, lambda s: s["flight"]["phase"] != "auto", within_s=LINK_LOST_S
    )
    assert lost["flight"]["phase"] == "link_lost" and lost["flight"]["running"] is True, lost["flight"]
    assert lost["last_heard_age_s"] > 2.0  # silent for about the 3 s online timeout
    end = await wait_for_state(
        client, drone_id, operator, lambda s: not s["flight"]["running"], within_s=LINK_LOST_S + 5
    )
    assert end["online"] is False
    failed_after_s = time.monotonic() - killed_s
    flight = end["flight"]
    assert flight["phase"] == "failed", flight
    assert flight["error_code"] == "link_lost"
    assert flight["error"].startswith("link lost during auto: nothing heard from the vehicle for 8 s")
    assert flight["report"]["completed"] is False
    assert [p for p, _ in flight["report"]["phases"]][-1] == "link_lost"
    assert failed_after_s >= LINK_LOST_S - 1.0  # not before the limit (the kill follows the last message)
    await unregister(client, drone_id, auth(role_tokens["admin"]))


@pytest.mark.usefixtures("district", "flights")
@pytest.mark.parametrize("sim", [43], indirect=True)
async def test_short_link_blip_within_the_limit_resumes_the_mission_and_completes(
    client: httpx.AsyncClient, role_tokens: dict[str, str], sim: SimFleetProcess
) -> None:
    operator = auth(role_tokens["operator"])
    drone_id, _ = await fly_until_auto(client, sim, operator, from_item=2)
    sim.signal(signal.SIGSTOP)
    try:
        lost = await wait_for_state(
            client, drone_id, operator, lambda s: s["flight"]["phase"] != "auto", within_s=LINK_LOST_S
        )
        assert lost["flight"]["phase"] == "link_lost", lost["flight"]
        await asyncio.sleep(max(0.0, BLIP_S - 3.0))
    finally:
        sim.signal(signal.SIGCONT)
    end = await wait_for_state(client, drone_id, operator, lambda s: not s["flight"]["running"], within_s=120)
    flight = end["flight"]
    assert flight["phase"] == "done", flight
    assert flight["report"]["completed"] is True
    phases = [p for p, _ in flight["report"]["phases"]]
    assert phases[phases.index("link_lost") + 1] == "auto"
    assert "mission_complete" in phases and phases[-1] == "landed"
    assert end["boot_id"] == flight["report"]["boot_id"] == 1
    await unregister(client, drone_id, auth(role_tokens["admin"]))
