"""The ArduCopter parameters the simulator honours, with ArduCopter's names, units and types.

Only parameters that change simulated behaviour are listed, so a ground station that reads or
sets them sees the same PARAM_VALUE traffic as with a real ArduCopter. Integer parameters travel
as floats (ArduPilot's C-cast encoding) with the integer MAV_PARAM_TYPE, as ArduPilot sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ParamType(IntEnum):
    """MAV_PARAM_TYPE values used by ArduPilot for these parameters."""

    INT8 = 2
    INT16 = 4
    INT32 = 6
    REAL32 = 9


@dataclass(frozen=True, slots=True)
class ParamDef:
    name: str
    default: float
    param_type: ParamType
    doc: str


def default_param_defs(
    *, sysid: int, speedup: float, battery_cells: int, capacity_mah: int
) -> list[ParamDef]:
    """Parameter table for one vehicle; battery thresholds scale with the pack's cell count.

    Deviation from stock ArduCopter, on purpose: BATT_FS_LOW_ACT/BATT_FS_CRT_ACT default to
    RTL/LAND (stock: 0, none) so that a simulated battery failsafe does something visible; the
    voltages follow the stock 3.5 V per cell idea, scaled to the simulated pack.
    """
    i8, i16, i32, f32 = ParamType.INT8, ParamType.INT16, ParamType.INT32, ParamType.REAL32
    return [
        ParamDef("ARMING_CHECK", 1, i32, "1 = all pre-arm checks; 0 skips them"),
        ParamDef("BATT_ARM_VOLT", 0.0, f32, "minimum voltage to arm, 0 = off"),
        ParamDef("BATT_CAPACITY", capacity_mah, i32, "pack capacity, mAh"),
        ParamDef("BATT_CRT_VOLT", round(3.5 * battery_cells, 2), f32, "critical voltage, V"),
        ParamDef("BATT_FS_CRT_ACT", 1, i8, "critical action: 0 none, 1 land, 2 RTL"),
        ParamDef("BATT_FS_LOW_ACT", 2, i8, "low action: 0 none, 1 land, 2 RTL"),
        ParamDef("BATT_LOW_TIMER", 10, i8, "seconds below the low voltage before failsafe"),
        ParamDef("BATT_LOW_VOLT", round(3.6 * battery_cells, 2), f32, "low voltage, V"),
        ParamDef("BATT_MONITOR", 4, i8, "analog voltage and current"),
        ParamDef("DISARM_DELAY", 10, i8, "auto-disarm after this many seconds landed"),
        ParamDef("FENCE_ACTION", 1, i8, "0 report, 1 RTL or land, 2 land, 4 brake"),
        ParamDef("FENCE_ALT_MAX", 100.0, f32, "maximum altitude above home, m"),
        ParamDef("FENCE_ENABLE", 0, i8, "fences enabled"),
        ParamDef("FENCE_MARGIN", 2.0, f32, "distance inside the fence counted as a breach, m"),
        ParamDef("FENCE_RADIUS", 150.0, f32, "home circle radius, m"),
        ParamDef("FENCE_TYPE", 7, i8, "bitmask: 1 max alt, 2 home circle, 4 polygons"),
        ParamDef("FS_EKF_ACTION", 1, i8, "EKF failsafe: 1 land"),
        ParamDef("FS_GCS_ENABLE", 0, i8, "GCS failsafe: 0 off, 1 RTL, 2 continue AUTO, 5 land"),
        ParamDef("FS_GCS_TIMEOUT", 5.0, f32, "GCS heartbeat timeout, s"),
        ParamDef("LAND_ALT_LOW", 1000, i16, "below this altitude land at LAND_SPEED, cm"),
        ParamDef("LAND_SPEED", 50, i16, "final descent speed, cm/s"),
        ParamDef("LAND_SPEED_HIGH", 0, i16, "descent speed above LAND_ALT_LOW, cm/s (0 = WPNAV_SPEED_DN)"),
        ParamDef("MIS_TOTAL", 0, i16, "mission items stored (read only)"),
        ParamDef("RALLY_INCL_HOME", 1, i8, "RTL may choose home among rally points"),
        ParamDef("RTL_ALT", 1500, i32, "minimum return altitude, cm"),
        ParamDef("RTL_ALT_FINAL", 0, i32, "altitude to hover at after RTL, cm (0 = land)"),
        ParamDef("RTL_LOIT_TIME", 5000, i32, "hover above home before landing, ms"),
        ParamDef("RTL_SPEED", 0, i16, "return speed, cm/s (0 = WPNAV_SPEED)"),
        ParamDef("SIM_SPEEDUP", speedup, f32, "simulation speed-up over wall time"),
        ParamDef("SIM_WIND_DIR", 180.0, f32, "wind from this direction, deg"),
        ParamDef("SIM_WIND_SPD", 0.0, f32, "wind speed, m/s"),
        ParamDef("SYSID_MYGCS", 255, i16, "ground station system id"),
        ParamDef("SYSID_THISMAV", sysid, i16, "this vehicle's system id"),
        ParamDef("WPNAV_ACCEL", 250.0, f32, "horizontal acceleration, cm/s/s"),
        ParamDef("WPNAV_RADIUS", 200.0, f32, "waypoint acceptance radius, cm"),
        ParamDef("WPNAV_SPEED", 1000.0, f32, "horizontal mission speed, cm/s"),
        ParamDef("WPNAV_SPEED_DN", 150.0, f32, "descent speed, cm/s"),
        ParamDef("WPNAV_SPEED_UP", 250.0, f32, "climb speed, cm/s"),
        ParamDef("WP_YAW_BEHAVIOR", 2, i8, "0 fixed, 1 face next wp, 2 face next wp except RTL"),
    ]


class ParamStore:
    """Named values with ArduPilot's index order and integer rounding on set."""

    def __init__(self, defs: list[ParamDef]) -> None:
        self._defs = sorted(defs, key=lambda d: d.name)
        self._index = {d.name: i for i, d in enumerate(self._defs)}
        self._values = {d.name: float(d.default) for d in self._defs}

    def __len__(self) -> int:
        return len(self._defs)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def get_int(self, name: str) -> int:
        return round(self._values[name])

    def definition(self, name: str) -> ParamDef:
        return self._defs[self._index[name]]

    def index_of(self, name: str) -> int:
        return self._index[name]

    def name_at(self, index: int) -> str | None:
        if 0 <= index < len(self._defs):
            return self._defs[index].name
        return None

    def names(self) -> list[str]:
        return [d.name for d in self._defs]

    def snapshot(self) -> dict[str, float]:
        return dict(self._values)

    def set(self, name: str, value: float) -> float:
        """Store ``value`` (rounded for integer types, as AP_Param does) and return what was stored."""
        definition = self.definition(name)
        stored = float(value) if definition.param_type is ParamType.REAL32 else float(round(value))
        self._values[name] = stored
        return stored
