"""The flight recipe's watch over link, boot and mission, against the simulator over UDP: a mission on
board that is not the uploaded one, replaced in flight, and a link lost in a phase other than AUTO."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.link.autopilots.ardupilot import ArduCopterFlight, FlightTimeouts
from app.link.errors import LinkLost, MissionMismatch, VehicleRebooted
from app.link.manager import LinkManager
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG, link_vehicle, survey_mission

SPEEDUP = 10.0
ALT_M = 30.0
TIMEOUTS = FlightTimeouts(ready_s=30, takeoff_s=30, mission_s=60, landing_s=60, link_lost_s=2.0)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimVehicle]:
    config = VehicleConfig(
        sysid=9, port=0, home_lon_deg=HOME_LON_DEG, home_lat_deg=HOME_LAT_DEG, speedup=SPEEDUP
    )
    async with SimVehicle(config) as vehicle:
        yield vehicle


async def test_flight_refuses_to_arm_when_the_mission_on_board_has_another_item_count(
    sim: SimVehicle, manager: LinkManager
) -> None:
    vehicle = await link_vehicle(manager, sim)
    await vehicle.upload_mission(survey_mission(12, alt_m=ALT_M))
    phases: list[str] = []
    flight = ArduCopterFlight(
        vehicle, timeouts=TIMEOUTS, on_phase=phases.append, mission=survey_mission(15, alt_m=ALT_M)
    )
    with pytest.raises(
        MissionMismatch, match="the vehicle reports 11 mission items, the uploaded mission has 14"
    ):
        await flight.fly(ALT_M)
    assert "arm" not in phases and not sim.armed
    assert flight.report().completed is False


async def test_flight_refuses_to_arm_when_the_mission_on_board_has_the_same_count_but_other_items(
    sim: SimVehicle, manager: LinkManager
) -> None:
    vehicle = await link_vehicle(manager, sim)
    await vehicle.upload_mission(survey_mission(12, alt_m=ALT_M))
    phases: list[str] = []
    uploaded_for_flight = survey_mission(12, alt_m=ALT_M, spacing_deg=0.0003)
    flight = ArduCopterFlight(vehicle, timeouts=TIMEOUTS, on_phase=phases.append, mission=uploaded_for_flight)
    with pytest.raises(
        MissionMismatch, match="the mission on board differs from the uploaded one: seq 3: x,y"
    ):
        await flight.fly(ALT_M)
    assert "arm" not in phases and not sim.armed


async def test_mission_replaced_in_flight_fails_the_flight_instead_of_completing_the_other_one(
    sim: SimVehicle, manager: LinkManager
) -> None:
    vehicle = await link_vehicle(manager, sim)
    mission = survey_mission(12, alt_m=ALT_M)
    await vehicle.upload_mission(mission)
    phases: list[str] = []
    flight = ArduCopterFlight(vehicle, timeouts=TIMEOUTS, on_phase=phases.append, mission=mission)
    await flight.preflight()
    await flight.take_off(ALT_M)
    # Another ground station (here: the same link) stores a shorter plan while the copter flies.
    await vehicle.upload_mission(survey_mission(4, alt_m=ALT_M))
    with pytest.raises(MissionMismatch, match="reports 3 mission items, the uploaded mission has 11"):
        await flight.run_mission()
    assert flight.report().completed is False
    assert "mission_complete" not in phases


async def test_link_lost_while_waiting_for_readiness_fails_after_the_limit_instead_of_waiting_on(
    manager: LinkManager,
) -> None:
    config = VehicleConfig(
        sysid=10,
        port=0,
        home_lon_deg=HOME_LON_DEG,
        home_lat_deg=HOME_LAT_DEG,
        speedup=1.0,
        boot_time_to_ready_s=600.0,
    )
    async with SimVehicle(config) as never_ready:
        vehicle = await link_vehicle(manager, never_ready)
        phases: list[str] = []

        def on_phase(name: str) -> None:
            phases.append(name)
            if name == "wait_ready":
                never_ready.faults.link_loss()

        flight = ArduCopterFlight(vehicle, timeouts=TIMEOUTS, on_phase=on_phase)
        with pytest.raises(
            LinkLost, match="link lost during wait_ready: nothing heard from the vehicle for 2 s"
        ):
            await flight.preflight()
    assert phases[-2:] == ["wait_ready", "link_lost"]


async def test_vehicle_restarted_within_the_online_timeout_is_caught_as_rebooted_not_landed(
    manager: LinkManager,
) -> None:
    """Stopped hard and restarted on its port at once: the link never goes quiet (the new boot's
    HEARTBEATs say disarmed, on the ground) but its streams are off until asked."""
    config = VehicleConfig(
        sysid=11, port=0, home_lon_deg=HOME_LON_DEG, home_lat_deg=HOME_LAT_DEG, speedup=SPEEDUP
    )
    first = SimVehicle(config)
    await first.start()
    port = first.port
    vehicle = await link_vehicle(manager, first)
    mission = survey_mission(12, alt_m=ALT_M)
    await vehicle.upload_mission(mission)
    phases: list[str] = []
    timeouts = dataclasses.replace(TIMEOUTS, link_lost_s=20.0)
    flight = ArduCopterFlight(vehicle, timeouts=timeouts, on_phase=phases.append, mission=mission)
    task = asyncio.create_task(flight.fly(ALT_M))
    try:
        await vehicle.tracker.wait_until(
            lambda t: t.mode == "AUTO" and (t.mission_seq or 0) >= 5, timeout_s=30, what="AUTO at item 5"
        )
    finally:
        await first.stop()
    second = SimVehicle(dataclasses.replace(config, port=port))
    await second.start()
    try:
        with pytest.raises(VehicleRebooted, match="vehicle rebooted during the flight: time since boot"):
            await task
    finally:
        await second.stop()
    assert phases[-1] == "link_lost" and "mission_complete" not in phases and "landing" not in phases
    assert flight.report().completed is False
