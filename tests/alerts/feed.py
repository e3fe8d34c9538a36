"""A vehicle's telemetry for detector unit tests: real MAVLink 2 bytes, encoded as the vehicle and
decoded by the ground station's codec, folded into a real VehicleTracker like the link does."""

from __future__ import annotations

from app.link.codec import FieldValue, MavlinkCodec, MavMessage, mode_mapping
from app.link.vehicle import VehicleTracker
from app.telemetry.detectors.base import Detector, Verdict
from app.telemetry.detectors.context import DetectorSettings, District, DroneInfo, DroneView

SYSID = 7
QUADROTOR = 2
ARDUPILOTMEGA = 3
CUSTOM_MODE_ENABLED = 1
SAFETY_ARMED = 128
HOME_LAT_DEG = 30.2590
HOME_LON_DEG = 120.1690


class Feed:
    """One drone: encode messages as it would send them, track them, run detectors on them."""

    def __init__(
        self,
        *,
        district: District | None = None,
        info: DroneInfo | None = None,
        settings: DetectorSettings | None = None,
    ) -> None:
        self._vehicle = MavlinkCodec(src_system=SYSID, src_component=1)
        self._gcs = MavlinkCodec(src_system=255, src_component=190)
        self.tracker = VehicleTracker(str(SYSID), SYSID)
        self.view = DroneView(
            info=info or DroneInfo(drone_id=1),
            district=district or District(),
            tracker=self.tracker,
            settings=settings or DetectorSettings(),
        )
        self.time_boot_ms = 1000

    def message(self, name: str, /, **fields: FieldValue | bytes) -> MavMessage:
        (msg,) = self._gcs.decode(self._vehicle.encode(name, **fields))
        self.tracker.update(msg)
        if "time_boot_ms" in msg.fields:
            self.view.vehicle_s = msg.get_int("time_boot_ms") / 1000.0
        return msg

    def send(self, detector: Detector, name: str, /, **fields: FieldValue | bytes) -> Verdict | None:
        return detector.on_message(self.view, self.message(name, **fields))

    # --- the messages detectors read, with sensible defaults --------------------------------

    def heartbeat(self, detector: Detector, mode: str, *, armed: bool = True) -> Verdict | None:
        return self.send(
            detector,
            "HEARTBEAT",
            type=QUADROTOR,
            autopilot=ARDUPILOTMEGA,
            base_mode=CUSTOM_MODE_ENABLED | (SAFETY_ARMED if armed else 0),
            custom_mode=mode_mapping(QUADROTOR)[mode],
            system_status=4,
            mavlink_version=3,
        )

    def position(
        self,
        detector: Detector,
        lat_deg: float,
        lon_deg: float,
        alt_rel_m: float = 40.0,
        *,
        advance_ms: int = 200,
    ) -> Verdict | None:
        self.time_boot_ms += advance_ms
        return self.send(
            detector,
            "GLOBAL_POSITION_INT",
            time_boot_ms=self.time_boot_ms,
            lat=round(lat_deg * 1e7),
            lon=round(lon_deg * 1e7),
            alt=round((alt_rel_m + 5.0) * 1000),
            relative_alt=round(alt_rel_m * 1000),
            vx=0,
            vy=0,
            vz=0,
            hdg=0,
        )

    def battery(self, detector: Detector, pct: int) -> Verdict | None:
        return self.send(
            detector,
            "SYS_STATUS",
            onboard_control_sensors_present=0,
            onboard_control_sensors_enabled=0,
            onboard_control_sensors_health=0,
            load=0,
            voltage_battery=15000,
            current_battery=1000,
            battery_remaining=pct,
            drop_rate_comm=0,
            errors_comm=0,
            errors_count1=0,
            errors_count2=0,
            errors_count3=0,
            errors_count4=0,
        )

    def home(self) -> None:
        self.message(
            "HOME_POSITION",
            latitude=round(HOME_LAT_DEG * 1e7),
            longitude=round(HOME_LON_DEG * 1e7),
            altitude=5000,
            x=0.0,
            y=0.0,
            z=0.0,
            q=[1.0, 0.0, 0.0, 0.0],
            approach_x=0.0,
            approach_y=0.0,
            approach_z=0.0,
        )

    def landed_state(self, state: int) -> None:
        self.message("EXTENDED_SYS_STATE", vtol_state=0, landed_state=state)
