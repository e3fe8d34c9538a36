"""The two kinds of row telemetry produces: position samples and vehicle events.

Both are NamedTuples in the tables' column order, so a batch goes to ``copy_records_to_table``
as it is, with no per-row conversion on the hot path. The idempotent key of a sample is
(drone_id, boot_id, time_boot_ms) (plus ``time``, the partition column, which is derived from
them); of an event (drone_id, boot_id, seq).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, NamedTuple


class Sample(NamedTuple):
    time: datetime
    drone_id: int
    boot_id: int
    time_boot_ms: int
    grid_code: str | None
    upload_id: int | None
    mission_id: int | None
    sortie: int | None
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float
    groundspeed_mps: float | None
    climb_mps: float | None
    heading_deg: float | None
    battery_pct: int | None
    voltage_v: float | None
    current_a: float | None
    mode: str | None
    armed: bool
    gps_fix_type: int | None
    satellites: int | None
    hdop: float | None
    mission_seq: int | None
    received_at: datetime


class Event(NamedTuple):
    time: datetime
    drone_id: int
    boot_id: int
    seq: int
    kind: str
    text: str
    severity: int | None
    value: int | None
    lat_deg: float | None
    lon_deg: float | None


SAMPLE_COLUMNS: Final = Sample._fields
EVENT_COLUMNS: Final = Event._fields
GRID_CODE_INDEX: Final = SAMPLE_COLUMNS.index("grid_code")
LAT_INDEX: Final = SAMPLE_COLUMNS.index("lat_deg")
LON_INDEX: Final = SAMPLE_COLUMNS.index("lon_deg")
