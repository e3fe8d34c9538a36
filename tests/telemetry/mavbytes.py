"""Real MAVLink 2 bytes for telemetry tests: a drone-side codec encodes, a GCS-side codec decodes."""

from __future__ import annotations

from app.link.codec import FieldValue, MavlinkCodec, MavMessage
from app.link.constants import MavModeFlag

GUIDED = 4
AUTO = 3


class FakeDrone:
    """Encodes messages as system ``sysid`` would send them; ``decoded`` returns what a link sees."""

    def __init__(self, sysid: int) -> None:
        self.sysid = sysid
        self.tx = MavlinkCodec(src_system=sysid, src_component=1)
        self.rx = MavlinkCodec(src_system=255, src_component=190)

    def packet(self, name: str, **fields: FieldValue | bytes) -> bytes:
        return self.tx.encode(name, **fields)

    def decoded(self, name: str, **fields: FieldValue | bytes) -> MavMessage:
        (msg,) = self.rx.decode(self.packet(name, **fields), datagram=True)
        return msg

    def heartbeat(self, *, custom_mode: int = GUIDED, armed: bool = False, system_status: int = 4) -> bytes:
        base = MavModeFlag.CUSTOM_MODE_ENABLED | (MavModeFlag.SAFETY_ARMED if armed else 0)
        return self.packet(
            "HEARTBEAT",
            type=2,
            autopilot=3,
            base_mode=int(base),
            custom_mode=custom_mode,
            system_status=system_status,
            mavlink_version=3,
        )

    def position(
        self, tbm: int, lat_deg: float, lon_deg: float, *, alt_m: float = 50.0, rel_m: float = 30.0
    ) -> bytes:
        return self.packet(
            "GLOBAL_POSITION_INT",
            time_boot_ms=tbm,
            lat=round(lat_deg * 1e7),
            lon=round(lon_deg * 1e7),
            alt=round(alt_m * 1000),
            relative_alt=round(rel_m * 1000),
            vx=300,
            vy=400,
            vz=-100,
            hdg=9000,
        )

    def message(self, data: bytes) -> MavMessage:
        (msg,) = self.rx.decode(data, datagram=True)
        return msg
