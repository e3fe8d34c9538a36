"""``LinkManager``: every MAVLink link of the service, and the ``VehicleLink`` handle per drone.

One link per endpoint; several drones may share an endpoint (a radio or router carrying many
vehicles) and are told apart by system id. The manager is created in the FastAPI lifespan (or
the CLI), never blocks the event loop, owns every background task through its links, and
``close()`` stops them all. Telemetry consumers (ingest, live hub) use ``add_listener`` (all
drones, with the drone id) or ``subscribe`` (one drone, or one whole link) rather than reaching
into links.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from types import TracebackType

from app.link.codec import SIGNING_KEY_BYTES, MavMessage
from app.link.commands import DEFAULT_STREAM_RATES_HZ, Commander
from app.link.connection import Link, LinkStats, LinkTiming, VehicleChannel
from app.link.constants import MavComponent
from app.link.errors import LinkConflict, UnknownDrone
from app.link.mission_protocol import MissionTransfer, UploadReport
from app.link.router import Subscription
from app.link.transport import DEFAULT_UDP_RCVBUF_BYTES, Endpoint, parse_endpoint
from app.link.vehicle import VehicleState, VehicleTracker
from missions.items import MissionItem, MissionType

log = logging.getLogger(__name__)

TelemetryListener = Callable[[str, MavMessage], None]
"""Called with (drone_id, message) for every decoded message of every registered drone."""


class VehicleLink:
    """Everything AeroGrid does with one drone: state, commands, mission transfers, telemetry."""

    def __init__(self, channel: VehicleChannel) -> None:
        self._ch = channel
        self.commands = Commander(channel)
        self.missions = MissionTransfer(channel)

    @property
    def drone_id(self) -> str:
        return self._ch.drone_id

    @property
    def sysid(self) -> int:
        return self._ch.sysid

    @property
    def endpoint(self) -> str:
        return self._ch.link.name

    @property
    def tracker(self) -> VehicleTracker:
        """The live (mutable) state; use ``state()`` for a consistent copy."""
        return self._ch.tracker

    @property
    def link(self) -> Link:
        return self._ch.link

    def state(self) -> VehicleState:
        return self._ch.tracker.snapshot()

    async def wait_online(self, timeout_s: float) -> None:
        """Return once the vehicle's HEARTBEAT has been heard; LinkTimeout otherwise."""
        await self._ch.tracker.wait_until(
            lambda t: t.heartbeats > 0 and t.online, timeout_s=timeout_s, what="HEARTBEAT"
        )

    def subscribe(self, *, names: str | Collection[str] | None = None, maxsize: int = 1024) -> Subscription:
        """Every decoded message of this drone's system id from now on (optionally by name)."""
        return self._ch.router.subscribe(sysid=self.sysid, names=names, maxsize=maxsize)

    # --- commands -------------------------------------------------------------------------

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
        await self.commands.command_long(
            command,
            param1=param1,
            param2=param2,
            param3=param3,
            param4=param4,
            param5=param5,
            param6=param6,
            param7=param7,
            timeout_s=timeout_s,
            attempts=attempts,
        )

    async def set_mode(self, mode: str) -> None:
        await self.commands.set_mode(mode)

    async def arm(self, *, force: bool = False) -> None:
        await self.commands.arm(force=force)

    async def disarm(self, *, force: bool = False) -> None:
        await self.commands.disarm(force=force)

    async def takeoff(self, alt_m: float) -> None:
        await self.commands.takeoff(alt_m)

    async def mission_start(self) -> None:
        await self.commands.mission_start()

    async def pause(self, mode: str = "BRAKE") -> None:
        await self.commands.pause(mode)

    async def resume(self) -> None:
        await self.commands.resume()

    async def return_home(self) -> None:
        await self.commands.return_home()

    async def land(self) -> None:
        await self.commands.land()

    async def request_streams(
        self, rates_hz: Mapping[str, float] = DEFAULT_STREAM_RATES_HZ
    ) -> dict[str, int]:
        return await self.commands.request_streams(rates_hz)

    async def get_param(self, name: str) -> float:
        return await self.commands.get_param(name)

    async def set_param(self, name: str, value: float, *, param_type: int | None = None) -> float:
        return await self.commands.set_param(name, value, param_type=param_type)

    # --- mission transfers ----------------------------------------------------------------

    async def upload_mission(
        self,
        items: Sequence[MissionItem],
        mission_type: int = MissionType.MISSION,
        *,
        attempts: int | None = None,
    ) -> UploadReport:
        return await self.missions.upload(items, mission_type, attempts=attempts)

    async def download_mission(self, mission_type: int = MissionType.MISSION) -> list[MissionItem]:
        return await self.missions.download(mission_type)

    async def clear_mission(self, mission_type: int = MissionType.MISSION) -> None:
        await self.missions.clear(mission_type)


class _Registration:
    __slots__ = ("link", "remove_listener", "vehicle")

    def __init__(self, link: Link, vehicle: VehicleLink, remove_listener: Callable[[], None]) -> None:
        self.link = link
        self.vehicle = vehicle
        self.remove_listener = remove_listener


class LinkManager:
    """Owns all links; drones are added and removed at run time (API registrations)."""

    def __init__(
        self,
        *,
        gcs_sysid: int = 255,
        gcs_compid: int = MavComponent.MISSIONPLANNER,
        timing: LinkTiming | None = None,
        udp_rcvbuf_bytes: int = DEFAULT_UDP_RCVBUF_BYTES,
    ) -> None:
        if not 1 <= gcs_sysid <= 255 or not 1 <= gcs_compid <= 255:
            raise ValueError("ground station system and component ids must be 1-255")
        self.gcs_sysid = gcs_sysid
        self.gcs_compid = gcs_compid
        self.timing = timing or LinkTiming()
        self.udp_rcvbuf_bytes = udp_rcvbuf_bytes
        self._links: dict[str, Link] = {}
        self._drones: dict[str, _Registration] = {}
        self._listeners: list[TelemetryListener] = []
        self._registry_lock = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> LinkManager:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- registry -------------------------------------------------------------------------

    async def add_drone(
        self, drone_id: str, endpoint: str | Endpoint, sysid: int, signing_key: bytes | None = None
    ) -> VehicleLink:
        """Register a drone on an endpoint (opening the link if it is the first drone there).

        Raises ValueError for a bad endpoint string, sysid or key; LinkConflict when the drone id
        is taken, another drone on the endpoint has this sysid, or the endpoint is already open
        with a different signing key (MAVLink signing is per link); NotConnected when a UDP port
        cannot be bound or a serial port opened.
        """
        if not drone_id:
            raise ValueError("drone id must not be empty")
        if not 1 <= sysid <= 255:
            raise ValueError(f"system id must be 1-255, got {sysid}")
        if signing_key is not None and len(signing_key) != SIGNING_KEY_BYTES:
            raise ValueError(f"signing key must be {SIGNING_KEY_BYTES} bytes, got {len(signing_key)}")
        parsed = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        async with self._registry_lock:
            if self._closed:
                raise LinkConflict("link manager is closed", drone_id=drone_id)
            if drone_id in self._drones:
                raise LinkConflict(f"drone {drone_id} is already linked", drone_id=drone_id)
            link = self._links.get(str(parsed))
            for other in self._links.values() if parsed.kind == "udpin" else ():
                if other is not link and other.endpoint.link_key == parsed.link_key:
                    # Two sockets on one local port would split the vehicle's datagrams between them.
                    raise LinkConflict(
                        f"endpoint {parsed}: local port {parsed.port} is already open as {other.name}",
                        drone_id=drone_id,
                    )
            if link is not None:
                if link.signing_key != signing_key:
                    raise LinkConflict(
                        f"endpoint {parsed} is open with a different signing key (signing is per link)",
                        drone_id=drone_id,
                    )
                for other_id, reg in self._drones.items():
                    if reg.link is link and reg.vehicle.sysid == sysid:
                        raise LinkConflict(
                            f"endpoint {parsed} already carries sysid {sysid} (drone {other_id})",
                            drone_id=drone_id,
                        )
            else:
                link = Link(
                    parsed,
                    gcs_sysid=self.gcs_sysid,
                    gcs_compid=self.gcs_compid,
                    signing_key=signing_key,
                    heartbeat_interval_s=self.timing.heartbeat_interval_s,
                    udp_rcvbuf_bytes=self.udp_rcvbuf_bytes,
                    sysid_release_s=self.timing.online_timeout_s,
                )
                await link.open()
                self._links[link.name] = link
            tracker = VehicleTracker(drone_id, sysid, online_timeout_s=self.timing.online_timeout_s)
            vehicle = VehicleLink(
                VehicleChannel(drone_id=drone_id, link=link, tracker=tracker, timing=self.timing)
            )

            def on_message(msg: MavMessage) -> None:
                tracker.update(msg)
                for listener in tuple(self._listeners):
                    try:
                        listener(drone_id, msg)
                    except Exception:
                        log.exception("drone %s: telemetry listener failed on %s", drone_id, msg.name)

            remove = link.router.add_listener(on_message, sysid=sysid)
            self._drones[drone_id] = _Registration(link, vehicle, remove)
        log.info(
            "drone %s linked on %s as sysid %d%s",
            drone_id,
            link.name,
            sysid,
            " (signed)" if signing_key else "",
        )
        return vehicle

    async def remove_drone(self, drone_id: str) -> None:
        """Unregister a drone; its link closes when no other drone uses it. UnknownDrone if absent."""
        async with self._registry_lock:
            reg = self._drones.pop(drone_id, None)
            if reg is None:
                raise UnknownDrone(f"drone {drone_id} is not linked", drone_id=drone_id)
            reg.remove_listener()
            if not any(other.link is reg.link for other in self._drones.values()):
                self._links.pop(reg.link.name, None)
                await reg.link.close()
        log.info("drone %s unlinked", drone_id)

    def vehicle(self, drone_id: str) -> VehicleLink:
        reg = self._drones.get(drone_id)
        if reg is None:
            raise UnknownDrone(f"drone {drone_id} is not linked", drone_id=drone_id)
        return reg.vehicle

    def state(self, drone_id: str) -> VehicleState:
        return self.vehicle(drone_id).state()

    def states(self) -> list[VehicleState]:
        return [reg.vehicle.state() for reg in self._drones.values()]

    def drone_ids(self) -> list[str]:
        return list(self._drones)

    def link_stats(self) -> list[LinkStats]:
        return [link.stats for link in self._links.values()]

    # --- telemetry consumers --------------------------------------------------------------

    def add_listener(self, listener: TelemetryListener) -> Callable[[], None]:
        """Call ``listener(drone_id, msg)`` for every message of every registered drone, now and
        later; returns the remover. Runs on the event loop: keep it quick (queue, don't await)."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def subscribe(
        self, drone_id: str, *, names: str | Collection[str] | None = None, maxsize: int = 1024
    ) -> Subscription:
        """Every decoded message of one drone as an async iterator (bounded, drops oldest)."""
        return self.vehicle(drone_id).subscribe(names=names, maxsize=maxsize)

    def subscribe_link(self, endpoint: str | Endpoint, *, maxsize: int = 4096) -> Subscription:
        """Every decoded message on one link, whatever its system id (unregistered ones too)."""
        key = str(parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint)
        link = self._links.get(key)
        if link is None:
            raise UnknownDrone(f"no open link on {key}")
        return link.router.subscribe(maxsize=maxsize)

    def set_heartbeat(self, drone_id: str, *, enabled: bool) -> None:
        """Start or stop the ground-station HEARTBEAT on the drone's link (all drones on it).

        Stopping it is how a GCS-loss failsafe is exercised; normally it always runs.
        """
        link = self.vehicle(drone_id).link
        link.heartbeat_enabled = enabled
        log.info("link %s: GCS heartbeat %s", link.name, "on" if enabled else "off")

    async def close(self) -> None:
        """Close every link (cancelling their tasks and failing pending operations); idempotent."""
        async with self._registry_lock:
            self._closed = True
            links = list(self._links.values())
            self._links.clear()
            self._drones.clear()
            self._listeners.clear()
        for link in links:
            await link.close()
