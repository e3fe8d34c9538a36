"""The live stream's messages: what a client may send, and the JSON the service sends back.

Every message is a JSON object with a ``type``. Client to service: ``auth`` (first, within
``AUTH_TIMEOUT_S``), ``subscribe`` / ``unsubscribe`` (drones, grids, communities) and ``ping``.
Service to client: ``ready``, ``subscribed``, ``state`` (a list of coalesced drone states),
``alert``, ``progress``, ``pong`` and ``error`` (the API's error shape: code, message, details
naming the field). docs/live.md is the reference; parsing here never raises anything but
``ProtocolError``, so a hostile frame is an ``error`` message, never a dropped connection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from app.telemetry.records import Sample

AUTH_TIMEOUT_S: Final = 5.0
MAX_FRAME_CHARS: Final = 65_536
MAX_TARGETS: Final = 5_000
"""At most this many drones (or grids, or communities) in one subscribe message."""

CODE_MAX_CHARS: Final = 64
CODE_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""Grid and community codes, as the API and the database's CHECK constraints hold them."""


class ProtocolError(Exception):
    """A client message the service cannot act on: answered with an ``error`` message."""

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []


@dataclass(frozen=True, slots=True)
class Targets:
    """What a subscribe or unsubscribe message names."""

    action: Literal["subscribe", "unsubscribe"]
    drones: frozenset[int]
    grids: frozenset[str]
    communities: frozenset[str]


def _invalid(field: str, problem: str) -> ProtocolError:
    return ProtocolError("validation_failed", f"{field}: {problem}", [{"field": field, "problem": problem}])


def parse_frame(text: str) -> dict[str, Any]:
    """A client frame as a JSON object with a string ``type``."""
    if len(text) > MAX_FRAME_CHARS:
        raise _invalid("message", f"longer than {MAX_FRAME_CHARS} characters")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:  # an integer too long to read included
        raise _invalid("message", "not JSON") from None
    except RecursionError:
        raise _invalid("message", "nested too deeply") from None
    if not isinstance(value, dict):
        raise _invalid("message", "not a JSON object")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise _invalid("type", "required, a string")
    return value


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: a ``ping`` id echoed back would make the pong unreadable."""
    raise _invalid("message", f"{name} is not a JSON number")


def auth_token(frame: dict[str, Any]) -> str:
    """The token of an ``auth`` message (the first message a client sends)."""
    if frame["type"] != "auth":
        raise _invalid("type", "the first message must be {'type': 'auth', 'token': ...}")
    token = frame.get("token")
    if not isinstance(token, str) or not token:
        raise _invalid("token", "required, a string")
    return token


def _codes(frame: dict[str, Any], field: str) -> frozenset[str]:
    raw = frame.get(field, [])
    if not isinstance(raw, list):
        raise _invalid(field, "must be a list of codes")
    if len(raw) > MAX_TARGETS:
        raise _invalid(field, f"at most {MAX_TARGETS} entries")
    for i, code in enumerate(raw):
        if not isinstance(code, str) or CODE_RE.fullmatch(code) is None:
            raise _invalid(
                f"{field}[{i}]", f"must be a code of 1 to {CODE_MAX_CHARS} letters, digits, '.', '_' or '-'"
            )
    return frozenset(raw)


def _ids(frame: dict[str, Any]) -> frozenset[int]:
    raw = frame.get("drones", [])
    if not isinstance(raw, list):
        raise _invalid("drones", "must be a list of drone ids")
    if len(raw) > MAX_TARGETS:
        raise _invalid("drones", f"at most {MAX_TARGETS} entries")
    for i, drone_id in enumerate(raw):
        if isinstance(drone_id, bool) or not isinstance(drone_id, int) or not 1 <= drone_id < 2**63:
            raise _invalid(f"drones[{i}]", "must be a positive integer drone id")
    return frozenset(raw)


def parse_targets(frame: dict[str, Any]) -> Targets:
    """A ``subscribe`` or ``unsubscribe`` message; unknown keys are refused (typos are not silent)."""
    action = frame["type"]
    if action not in ("subscribe", "unsubscribe"):
        raise _invalid("type", f"unknown message type {str(action)[:40]!r}")
    unknown = sorted(set(frame) - {"type", "drones", "grids", "communities"})
    if unknown:
        raise _invalid(unknown[0][:40], "unknown field")
    return Targets(action, _ids(frame), _codes(frame, "grids"), _codes(frame, "communities"))


def error_message(exc: ProtocolError) -> str:
    return json.dumps({"type": "error", "code": exc.code, "message": exc.message, "details": exc.details})


def _unix_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def state_json(sample: Sample, grid_code: str | None, community_code: str | None) -> str:
    """One drone's coalesced state (compact: a few hundred bytes, far under NOTIFY's 8,000)."""
    return json.dumps(
        {
            "drone_id": sample.drone_id,
            "grid_code": grid_code,
            "community_code": community_code,
            "time_unix_ms": _unix_ms(sample.time),
            "received_unix_ms": _unix_ms(sample.received_at),
            "lat_deg": sample.lat_deg,
            "lon_deg": sample.lon_deg,
            "alt_amsl_m": sample.alt_amsl_m,
            "alt_rel_m": sample.alt_rel_m,
            "groundspeed_mps": sample.groundspeed_mps,
            "climb_mps": sample.climb_mps,
            "heading_deg": sample.heading_deg,
            "battery_pct": sample.battery_pct,
            "mode": sample.mode,
            "armed": sample.armed,
            "gps_fix_type": sample.gps_fix_type,
            "satellites": sample.satellites,
            "mission_seq": sample.mission_seq,
        },
        separators=(",", ":"),
    )


def progress_json(sample: Sample, grid_code: str | None, community_code: str | None) -> str:
    """A flight-progress event: the drone's mission, sortie, current item, mode or arming changed."""
    return json.dumps(
        {
            "type": "progress",
            "drone_id": sample.drone_id,
            "grid_code": grid_code,
            "community_code": community_code,
            "upload_id": sample.upload_id,
            "mission_id": sample.mission_id,
            "sortie": sample.sortie,
            "mission_seq": sample.mission_seq,
            "mode": sample.mode,
            "armed": sample.armed,
            "received_unix_ms": _unix_ms(sample.received_at),
        },
        separators=(",", ":"),
    )


def alert_message(kind: str, alert: dict[str, Any]) -> str:
    """An alert change as the alerts API shows the alert (``kind``: opened, updated, cleared, acked)."""
    return json.dumps(
        {"type": "alert", "kind": kind, "alert": alert}, default=_jsonable, separators=(",", ":")
    )


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def states_frame(states: list[str]) -> str:
    """One ``state`` frame carrying every pending state of a client (pre-serialised, joined)."""
    return '{"type":"state","states":[' + ",".join(states) + "]}"
