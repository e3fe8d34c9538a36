"""Commands to one vehicle: COMMAND_LONG with retries, mode and arming with confirmation, streams, params.

ArduCopter acknowledges a command before its telemetry shows the effect (the armed flag can
appear in a HEARTBEAT up to about a second after the ACK), so mode changes and arming are
confirmed from HEARTBEAT, not from the ACK alone. Lost packets are handled by resending with
COMMAND_LONG's ``confirmation`` field incremented; a result other than ACCEPTED raises
CommandRejected with the MAV_RESULT and whatever the vehicle said in STATUSTEXT meanwhile
("PreArm: Need Position Estimate").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from app.link.codec import MavMessage, message_id, mode_mapping
from app.link.connection import VehicleChannel
from app.link.constants import MavCommand, MavModeFlag, MavParamType, MavResult, MavType, result_name
from app.link.errors import CommandRejected, LinkTimeout, NotConfirmed, ParamError
from app.link.router import Predicate
from app.link.vehicle import VehicleTracker

log = logging.getLogger(__name__)

DEFAULT_STREAM_RATES_HZ: Final[Mapping[str, float]] = {
    "GLOBAL_POSITION_INT": 5.0,
    "ATTITUDE": 5.0,
    "VFR_HUD": 2.0,
    "SYS_STATUS": 1.0,
    "GPS_RAW_INT": 1.0,
    "MISSION_CURRENT": 1.0,
    "EKF_STATUS_REPORT": 1.0,
    "BATTERY_STATUS": 1.0,
    "EXTENDED_SYS_STATE": 1.0,
    "HOME_POSITION": 0.5,
}
"""The streams AeroGrid needs; ArduCopter sends little beyond HEARTBEAT until asked."""

PAUSE_MODES: Final = frozenset({"BRAKE", "LOITER"})
_ARM_FORCE_MAGIC: Final = 21196  # COMPONENT_ARM_DISARM param2 that skips checks (ArduPilot, PX4)
_PARAM_ID_MAX_CHARS: Final = 16
_REJECTION_TEXT_GRACE_S: Final = 0.3
_HEARTBEAT_MSG_ID: Final = 0


@dataclass(frozen=True, slots=True)
class CommandedMode:
    """The last flight mode AeroGrid asked a vehicle for, and when (monotonic seconds).

    The alert detectors read it to tell an RTL or LAND the operator (or a flight) commanded from
    one the vehicle took by itself: a failsafe.
    """

    mode: str
    at_monotonic_s: float


def _float32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


class Commander:
    """COMMAND_LONG, modes, arming, streams and parameters for one vehicle."""

    def __init__(self, channel: VehicleChannel) -> None:
        self._ch = channel
        self._command_locks: dict[int, asyncio.Lock] = {}
        self._param_lock = asyncio.Lock()
        self.commanded_mode: CommandedMode | None = None

    # --- COMMAND_LONG ---------------------------------------------------------------------

    async def command_long(
        self,
        command: int,
        *,
        param1: float = 0.0,
        param2: float = 0.0,
        param3: float = 0.0,
        param4: float = 0.0,
        param5: float = 0.0,
        param6: float = 0.0,
        param7: float = 0.0,
        timeout_s: float | None = None,
        attempts: int | None = None,
    ) -> None:
        """Send a command until it is acknowledged; return on ACCEPTED.

        IN_PROGRESS stops the resends and waits for the final ACK. Commands with the same id are
        serialised per vehicle because COMMAND_ACK does not say which request it answers.
        Raises CommandRejected (any other result) or LinkTimeout (no ACK after ``attempts``).
        """
        ch, timing = self._ch, self._ch.timing
        per_attempt_s = timeout_s if timeout_s is not None else timing.command_timeout_s
        tries = attempts if attempts is not None else timing.command_attempts
        lock = self._command_locks.setdefault(command, asyncio.Lock())
        async with lock:
            texts_before = ch.tracker.statustexts_seen
            for confirmation in range(tries):
                ack_future = ch.router.expect(
                    names="COMMAND_ACK",
                    sysid=ch.sysid,
                    match=self._ack_matcher(command),
                    timeout_s=per_attempt_s,
                )
                ch.send(
                    "COMMAND_LONG",
                    target_system=ch.sysid,
                    target_component=ch.compid,
                    command=command,
                    confirmation=confirmation,
                    param1=param1,
                    param2=param2,
                    param3=param3,
                    param4=param4,
                    param5=param5,
                    param6=param6,
                    param7=param7,
                )
                try:
                    ack = await ack_future
                except LinkTimeout:
                    log.debug(
                        "drone %s: no ACK for %s (try %d)",
                        ch.drone_id,
                        _command_label(command),
                        confirmation + 1,
                    )
                    continue
                result = ack.get_int("result")
                while result == MavResult.IN_PROGRESS:
                    try:
                        ack = await ch.router.expect(
                            names="COMMAND_ACK",
                            sysid=ch.sysid,
                            match=self._ack_matcher(command),
                            timeout_s=timing.command_in_progress_timeout_s,
                        )
                    except LinkTimeout as exc:
                        raise LinkTimeout(
                            f"{_command_label(command)}: IN_PROGRESS but no final COMMAND_ACK within "
                            f"{timing.command_in_progress_timeout_s:.1f} s",
                            drone_id=ch.drone_id,
                        ) from exc
                    result = ack.get_int("result")
                if result == MavResult.ACCEPTED:
                    return
                said = await self._vehicle_said(texts_before)
                raise CommandRejected(
                    f"{_command_label(command)} rejected: {result_name(result)}"
                    + (f" ({said})" if said else ""),
                    command=command,
                    result=result,
                    drone_id=ch.drone_id,
                )
        raise LinkTimeout(
            f"{_command_label(command)}: no COMMAND_ACK after {tries} tries of {per_attempt_s:.1f} s",
            drone_id=ch.drone_id,
        )

    def _ack_matcher(self, command: int) -> Predicate:
        ch = self._ch

        def match(msg: MavMessage) -> bool:
            return msg.get_int("command") == command and ch.addressed_to_us(
                msg.get_int("target_system"), msg.get_int("target_component")
            )

        return match

    async def _vehicle_said(self, texts_before: int) -> str:
        """The STATUSTEXTs explaining a rejection ("PreArm: ..."), which may trail the ACK a little."""
        tracker = self._ch.tracker
        with contextlib.suppress(LinkTimeout):
            await tracker.wait_until(
                lambda t: t.statustexts_seen > texts_before,
                timeout_s=_REJECTION_TEXT_GRACE_S,
                what="STATUSTEXT",
            )
        return "; ".join(tracker.recent_statustexts(texts_before))

    # --- modes and arming -----------------------------------------------------------------

    def mode_number(self, mode: str) -> int:
        """ArduPilot's custom-mode number for a name, for this vehicle's type (ValueError if none)."""
        vehicle_type = self._ch.tracker.vehicle_type
        modes = mode_mapping(vehicle_type if vehicle_type is not None else MavType.QUADROTOR)
        number = modes.get(mode.upper())
        if number is None:
            raise ValueError(f"unknown flight mode {mode!r}; known: {', '.join(sorted(modes))}")
        return number

    async def set_mode(self, mode: str) -> None:
        """Switch flight mode by name (MAV_CMD_DO_SET_MODE) and wait for a HEARTBEAT showing it."""
        number = self.mode_number(mode)
        # Recorded before sending: the vehicle's HEARTBEAT in the new mode may arrive before the ACK.
        self.commanded_mode = CommandedMode(mode.upper(), time.monotonic())
        await self.command_long(
            MavCommand.DO_SET_MODE, param1=float(MavModeFlag.CUSTOM_MODE_ENABLED), param2=float(number)
        )
        await self._confirm(
            lambda t: t.custom_mode == number,
            timeout_s=self._ch.timing.mode_confirm_timeout_s,
            what=f"mode {mode.upper()}",
        )
        log.info("drone %s: mode %s confirmed", self._ch.drone_id, mode.upper())

    async def arm(self, *, force: bool = False) -> None:
        """Arm and wait for the armed flag in a HEARTBEAT (it follows the ACK by up to ~1 s)."""
        await self._arm_disarm(True, force)

    async def disarm(self, *, force: bool = False) -> None:
        """Disarm (``force`` also in flight: the motors stop) and wait for the HEARTBEAT to agree."""
        await self._arm_disarm(False, force)

    async def _arm_disarm(self, arm: bool, force: bool) -> None:
        await self.command_long(
            MavCommand.COMPONENT_ARM_DISARM,
            param1=1.0 if arm else 0.0,
            param2=float(_ARM_FORCE_MAGIC) if force else 0.0,
        )
        await self._confirm(
            lambda t: t.armed == arm,
            timeout_s=self._ch.timing.arm_confirm_timeout_s,
            what="armed flag" if arm else "disarmed flag",
        )
        log.info("drone %s: %s confirmed", self._ch.drone_id, "armed" if arm else "disarmed")

    async def _confirm(
        self, condition: Callable[[VehicleTracker], bool], *, timeout_s: float, what: str
    ) -> None:
        """Wait for a HEARTBEAT showing an acknowledged command's effect, asking for one at once.

        The next scheduled HEARTBEAT can be up to a second away, which matters right after
        arming (the copter disarms itself if no takeoff follows soon), so a HEARTBEAT is
        requested with MAV_CMD_REQUEST_MESSAGE; its ACK is not awaited, the HEARTBEAT is.
        Raises NotConfirmed when the vehicle never shows the effect.
        """
        ch = self._ch
        if condition(ch.tracker):
            return
        ch.send(
            "COMMAND_LONG",
            target_system=ch.sysid,
            target_component=ch.compid,
            command=MavCommand.REQUEST_MESSAGE,
            confirmation=0,
            param1=float(_HEARTBEAT_MSG_ID),
            param2=0.0,
            param3=0.0,
            param4=0.0,
            param5=0.0,
            param6=0.0,
            param7=0.0,
        )
        try:
            await ch.tracker.wait_until(condition, timeout_s=timeout_s, what=what)
        except LinkTimeout as exc:
            raise NotConfirmed(
                f"command acknowledged but HEARTBEAT did not confirm: {exc.message}", drone_id=ch.drone_id
            ) from exc

    async def takeoff(self, alt_m: float) -> None:
        """MAV_CMD_NAV_TAKEOFF to ``alt_m`` above home (GUIDED, armed). Send it right after arming:
        ArduCopter disarms itself about 10 s after arming on the ground."""
        if not math.isfinite(alt_m) or alt_m <= 0:
            raise ValueError(f"takeoff altitude must be a positive number of metres, got {alt_m}")
        await self.command_long(MavCommand.NAV_TAKEOFF, param7=alt_m)

    async def mission_start(self) -> None:
        """MAV_CMD_MISSION_START from the first item (param1 = param2 = 0; ArduCopter denies others)."""
        await self.command_long(MavCommand.MISSION_START, param1=0.0, param2=0.0)

    async def pause(self, mode: str = "BRAKE") -> None:
        """Hold position: BRAKE stops at once, LOITER holds where it settles."""
        if mode.upper() not in PAUSE_MODES:
            raise ValueError(f"pause mode must be one of {sorted(PAUSE_MODES)}, got {mode!r}")
        await self.set_mode(mode)

    async def resume(self) -> None:
        """Continue the mission from the current item (AUTO)."""
        await self.set_mode("AUTO")

    async def return_home(self) -> None:
        await self.set_mode("RTL")

    async def land(self) -> None:
        await self.set_mode("LAND")

    # --- streams --------------------------------------------------------------------------

    async def request_streams(
        self, rates_hz: Mapping[str, float] = DEFAULT_STREAM_RATES_HZ
    ) -> dict[str, int]:
        """Ask for each message at its rate (MAV_CMD_SET_MESSAGE_INTERVAL; 0 Hz stops it).

        Returns the MAV_RESULT per message: a vehicle that does not support one message should
        not stop the others. A timeout (no ACK at all) raises LinkTimeout.
        """
        results: dict[str, int] = {}
        for name, rate_hz in rates_hz.items():
            interval_us = -1.0 if rate_hz <= 0 else 1e6 / rate_hz
            try:
                await self.command_long(
                    MavCommand.SET_MESSAGE_INTERVAL, param1=float(message_id(name)), param2=interval_us
                )
                results[name] = MavResult.ACCEPTED
            except CommandRejected as exc:
                log.warning(
                    "drone %s: stream %s refused: %s", self._ch.drone_id, name, result_name(exc.result)
                )
                results[name] = exc.result
        return results

    # --- parameters -----------------------------------------------------------------------

    async def get_param(self, name: str) -> float:
        """Read one parameter (PARAM_REQUEST_READ -> PARAM_VALUE); LinkTimeout if never answered."""
        ch, timing = self._ch, self._ch.timing
        _check_param_name(name)
        for _ in range(timing.param_attempts):
            reply = ch.router.expect(
                names="PARAM_VALUE",
                sysid=ch.sysid,
                match=lambda m: m.get_str("param_id") == name,
                timeout_s=timing.param_timeout_s,
            )
            ch.send(
                "PARAM_REQUEST_READ",
                target_system=ch.sysid,
                target_component=ch.compid,
                param_id=name,
                param_index=-1,
            )
            try:
                return (await reply).get_float("param_value")
            except LinkTimeout:
                continue
        raise LinkTimeout(
            f"parameter {name}: no PARAM_VALUE after {timing.param_attempts} requests", drone_id=ch.drone_id
        )

    async def set_param(self, name: str, value: float, *, param_type: int | None = None) -> float:
        """Set a parameter and confirm it from the PARAM_VALUE the vehicle answers with.

        Raises ParamError when the vehicle answers with another value (read-only, clamped) and
        LinkTimeout when it never answers (unknown name on ArduPilot). Returns the value set.
        """
        ch, timing = self._ch, self._ch.timing
        _check_param_name(name)
        kind = param_type if param_type is not None else ch.tracker.param_types.get(name, MavParamType.REAL32)
        wanted = _float32(value)
        async with self._param_lock:
            with ch.router.subscribe(
                sysid=ch.sysid, names="PARAM_VALUE", match=lambda m: m.get_str("param_id") == name, maxsize=16
            ) as replies:
                other: float | None = None
                for _ in range(timing.param_attempts):
                    ch.send(
                        "PARAM_SET",
                        target_system=ch.sysid,
                        target_component=ch.compid,
                        param_id=name,
                        param_value=value,
                        param_type=kind,
                    )
                    deadline = asyncio.get_running_loop().time() + timing.param_timeout_s
                    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
                        reply = await replies.next(remaining)
                        if reply is None:
                            break
                        got = reply.get_float("param_value")
                        if got == wanted or (math.isnan(got) and math.isnan(wanted)):
                            log.info("drone %s: param %s = %s", ch.drone_id, name, got)
                            return got
                        other = got
        if other is not None:
            raise ParamError(
                f"parameter {name}: set to {value} but vehicle reports {other}", drone_id=ch.drone_id
            )
        raise LinkTimeout(
            f"parameter {name}: no PARAM_VALUE after {timing.param_attempts} sets", drone_id=ch.drone_id
        )


def _command_label(command: int) -> str:
    try:
        return f"MAV_CMD_{MavCommand(command).name}"
    except ValueError:
        return f"MAV_CMD({command})"


def _check_param_name(name: str) -> None:
    if not name or len(name) > _PARAM_ID_MAX_CHARS or not name.isascii():
        raise ValueError(f"parameter name must be 1-{_PARAM_ID_MAX_CHARS} ASCII characters, got {name!r}")
