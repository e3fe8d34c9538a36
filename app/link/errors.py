"""The link layer's exceptions: one subtree of the service's ``DomainError``.

Every failure of a link operation is raised, never returned (DESIGN convention 5). Each class
carries a machine ``code`` and an ``http_status`` so ``app/errors.py``'s single handler can answer
the API without a mapping table, and the MAVLink result that caused it where there is one
(``CommandRejected.result``, ``MissionUploadError.result``) so operators see what the vehicle said.
"""

from __future__ import annotations

from typing import Any

from app.errors import DomainError
from app.link.constants import MavMissionResult, mission_result_name, result_name


class LinkError(DomainError):
    """Base of every link-layer failure; ``drone_id`` names the vehicle when one is involved."""

    code = "link_error"
    http_status = 502

    def __init__(self, message: str, *, drone_id: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.drone_id = drone_id


class NotConnected(LinkError):
    """The link cannot carry traffic now (no peer yet, TCP down, serial port missing)."""

    code = "link_not_connected"
    http_status = 503


class LinkTimeout(LinkError):
    """No answer within the operation's timeout, after its retries."""

    code = "link_timeout"
    http_status = 504


class NotConfirmed(LinkTimeout):
    """The vehicle acknowledged a command but its telemetry never showed the effect (mode, armed)."""

    code = "command_not_confirmed"


class CommandRejected(LinkError):
    """COMMAND_ACK with a result other than ACCEPTED; ``result`` is the MAV_RESULT value."""

    code = "command_rejected"
    http_status = 409

    def __init__(self, message: str, *, command: int, result: int, drone_id: str | None = None) -> None:
        super().__init__(
            message,
            drone_id=drone_id,
            details={"command": command, "result": result, "result_name": result_name(result)},
        )
        self.command = command
        self.result = result


class MissionUploadError(LinkError):
    """An upload did not end with the items verified on the vehicle.

    Uploads are not atomic on ArduPilot: after any failure the vehicle's previous mission of that
    type may be partially overwritten, so ``vehicle_mission_state`` is always "unknown" and the
    message says to re-upload or clear. ``result`` is the MAV_MISSION_RESULT the vehicle sent, or
    None when the transfer failed without a verdict (timeouts, a download that differs). A vehicle
    verdict maps to 409; a transfer failure to 502.
    """

    code = "mission_upload_failed"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        result: int | None,
        mission_type: int,
        attempts: int,
        drone_id: str | None = None,
    ) -> None:
        full = f"{message}; the vehicle's previous items may be partially overwritten: re-upload or clear"
        super().__init__(
            full,
            drone_id=drone_id,
            details={
                "result": result,
                "result_name": mission_result_name(result) if result is not None else None,
                "mission_type": mission_type,
                "attempts": attempts,
                "vehicle_mission_state": "unknown",
            },
        )
        self.result = result
        self.mission_type = mission_type
        self.attempts = attempts
        self.vehicle_mission_state = "unknown"
        if result is not None:
            self.http_status = 409


class MissionConflict(MissionUploadError):
    """MAV_MISSION_DENIED: another ground station is uploading this mission type right now."""

    code = "mission_conflict"
    http_status = 409

    def __init__(
        self, message: str, *, mission_type: int, attempts: int, drone_id: str | None = None
    ) -> None:
        super().__init__(
            message,
            result=MavMissionResult.DENIED,
            mission_type=mission_type,
            attempts=attempts,
            drone_id=drone_id,
        )


class MissionTransferError(LinkError):
    """A download or clear failed; ``result`` is the vehicle's MAV_MISSION_RESULT when it sent one."""

    code = "mission_transfer_failed"
    http_status = 502

    def __init__(
        self, message: str, *, result: int | None, mission_type: int, drone_id: str | None = None
    ) -> None:
        super().__init__(
            message,
            drone_id=drone_id,
            details={
                "result": result,
                "result_name": mission_result_name(result) if result is not None else None,
                "mission_type": mission_type,
            },
        )
        self.result = result
        self.mission_type = mission_type
        if result is not None:
            self.http_status = 409


class ParamError(LinkError):
    """PARAM_SET answered with a different value than the one set (read-only or clamped)."""

    code = "param_not_set"
    http_status = 409


class VehicleNotReady(LinkError):
    """The vehicle did not report pre-arm checks and EKF healthy within the wait."""

    code = "vehicle_not_ready"
    http_status = 409


class FlightAborted(LinkError):
    """The flight left the expected sequence (mode changed by a failsafe or operator, disarmed early)."""

    code = "flight_aborted"
    http_status = 409


class VehicleRebooted(FlightAborted):
    """The vehicle's time since boot says it restarted: whatever it was flying is not finished."""

    code = "vehicle_rebooted"


class LinkLost(FlightAborted):
    """The vehicle stayed silent for longer than the flight's link-lost limit."""

    code = "link_lost"
    http_status = 504


class MissionMismatch(FlightAborted):
    """The mission on board is not the one uploaded for this flight (its item count differs)."""

    code = "mission_mismatch"


class UnknownDrone(LinkError):
    """No link is registered for this drone id."""

    code = "drone_not_linked"
    http_status = 404


class LinkConflict(LinkError):
    """A registration clashes with an existing one (same drone id, same sysid on a link, other key)."""

    code = "link_conflict"
    http_status = 409


__all__ = [
    "CommandRejected",
    "FlightAborted",
    "LinkConflict",
    "LinkError",
    "LinkLost",
    "LinkTimeout",
    "MissionConflict",
    "MissionMismatch",
    "MissionTransferError",
    "MissionUploadError",
    "NotConfirmed",
    "NotConnected",
    "ParamError",
    "UnknownDrone",
    "VehicleNotReady",
    "VehicleRebooted",
]
