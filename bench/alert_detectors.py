"""Per-message cost of the alert detectors against the tracker update that every message pays anyway.

Usage: ``.venv/bin/python bench/alert_detectors.py [--seconds 600] [--repeats 5]``

One drone flies (armed, AUTO, a 40-item route) diagonally across the sample district (46 grids,
its exclusion, quiet and no-photo zones, the 120 m ceiling) for ``--seconds`` of telemetry at
ArduCopter's usual stream mix (19 messages a second: positions and attitude at 5 Hz, VFR_HUD at 2 Hz,
the rest at 1 Hz). The messages are real MAVLink 2 bytes, decoded once before timing. Rows:

* ``tracker``: ``VehicleTracker.update`` alone (the baseline, what the link does for every message);
* ``tracker + detectors``: the same plus every detector family's ``on_message``, as the alert runner
  calls them;
* ``geofence only``: the tracker plus the geofence detector (the one geometric check per position).

Times are the median of ``--repeats`` runs over the whole stream. Ends with one ``RESULT`` line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from app.link.codec import MavlinkCodec, MavMessage, mode_mapping
from app.link.vehicle import VehicleTracker
from app.services.alert_detection import DETECTOR_FAMILIES, build_district
from app.services.sample import sample_document
from app.telemetry.detectors.base import Detector
from app.telemetry.detectors.context import DetectorSettings, DroneInfo, DroneView, FlightRoute, route_line
from app.telemetry.detectors.geofence import GeofenceDetector
from geofences.frame import LocalFrame
from geofences.geojson import parse_grids, parse_zones
from geofences.model import FenceSet
from missions.items import MavCmd, MissionItem

SYSID = 1
START_LON, START_LAT = 120.5230, 31.4820
END_LON, END_LAT = 120.5550, 31.4985


def stream(seconds: int) -> list[MavMessage]:
    """The drone's telemetry for ``seconds``, encoded by a vehicle codec and decoded by ours."""
    vehicle = MavlinkCodec(src_system=SYSID, src_component=1)
    gcs = MavlinkCodec(src_system=255, src_component=190)
    auto = mode_mapping(2)["AUTO"]
    out: list[MavMessage] = []

    def add(name: str, **fields: object) -> None:
        out.extend(gcs.decode(vehicle.encode(name, **fields)))  # type: ignore[arg-type]

    add("HOME_POSITION", latitude=round(START_LAT * 1e7), longitude=round(START_LON * 1e7), altitude=5000,
        x=0.0, y=0.0, z=0.0, q=[1.0, 0.0, 0.0, 0.0], approach_x=0.0, approach_y=0.0, approach_z=0.0)  # fmt: skip
    for tick in range(seconds * 10):  # 10 slots a second
        t_ms = tick * 100
        f = tick / (seconds * 10)
        lat, lon = START_LAT + f * (END_LAT - START_LAT), START_LON + f * (END_LON - START_LON)
        if tick % 2 == 0:
            add("GLOBAL_POSITION_INT", time_boot_ms=t_ms, lat=round(lat * 1e7), lon=round(lon * 1e7),
                alt=45000, relative_alt=40000, vx=800, vy=800, vz=0, hdg=4500)  # fmt: skip
            add(
                "ATTITUDE",
                time_boot_ms=t_ms,
                roll=0.0,
                pitch=-0.1,
                yaw=0.78,
                rollspeed=0.0,
                pitchspeed=0.0,
                yawspeed=0.0,
            )
        if tick % 5 == 0:
            add("VFR_HUD", airspeed=11.0, groundspeed=11.3, heading=45, throttle=50, alt=45.0, climb=0.0)
        if tick % 10 == 0:
            add(
                "HEARTBEAT",
                type=2,
                autopilot=3,
                base_mode=129,
                custom_mode=auto,
                system_status=4,
                mavlink_version=3,
            )
            add("SYS_STATUS", onboard_control_sensors_present=0, onboard_control_sensors_enabled=0,
                onboard_control_sensors_health=0, load=0, voltage_battery=15800, current_battery=1500,
                battery_remaining=max(5, 95 - tick // 100), drop_rate_comm=0, errors_comm=0, errors_count1=0,
                errors_count2=0, errors_count3=0, errors_count4=0)  # fmt: skip
            add("GPS_RAW_INT", time_usec=t_ms * 1000, fix_type=3, lat=round(lat * 1e7), lon=round(lon * 1e7),
                alt=45000, eph=70, epv=110, vel=1130, cog=4500, satellites_visible=12)  # fmt: skip
            add("EKF_STATUS_REPORT", flags=0x37F & ~0x80, velocity_variance=0.02, pos_horiz_variance=0.02,
                pos_vert_variance=0.02, compass_variance=0.03, terrain_alt_variance=0.0)  # fmt: skip
            add("MISSION_CURRENT", seq=2 + tick // 150, total=40, mission_state=3, mission_mode=1)
            add("EXTENDED_SYS_STATE", vtol_state=0, landed_state=2)
            add("BATTERY_STATUS", id=0, battery_function=0, type=1, temperature=2500, voltages=[15800] + [65535] * 9,
                current_battery=1500, current_consumed=1000, energy_consumed=-1,
                battery_remaining=max(5, 95 - tick // 100))  # fmt: skip
    return out


def view_for(settings: DetectorSettings) -> DroneView:
    zones = tuple(f.zone for f in parse_zones(sample_document("zones")))
    grids = [
        {"code": g.code, "community_code": g.community_code, "boundary": g.geometry.__geo_interface__}
        for g in parse_grids(sample_document("grids"))
    ]
    district = build_district(FenceSet(zones=zones), grids)
    frame = LocalFrame.for_lonlat(START_LON, START_LAT)
    items = [MissionItem(command=MavCmd.NAV_WAYPOINT, x=round(START_LAT * 1e7), y=round(START_LON * 1e7))]
    for i in range(1, 40):
        f = i / 39
        lat, lon = START_LAT + f * (END_LAT - START_LAT), START_LON + f * (END_LON - START_LON)
        items.append(MissionItem(command=MavCmd.NAV_WAYPOINT, x=round(lat * 1e7), y=round(lon * 1e7), z=40.0))
    line = route_line(items, frame, START_LON, START_LAT)
    info = DroneInfo(
        drone_id=1,
        battery_wh=400.0,
        flight=FlightRoute(upload_id=1, mission_id=1, sortie=0, frame=frame, line=line),
    )
    return DroneView(info=info, district=district, tracker=VehicleTracker("1", SYSID), settings=settings)


def run(
    messages: list[MavMessage], detectors: Callable[[], list[Detector]], settings: DetectorSettings
) -> float:
    view = view_for(settings)
    families = detectors()
    tracker = view.tracker
    started = time.perf_counter()
    for msg in messages:
        tracker.update(msg)
        if "time_boot_ms" in msg.fields:
            view.vehicle_s = msg.get_int("time_boot_ms") / 1000.0
        for detector in families:
            detector.on_message(view, msg)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    messages = stream(args.seconds)
    settings = DetectorSettings()
    variants: list[tuple[str, Callable[[], list[Detector]]]] = [
        ("tracker", list),
        ("tracker + detectors", lambda: [make() for make in DETECTOR_FAMILIES]),
        ("geofence only", lambda: [GeofenceDetector()]),
    ]
    medians = {
        name: statistics.median(run(messages, make, settings) for _ in range(args.repeats))
        for name, make in variants
    }
    base = medians["tracker"]
    cmd = " ".join(["bench/alert_detectors.py", *sys.argv[1:]])
    sys.stdout.write(f"$ .venv/bin/python {cmd}\n")
    sys.stdout.write(
        f"{len(messages)} messages ({args.seconds} s of telemetry), median of {args.repeats}\n\n"
    )
    sys.stdout.write("| variant             | us/msg | msgs/s    | vs tracker |\n")
    sys.stdout.write("|---------------------|-------:|----------:|-----------:|\n")
    for name, total in medians.items():
        per_us = total / len(messages) * 1e6
        sys.stdout.write(
            f"| {name:<19} | {per_us:6.1f} | {len(messages) / total:9.0f} | {total / base:10.2f} |\n"
        )
    full = medians["tracker + detectors"]
    sys.stdout.write(
        f"RESULT messages={len(messages)} tracker_us={base / len(messages) * 1e6:.1f} "
        f"detectors_us={full / len(messages) * 1e6:.1f} detector_msgs_per_s={len(messages) / full:.0f} "
        f"ratio={full / base:.2f} geofence_us={medians['geofence only'] / len(messages) * 1e6:.1f}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
