"""MAVLink messages built from the autopilot's state: what the vehicle streams and answers with.

One method per message the vehicle sends on its own (HEARTBEAT, SYS_STATUS, positions, battery,
EKF, fence, home, ...), encoded with ArduCopter's field conventions; ``by_msgid`` maps a message
id to its builder for the streams (streams.py) and REQUEST_MESSAGE (commands.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.autopilot import Autopilot
from simulator.mavenums import COPTER_MODE_NUMBERS, MavMessage
from simulator.params import ParamStore

MSG_ID: dict[str, int] = {
    "HEARTBEAT": mavlink.MAVLINK_MSG_ID_HEARTBEAT,
    "SYS_STATUS": mavlink.MAVLINK_MSG_ID_SYS_STATUS,
    "SYSTEM_TIME": mavlink.MAVLINK_MSG_ID_SYSTEM_TIME,
    "GPS_RAW_INT": mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
    "ATTITUDE": mavlink.MAVLINK_MSG_ID_ATTITUDE,
    "GLOBAL_POSITION_INT": mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
    "MISSION_CURRENT": mavlink.MAVLINK_MSG_ID_MISSION_CURRENT,
    "NAV_CONTROLLER_OUTPUT": mavlink.MAVLINK_MSG_ID_NAV_CONTROLLER_OUTPUT,
    "VFR_HUD": mavlink.MAVLINK_MSG_ID_VFR_HUD,
    "POSITION_TARGET_GLOBAL_INT": mavlink.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT,
    "BATTERY_STATUS": mavlink.MAVLINK_MSG_ID_BATTERY_STATUS,
    "AUTOPILOT_VERSION": mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
    "HOME_POSITION": mavlink.MAVLINK_MSG_ID_HOME_POSITION,
    "EXTENDED_SYS_STATE": mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
    "EKF_STATUS_REPORT": mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
    "FENCE_STATUS": mavlink.MAVLINK_MSG_ID_FENCE_STATUS,
    "POWER_STATUS": mavlink.MAVLINK_MSG_ID_POWER_STATUS,
}

_CAPABILITIES = (
    mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_C_CAST
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_ATTITUDE_TARGET
    | mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)

_FLIGHT_SW_VERSION = (4 << 24) | (7 << 16) | (0 << 8) | mavlink.FIRMWARE_VERSION_TYPE_DEV

_SENSORS_PRESENT = (
    mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mavlink.MAV_SYS_STATUS_SENSOR_GPS
    | mavlink.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
    | mavlink.MAV_SYS_STATUS_SENSOR_YAW_POSITION
    | mavlink.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | mavlink.MAV_SYS_STATUS_AHRS
    | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    | mavlink.MAV_SYS_STATUS_PREARM_CHECK
)

_EKF_GOOD = (
    mavlink.EKF_ATTITUDE
    | mavlink.EKF_VELOCITY_HORIZ
    | mavlink.EKF_VELOCITY_VERT
    | mavlink.EKF_POS_HORIZ_REL
    | mavlink.EKF_POS_HORIZ_ABS
    | mavlink.EKF_POS_VERT_ABS
    | mavlink.EKF_PRED_POS_HORIZ_REL
    | mavlink.EKF_PRED_POS_HORIZ_ABS
)

_EKF_NO_POSITION = (
    mavlink.EKF_ATTITUDE | mavlink.EKF_VELOCITY_VERT | mavlink.EKF_POS_VERT_ABS | mavlink.EKF_CONST_POS_MODE
)


class MessageBuilder:
    """Encodes the autopilot's state with the vehicle's MAVLink encoder ``mav``."""

    def __init__(self, mav: MavMessage, autopilot: Autopilot, params: ParamStore, gps_noise_m: float) -> None:
        self._mav = mav
        self._autopilot = autopilot
        self._params = params
        self._gps_noise_m = gps_noise_m
        self.by_msgid: dict[int, Callable[[], MavMessage]] = {
            MSG_ID["HEARTBEAT"]: self.heartbeat,
            MSG_ID["SYS_STATUS"]: self.sys_status,
            MSG_ID["SYSTEM_TIME"]: self.system_time,
            MSG_ID["GPS_RAW_INT"]: self.gps_raw_int,
            MSG_ID["ATTITUDE"]: self.attitude,
            MSG_ID["GLOBAL_POSITION_INT"]: self.global_position_int,
            MSG_ID["MISSION_CURRENT"]: self.mission_current,
            MSG_ID["NAV_CONTROLLER_OUTPUT"]: self.nav_controller_output,
            MSG_ID["VFR_HUD"]: self.vfr_hud,
            MSG_ID["POSITION_TARGET_GLOBAL_INT"]: self.position_target_global_int,
            MSG_ID["BATTERY_STATUS"]: self.battery_status,
            MSG_ID["AUTOPILOT_VERSION"]: self.autopilot_version,
            MSG_ID["HOME_POSITION"]: self.home_position,
            MSG_ID["EXTENDED_SYS_STATE"]: self.extended_sys_state,
            MSG_ID["EKF_STATUS_REPORT"]: self.ekf_status_report,
            MSG_ID["FENCE_STATUS"]: self.fence_status,
            MSG_ID["POWER_STATUS"]: self.power_status,
        }

    def _time_boot_ms(self) -> int:
        return int(self._autopilot.sim_time_s * 1000) & 0xFFFFFFFF

    def heartbeat(self) -> MavMessage:
        autopilot = self._autopilot
        base_mode = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
        if autopilot.mode in ("AUTO", "GUIDED", "RTL", "LOITER", "LAND", "BRAKE"):
            base_mode |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if autopilot.armed:
            base_mode |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        if autopilot.any_failsafe:
            state = mavlink.MAV_STATE_CRITICAL
        elif autopilot.armed:
            state = mavlink.MAV_STATE_ACTIVE
        else:
            state = mavlink.MAV_STATE_STANDBY
        return self._mav.heartbeat_encode(
            mavlink.MAV_TYPE_QUADROTOR,
            mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode,
            COPTER_MODE_NUMBERS[autopilot.mode],
            state,
        )

    def sys_status(self) -> MavMessage:
        autopilot = self._autopilot
        enabled = _SENSORS_PRESENT
        if not autopilot.armed:
            enabled &= ~mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
        health = _SENSORS_PRESENT
        if autopilot.gps_fix_type < 3:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_GPS
        if not autopilot.ekf_ok:
            health &= ~mavlink.MAV_SYS_STATUS_AHRS
        if autopilot.prearm_failure() is not None:
            health &= ~mavlink.MAV_SYS_STATUS_PREARM_CHECK
        if autopilot.battery_low or autopilot.battery_critical:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
        present = _SENSORS_PRESENT
        if self._params.get_int("FENCE_ENABLE"):
            present |= mavlink.MAV_SYS_STATUS_GEOFENCE
            enabled |= mavlink.MAV_SYS_STATUS_GEOFENCE
            if not autopilot.fence_breaches:
                health |= mavlink.MAV_SYS_STATUS_GEOFENCE
        battery = autopilot.battery
        return self._mav.sys_status_encode(
            present,
            enabled,
            health,
            150,
            round(battery.voltage_v * 1000),
            round(battery.current_a * 100),
            round(battery.remaining_pct),
            0,
            0,
            0,
            0,
            0,
            0,
        )

    def system_time(self) -> MavMessage:
        return self._mav.system_time_encode(int(time.time() * 1e6), self._time_boot_ms())

    def gps_raw_int(self) -> MavMessage:
        autopilot = self._autopilot
        fix = autopilot.gps_location
        frame = autopilot.airframe
        has_fix = autopilot.gps_fix_type >= 3
        speed = frame.groundspeed_mps
        cog = (
            round(math.degrees(math.atan2(frame.vel_e_mps, frame.vel_n_mps)) % 360 * 100)
            if speed > 0.5
            else 0
        )
        return self._mav.gps_raw_int_encode(
            int(autopilot.sim_time_s * 1e6),
            autopilot.gps_fix_type,
            round(fix.lat_deg * 1e7) if has_fix else 0,
            round(fix.lon_deg * 1e7) if has_fix else 0,
            round(fix.alt_amsl_m * 1000) if has_fix else 0,
            70 if has_fix else 9999,
            110 if has_fix else 9999,
            round(speed * 100),
            cog,
            12 if has_fix else 0,
            round(fix.alt_amsl_m * 1000) if has_fix else 0,
            max(1, round(self._gps_noise_m * 1000)) if has_fix else 0,
            max(1, round(self._gps_noise_m * 1500)) if has_fix else 0,
            150 if has_fix else 0,
            0,
        )

    def global_position_int(self) -> MavMessage:
        autopilot = self._autopilot
        here = autopilot.location
        frame = autopilot.airframe
        return self._mav.global_position_int_encode(
            self._time_boot_ms(),
            round(here.lat_deg * 1e7),
            round(here.lon_deg * 1e7),
            round(here.alt_amsl_m * 1000),
            round(autopilot.alt_rel_m * 1000),
            round(frame.vel_n_mps * 100),
            round(frame.vel_e_mps * 100),
            round(-frame.vel_up_mps * 100),
            round(frame.yaw_deg * 100) % 36000,
        )

    def attitude(self) -> MavMessage:
        frame = self._autopilot.airframe
        roll, pitch = frame.attitude_rad()
        yaw = math.radians((frame.yaw_deg + 180.0) % 360.0 - 180.0)
        return self._mav.attitude_encode(
            self._time_boot_ms(), roll, pitch, yaw, 0.0, 0.0, math.radians(frame.yaw_rate_dps)
        )

    def vfr_hud(self) -> MavMessage:
        autopilot = self._autopilot
        frame = autopilot.airframe
        throttle = 0
        if autopilot.armed:
            throttle = 15 if autopilot.landed else min(100, round(40 + 4 * frame.vel_up_mps))
        return self._mav.vfr_hud_encode(
            frame.airspeed_mps,
            frame.groundspeed_mps,
            round(frame.yaw_deg) % 360,
            throttle,
            frame.alt_amsl_m,
            frame.vel_up_mps,
        )

    def battery_status(self) -> MavMessage:
        autopilot = self._autopilot
        battery = autopilot.battery
        voltages = [min(65534, round(battery.voltage_v * 1000))] + [65535] * 9
        if autopilot.battery_critical:
            charge_state = mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
        elif autopilot.battery_low:
            charge_state = mavlink.MAV_BATTERY_CHARGE_STATE_LOW
        else:
            charge_state = mavlink.MAV_BATTERY_CHARGE_STATE_OK
        return self._mav.battery_status_encode(
            0,
            mavlink.MAV_BATTERY_FUNCTION_ALL,
            mavlink.MAV_BATTERY_TYPE_LIPO,
            32767,
            voltages,
            round(battery.current_a * 100),
            round(battery.consumed_mah),
            round(battery.consumed_wh * 36),
            round(battery.remaining_pct),
            0,
            charge_state,
        )

    def home_position(self) -> MavMessage:
        home = self._autopilot.home
        if home is None:
            home = self._autopilot.location
        return self._mav.home_position_encode(
            round(home.lat_deg * 1e7),
            round(home.lon_deg * 1e7),
            round(home.alt_amsl_m * 1000),
            0.0,
            0.0,
            0.0,
            [1.0, 0.0, 0.0, 0.0],
            0.0,
            0.0,
            0.0,
            int(self._autopilot.sim_time_s * 1e6),
        )

    def extended_sys_state(self) -> MavMessage:
        autopilot = self._autopilot
        if autopilot.landed or not autopilot.armed:
            landed_state = mavlink.MAV_LANDED_STATE_ON_GROUND
        elif autopilot.mode == "LAND" or (autopilot.airframe.vel_up_mps < -0.2 and autopilot.mode == "RTL"):
            landed_state = mavlink.MAV_LANDED_STATE_LANDING
        elif autopilot.airframe.height_m < 1.0 and autopilot.airframe.vel_up_mps > 0.1:
            landed_state = mavlink.MAV_LANDED_STATE_TAKEOFF
        else:
            landed_state = mavlink.MAV_LANDED_STATE_IN_AIR
        return self._mav.extended_sys_state_encode(mavlink.MAV_VTOL_STATE_UNDEFINED, landed_state)

    def mission_current(self) -> MavMessage:
        autopilot = self._autopilot
        total = max(0, autopilot.mission.item_count() - 1)
        return self._mav.mission_current_encode(
            autopilot.nav_seq,
            total,
            autopilot.mission_state(),
            1 if autopilot.mode == "AUTO" else 0,
        )

    def ekf_status_report(self) -> MavMessage:
        ok = self._autopilot.ekf_ok
        variance = 0.02 if ok else 0.8
        return self._mav.ekf_status_report_encode(
            _EKF_GOOD if ok else _EKF_NO_POSITION, variance, variance, 0.02, 0.03, 0.0, 0.0
        )

    def nav_controller_output(self) -> MavMessage:
        frame = self._autopilot.airframe
        roll, pitch = frame.attitude_rad()
        heading = round(frame.yaw_deg) % 360
        return self._mav.nav_controller_output_encode(
            math.degrees(roll), math.degrees(pitch), heading, heading, 0, 0.0, 0.0, 0.0
        )

    def position_target_global_int(self) -> MavMessage:
        target = self._autopilot.target_location
        return self._mav.position_target_global_int_encode(
            self._time_boot_ms(),
            mavlink.MAV_FRAME_GLOBAL_INT,
            0xFF8,
            round(target.lat_deg * 1e7),
            round(target.lon_deg * 1e7),
            target.alt_amsl_m,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        )

    def fence_status(self) -> MavMessage:
        autopilot = self._autopilot
        breaches = autopilot.fence_breaches
        if "altitude" in breaches:
            breach_type = mavlink.FENCE_BREACH_MAXALT
        elif breaches:
            breach_type = mavlink.FENCE_BREACH_BOUNDARY
        else:
            breach_type = mavlink.FENCE_BREACH_NONE
        return self._mav.fence_status_encode(
            1 if breaches else 0,
            autopilot.fence_breach_count,
            breach_type,
            int(autopilot.fence_breach_time_s * 1000) & 0xFFFFFFFF,
            mavlink.FENCE_MITIGATE_VEL_LIMIT if breaches else mavlink.FENCE_MITIGATE_NONE,
        )

    def power_status(self) -> MavMessage:
        return self._mav.power_status_encode(5000, 0, 0)

    def autopilot_version(self) -> MavMessage:
        sysid = self._params.get_int("SYSID_THISMAV")
        return self._mav.autopilot_version_encode(
            _CAPABILITIES,
            _FLIGHT_SW_VERSION,
            0,
            0,
            0,
            list(b"aerogrid"),
            [0] * 8,
            [0] * 8,
            0x1209,
            0x5740,
            0xAE00_0000_0000 + sysid,
        )
