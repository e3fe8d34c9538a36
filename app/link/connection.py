"""One MAVLink link (an endpoint) and the per-vehicle channel over it.

A ``Link`` joins a transport, its codec and its router, owns the transport's keep-alive task and
the 1 Hz ground-station HEARTBEAT, and is shared by every vehicle on the endpoint. A
``VehicleChannel`` is what command and mission code need for one vehicle: the link to send on,
the router to await replies from, the vehicle's tracker, its ids and the timing policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, fields

from app.link.codec import CodecStats, FieldValue, MavlinkCodec
from app.link.constants import MavAutopilot, MavState, MavType
from app.link.errors import NotConnected
from app.link.router import Router
from app.link.sysid_owners import SysidOwners
from app.link.transport import DEFAULT_UDP_RCVBUF_BYTES, Endpoint, Transport, make_transport
from app.link.vehicle import VehicleTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LinkTiming:
    """Timeouts and retry counts of every link operation, in one place so tests and slow links
    (radios, cellular) can tune them without touching protocol code."""

    heartbeat_interval_s: float = 1.0
    online_timeout_s: float = 3.0
    command_timeout_s: float = 1.0
    command_attempts: int = 3
    command_in_progress_timeout_s: float = 10.0
    mode_confirm_timeout_s: float = 3.0
    arm_confirm_timeout_s: float = 2.5
    param_timeout_s: float = 1.0
    param_attempts: int = 3
    mission_count_timeout_s: float = 1.0
    mission_count_attempts: int = 4
    mission_stall_timeout_s: float = 6.0
    mission_ack_timeout_s: float = 2.5
    mission_item_timeout_s: float = 0.5
    mission_item_attempts: int = 10
    mission_upload_attempts: int = 3


@dataclass(frozen=True, slots=True)
class LinkStats:
    """A link's health for the API and logs: codec counters plus whether it can send now."""

    endpoint: str
    connected: bool
    codec: CodecStats
    rx_sysid_conflicts: int = 0
    """Packets dropped because another address speaks for their system id (``SysidOwners``)."""

    def as_json(self) -> dict[str, object]:
        """The counters as one flat JSON object, as the drone state API shows them."""
        codec = self.codec
        return {
            "endpoint": self.endpoint,
            "connected": self.connected,
            **{f.name: getattr(codec, f.name) for f in fields(codec)},
            "rx_sysid_conflicts": self.rx_sysid_conflicts,
        }


class Link:
    """One endpoint's transport, codec and router, with the ground-station heartbeat."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        gcs_sysid: int,
        gcs_compid: int,
        signing_key: bytes | None = None,
        heartbeat_interval_s: float = 1.0,
        udp_rcvbuf_bytes: int = DEFAULT_UDP_RCVBUF_BYTES,
        sysid_release_s: float = 3.0,
    ) -> None:
        self.endpoint = endpoint
        self.name = str(endpoint)
        self.gcs_sysid = gcs_sysid
        self.gcs_compid = gcs_compid
        self.codec = MavlinkCodec(
            src_system=gcs_sysid, src_component=gcs_compid, signing_key=signing_key, name=self.name
        )
        self.router = Router(self.name)
        self.transport: Transport = make_transport(endpoint, udp_rcvbuf_bytes=udp_rcvbuf_bytes)
        self.transport.confirm_peers = True
        self.owners = SysidOwners(
            self.codec.anomalies,
            release_after_s=sysid_release_s,
            preferred=(endpoint.host, endpoint.port) if endpoint.kind == "udpout" else None,
        )
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_enabled = True
        self._task: asyncio.Task[None] | None = None

    @property
    def signing_key(self) -> bytes | None:
        return self.codec.signing_key

    @property
    def stats(self) -> LinkStats:
        return LinkStats(
            endpoint=self.name,
            connected=self.transport.connected,
            codec=self.codec.stats,
            rx_sysid_conflicts=self.owners.conflicts,
        )

    async def open(self) -> None:
        """Open the transport (raising NotConnected for a bad port) and start the link's tasks."""
        await self.transport.open(self._on_data)
        self._task = asyncio.create_task(self._supervise(), name=f"link {self.name}")

    async def _supervise(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.transport.run(), name=f"transport {self.name}")
                tg.create_task(self._heartbeat_loop(), name=f"heartbeat {self.name}")
        except* Exception as group:
            for exc in group.exceptions:
                log.error("link %s stopped: %r", self.name, exc, exc_info=exc)

    def _on_data(self, data: bytes) -> None:
        """Dispatch the messages in ``data``, except those whose system id another address owns;
        a ``udpin`` link replies to a sender only once its bytes held an accepted message."""
        source = self.transport.source
        accepted = False
        for msg in self.codec.decode(data, datagram=self.transport.is_datagram):
            if source is not None and not self.owners.admit(msg.sysid, source, msg.received_monotonic_s):
                continue
            accepted = True
            self.router.dispatch(msg)
        if accepted:
            self.transport.adopt_source()

    def send(self, name: str, /, **fields: FieldValue | bytes) -> None:
        """Encode and send one message now; raises NotConnected when the link cannot carry it."""
        self.transport.send(self.codec.encode(name, **fields))

    def send_heartbeat(self) -> None:
        """The ground station's HEARTBEAT; vehicles' GCS failsafes (FS_GCS_ENABLE) watch for it."""
        self.send(
            "HEARTBEAT",
            type=MavType.GCS,
            autopilot=MavAutopilot.INVALID,
            base_mode=0,
            custom_mode=0,
            system_status=MavState.ACTIVE,
            mavlink_version=3,
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            if self.heartbeat_enabled:
                try:
                    self.send_heartbeat()
                except NotConnected as exc:
                    log.debug("link %s: heartbeat not sent: %s", self.name, exc)
            await asyncio.sleep(self.heartbeat_interval_s)

    async def close(self) -> None:
        """Stop the tasks, close the transport and fail everything still waiting on the router."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.transport.close()
        self.router.close(NotConnected(f"link {self.name} closed"))
        log.info("link %s closed", self.name)


@dataclass(slots=True)
class VehicleChannel:
    """Everything a protocol needs to talk to one vehicle on a shared link."""

    drone_id: str
    link: Link
    tracker: VehicleTracker
    timing: LinkTiming

    @property
    def sysid(self) -> int:
        return self.tracker.sysid

    @property
    def compid(self) -> int:
        """The autopilot's component id, learned from its HEARTBEAT (1 until heard)."""
        return self.tracker.autopilot_compid

    @property
    def router(self) -> Router:
        return self.link.router

    def send(self, name: str, /, **fields: FieldValue | bytes) -> None:
        self.link.send(name, **fields)

    def addressed_to_us(self, target_system: int, target_component: int) -> bool:
        """Whether a reply's target ids name this ground station (0 means broadcast).

        Several ground stations can share a vehicle's stream: replies meant for another one
        (its MISSION_REQUESTs, its DENIED acks) must not drive our transfers.
        """
        return target_system in (0, self.link.gcs_sysid) and target_component in (0, self.link.gcs_compid)
