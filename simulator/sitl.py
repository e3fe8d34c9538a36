"""Launch real ArduPilot SITL (``arducopter``) instances when a binary is available.

The binary comes from ``AEROGRID_SITL_BINARY`` or ``arducopter`` on PATH. Each instance runs in
its own temporary directory (SITL writes eeprom.bin and logs to its working directory) with
``--model + --instance I --home lat,lon,alt,hdg --speedup K --wipe --defaults copter.parm`` and
serves MAVLink on TCP 5760 + 10*I, listening on all interfaces (SITL cannot bind to loopback
only). SITL waits for a client on that port before it boots and takes about 42 s at speed-up 1
to be ready to arm, with a brief false "ready" around 21-23 s; :meth:`SitlInstance.wait_ready`
therefore judges readiness from SYS_STATUS's pre-arm bit together with EKF_STATUS_REPORT, held
steadily, not from one successful arm. The probe connection is closed afterwards, so the ground
station can take port 5760 (SERIAL1 on 5762 + 10*I also serves MAVLink).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

logger = logging.getLogger(__name__)

SITL_BINARY_ENV = "AEROGRID_SITL_BINARY"
SITL_DEFAULTS_ENV = "AEROGRID_SITL_DEFAULTS"
BASE_TCP_PORT = 5760
_PROBE_SYSID = 254
_READY_EKF_FLAGS = (
    mavlink.EKF_ATTITUDE
    | mavlink.EKF_VELOCITY_HORIZ
    | mavlink.EKF_POS_HORIZ_ABS
    | mavlink.EKF_POS_VERT_ABS
    | mavlink.EKF_PRED_POS_HORIZ_ABS
)


class SitlError(RuntimeError):
    """SITL could not be started or did not become ready."""


def find_sitl_binary() -> Path | None:
    """``AEROGRID_SITL_BINARY`` if it names an executable, else ``arducopter`` on PATH, else None."""
    configured = os.environ.get(SITL_BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which("arducopter")
    return Path(found) if found else None


def find_copter_defaults(binary: Path) -> Path | None:
    """The stock ``copter.parm``: ``AEROGRID_SITL_DEFAULTS``, or beside an ArduPilot build tree."""
    configured = os.environ.get(SITL_DEFAULTS_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() else None
    # build/sitl/bin/arducopter -> <ardupilot>/Tools/autotest/default_params/copter.parm
    for parent in binary.resolve().parents:
        candidate = parent / "Tools" / "autotest" / "default_params" / "copter.parm"
        if candidate.is_file():
            return candidate
    return None


class SitlInstance:
    """One ``arducopter`` SITL process; ``async with SitlInstance(...) as sitl: await sitl.wait_ready(60)``."""

    def __init__(
        self,
        binary: Path | str,
        instance: int = 0,
        home: tuple[float, float, float, float] = (31.2304, 121.4737, 5.0, 0.0),
        speedup: float = 1.0,
        defaults_path: Path | None = None,
        wipe: bool = True,
        *,
        sysid: int | None = None,
        model: str = "+",
    ) -> None:
        self.binary = Path(binary)
        self.instance = instance
        self.home = home
        self.speedup = speedup
        self.defaults_path = defaults_path if defaults_path is not None else find_copter_defaults(self.binary)
        self.wipe = wipe
        self.sysid = sysid
        self.model = model
        self._process: asyncio.subprocess.Process | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log: Any = None

    @property
    def tcp_port(self) -> int:
        return BASE_TCP_PORT + 10 * self.instance

    @property
    def connection_url(self) -> str:
        """A pymavlink connection string for the instance's first MAVLink port."""
        return f"tcp:127.0.0.1:{self.tcp_port}"

    def command_line(self) -> list[str]:
        lat, lon, alt, heading = self.home
        args = [
            str(self.binary),
            "--model",
            self.model,
            "--instance",
            str(self.instance),
            "--home",
            f"{lat:.7f},{lon:.7f},{alt:.2f},{heading:.1f}",
            "--speedup",
            f"{self.speedup:g}",
        ]
        if self.wipe:
            args.append("--wipe")
        if self.defaults_path is not None:
            args += ["--defaults", str(self.defaults_path)]
        if self.sysid is not None:
            args += ["--sysid", str(self.sysid)]
        return args

    async def start(self) -> None:
        if self._process is not None:
            raise SitlError("SITL already started")
        self._workdir = tempfile.TemporaryDirectory(prefix=f"aerogrid-sitl-{self.instance}-")
        workdir = Path(self._workdir.name)
        self._log = (workdir / "sitl.log").open("wb")
        logger.info("starting SITL instance %d: %s", self.instance, " ".join(self.command_line()))
        self._process = await asyncio.create_subprocess_exec(
            *self.command_line(),
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def wait_ready(self, timeout_s: float, *, stable_s: float = 2.0) -> None:
        """Connect, request SYS_STATUS/EKF_STATUS_REPORT/GPS_RAW_INT and wait until ready for ``stable_s``."""
        deadline = time.monotonic() + timeout_s
        reader, writer = await self._connect(deadline)
        try:
            await self._watch_readiness(reader, writer, deadline, stable_s)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _connect(self, deadline: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            if self._process is not None and self._process.returncode is not None:
                raise SitlError(f"SITL exited with code {self._process.returncode}")
            try:
                return await asyncio.open_connection("127.0.0.1", self.tcp_port)
            except OSError:
                if time.monotonic() > deadline:
                    raise SitlError(f"SITL port {self.tcp_port} never opened") from None
                await asyncio.sleep(0.2)

    async def _watch_readiness(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float, stable_s: float
    ) -> None:
        mav: Any = mavlink.MAVLink(
            None, srcSystem=_PROBE_SYSID, srcComponent=mavlink.MAV_COMP_ID_MISSIONPLANNER
        )
        # SITL 4.8 writes its boot banner as plain text on this port before the first frame:
        # bytes that are not MAVLink become BAD_DATA messages (matched by nothing below), not an exception.
        mav.robust_parsing = True
        requested_from: int | None = None
        prearm_ok = ekf_ok = gps_ok = False
        ready_since: float | None = None
        last_heartbeat = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - last_heartbeat >= 1.0:
                last_heartbeat = now
                msg = mav.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)
                writer.write(msg.pack(mav))
                mav.seq = (mav.seq + 1) % 256
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout=0.5)
            except TimeoutError:
                continue
            if not data:
                raise SitlError("SITL closed the connection")
            for msg in mav.parse_buffer(data) or []:
                kind = msg.get_type()
                if kind == "HEARTBEAT" and msg.get_srcComponent() == 1 and requested_from is None:
                    requested_from = msg.get_srcSystem()
                    self._request_streams(mav, writer, requested_from)
                elif kind == "SYS_STATUS":
                    prearm_ok = bool(msg.onboard_control_sensors_health & mavlink.MAV_SYS_STATUS_PREARM_CHECK)
                elif kind == "EKF_STATUS_REPORT":
                    ekf_ok = msg.flags & _READY_EKF_FLAGS == _READY_EKF_FLAGS and not (
                        msg.flags & mavlink.EKF_CONST_POS_MODE
                    )
                elif kind == "GPS_RAW_INT":
                    gps_ok = msg.fix_type >= 3
            if prearm_ok and ekf_ok and gps_ok:
                ready_since = ready_since or time.monotonic()
                if time.monotonic() - ready_since >= stable_s:
                    logger.info("SITL instance %d ready", self.instance)
                    return
            else:
                ready_since = None
        raise SitlError(f"SITL instance {self.instance} not ready within the timeout")

    @staticmethod
    def _request_streams(mav: Any, writer: asyncio.StreamWriter, target_sysid: int) -> None:
        for msgid in (
            mavlink.MAVLINK_MSG_ID_SYS_STATUS,
            mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
            mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
        ):
            msg = mav.command_long_encode(
                target_sysid, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, msgid, 500_000, 0, 0, 0, 0, 0
            )
            writer.write(msg.pack(mav))
            mav.seq = (mav.seq + 1) % 256

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=5.0)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    async def __aenter__(self) -> SitlInstance:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
