"""The simulator's drift fault: an uncorrected push that moves the vehicle off its track while it
lasts (what the route-deviation detector is tested against), and nothing after it ends."""

from __future__ import annotations

from simulator.autopilot import Location
from simulator.mavenums import CommandResult
from simulator.vehicle import SimVehicle, VehicleConfig

HOME_LAT_DEG, HOME_LON_DEG = 30.2590, 120.1690
STEP_S = 0.05


def fly(vehicle: SimVehicle, seconds: float) -> None:
    for _ in range(round(seconds / STEP_S)):
        vehicle.autopilot.step(STEP_S)


def airborne_vehicle() -> SimVehicle:
    vehicle = SimVehicle(
        VehicleConfig(sysid=1, port=0, home_lon_deg=HOME_LON_DEG, home_lat_deg=HOME_LAT_DEG, gps_noise_m=0.0)
    )
    ap = vehicle.autopilot
    fly(vehicle, 4.0)  # boot: GPS and EKF ready
    assert ap.set_mode("GUIDED")
    assert ap.arm() is CommandResult.ACCEPTED
    assert ap.takeoff(30.0) is CommandResult.ACCEPTED
    fly(vehicle, 20.0)
    return vehicle


def test_drift_pushes_a_vehicle_off_its_straight_track_and_stops_when_it_ends() -> None:
    vehicle = airborne_vehicle()
    ap = vehicle.autopilot
    target_lat = HOME_LAT_DEG + 0.004  # about 440 m north
    assert ap.guided_goto(Location(target_lat, HOME_LON_DEG, ap.location.alt_amsl_m))
    fly(vehicle, 5.0)
    assert abs(ap.airframe.east_m) < 0.5  # flying straight north
    vehicle.faults.drift(4.0, 90.0, duration_s=10.0)  # toward the east
    fly(vehicle, 10.0)
    assert ap.airframe.east_m > 20.0
    fly(vehicle, 60.0)  # drift over: it reaches the target
    assert abs(ap.airframe.east_m) < 1.0
    assert abs(ap.location.lat_deg - target_lat) < 1e-5


def test_no_drift_on_the_ground() -> None:
    vehicle = SimVehicle(VehicleConfig(sysid=1, port=0, home_lon_deg=HOME_LON_DEG, home_lat_deg=HOME_LAT_DEG))
    vehicle.faults.drift(5.0, 0.0, duration_s=30.0)
    fly(vehicle, 10.0)
    assert vehicle.autopilot.airframe.north_m == 0.0
