"""MAVLink mission protocol for MISSION, FENCE and RALLY items: upload, download, clear.

What a real ArduCopter does and this module copes with (ARDUCOPTER-BEHAVIOUR.md):

* The vehicle drives an upload with MISSION_REQUEST (not _INT); both are answered with
  MISSION_ITEM_INT. It re-requests a missing item about every second, so a lost item or request
  costs one re-request, and a repeated MISSION_COUNT from the same ground station restarts it.
* A duplicate answer to a re-request reaches the vehicle after it moved on and draws a
  MISSION_ACK INVALID_SEQUENCE, which does not end the transfer: it is ignored mid-upload.
* The final MISSION_ACK is never resent. When it is lost the outcome is settled by downloading
  the items and comparing (seq 0 of a mission is home and reads back as the real home; frame 6
  reads back as 3; params are float32 and NaN compares equal to NaN), so an upload ends verified
  or failed, never unknown.
* DENIED means another ground station holds the upload: MissionConflict. Any other result
  fails the upload; uploads are not atomic, so the vehicle's previous items of that type may be
  partly overwritten and its stored state becomes "unknown: re-upload or clear".
* Replies addressed to another ground station (its requests, its DENIED) are ignored.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from app.link.codec import MavMessage
from app.link.connection import VehicleChannel
from app.link.constants import MavMissionResult, mission_result_name
from app.link.errors import (
    LinkTimeout,
    MissionConflict,
    MissionTransferError,
    MissionUploadError,
    NotConnected,
)
from app.link.router import Predicate, Subscription
from missions.items import MavFrame, MissionItem, MissionType

log = logging.getLogger(__name__)

STORED_VERIFIED: Final = "verified"
STORED_UPLOADING: Final = "uploading"
STORED_CLEARED: Final = "cleared"
STORED_UNKNOWN: Final = "unknown: re-upload or clear"

# On readback ArduPilot reports the float-coordinate twin of an integer frame.
_FRAME_EQUIVALENT: Final[dict[int, int]] = {
    MavFrame.GLOBAL_INT: MavFrame.GLOBAL,
    MavFrame.GLOBAL_RELATIVE_ALT_INT: MavFrame.GLOBAL_RELATIVE_ALT,
    MavFrame.GLOBAL_TERRAIN_ALT_INT: 10,  # MAV_FRAME_GLOBAL_TERRAIN_ALT
}
_GLOBAL_FRAMES: Final = frozenset({0, 3, 5, 6, 10, 11})
# Commands AP_Mission stores with a location (AP_Mission::stored_in_location), plus fence and
# rally items: for these x/y must read back exactly and z to the centimetre (rally: whole metres).
_LOCATION_COMMANDS: Final = frozenset(
    {16, 17, 18, 19, 21, 22, 30, 31, 82, 84, 85, 92, 94, 179, 189, 191, 195, 197, 201}
    | {5000, 5001, 5002, 5003, 5004, 5100}
)
_SETTLE_RETRIES: Final = 2
_NAV_LOITER_TIME: Final = 19
_ALT_STORAGE_TOLERANCE_M: Final = 0.0101  # AP_Mission keeps altitude in whole centimetres
_UPLOAD_REPLIES: Final = frozenset({"MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"})
_DOWNLOAD_REPLIES: Final = frozenset({"MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK"})

VerifiedBy = Literal["ack", "download"]


@dataclass(frozen=True, slots=True)
class UploadReport:
    """How an upload ended: ``verified_by`` is "ack" (final MISSION_ACK ACCEPTED) or "download"
    (the ACK was lost and a readback matched)."""

    mission_type: int
    items: int
    attempts: int
    duration_s: float
    verified: bool
    verified_by: VerifiedBy


class _AttemptFailed(Exception):
    """One upload attempt ended without a verdict; the whole upload may be retried."""


def mission_type_name(mission_type: int) -> str:
    try:
        return MissionType(mission_type).name.lower()
    except ValueError:
        return str(mission_type)


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _param_stored(sent: float, got: float) -> bool:
    """A param reads back as sent, as 0 (Copter does not keep it) or C-truncated (kept as an integer)."""
    return _same_float(sent, got) or got == 0.0 or (math.isfinite(sent) and got == float(int(sent)))


def _z_stored(sent: MissionItem, got: MissionItem, mission_type: int, location: bool) -> bool:
    if _same_float(sent.z, got.z):
        return True
    if not location or mission_type == MissionType.FENCE:
        return got.z == 0.0  # not stored at all
    if mission_type == MissionType.RALLY:
        return math.isfinite(sent.z) and got.z == float(int(sent.z))  # AP_Rally keeps whole metres
    return abs(sent.z - got.z) <= _ALT_STORAGE_TOLERANCE_M


def item_differences(sent: Sequence[MissionItem], got: Sequence[MissionItem], mission_type: int) -> list[str]:
    """How downloaded items differ from the uploaded ones, in words; empty when they match.

    "Match" means "what ArduPilot stores when it accepts these items": seq 0 of a MISSION is
    ignored (it reads back as the real home), integer frames equal their float twins (6 reads
    back as 3), fences keep no frame, params are float32 compared NaN-safely and may read back
    as 0 or truncated where AP_Mission does not keep them or keeps them as integers, and
    altitude is kept to the centimetre; autocontinue is not kept. Command and location must
    match exactly, which is what tells a new mission from an old or half-written one.
    """
    if len(sent) != len(got):
        return [f"count: sent {len(sent)}, vehicle has {len(got)}"]
    differences: list[str] = []
    first = 1 if mission_type == MissionType.MISSION else 0
    for seq in range(first, len(sent)):
        a, b = sent[seq], got[seq]
        if a.command != b.command:
            differences.append(f"seq {seq}: command {a.command}!={b.command}")
            continue
        location = a.command in _LOCATION_COMMANDS
        fields: list[str] = []
        frames_equal = _FRAME_EQUIVALENT.get(a.frame, a.frame) == _FRAME_EQUIVALENT.get(b.frame, b.frame)
        if location and mission_type != MissionType.FENCE and not frames_equal:
            fields.append(f"frame {a.frame}!={b.frame}")
        if (a.x, a.y) != (b.x, b.y) and (location or (b.x, b.y) != (0, 0)):
            fields.append(f"x,y {a.x},{a.y}!={b.x},{b.y}")
        if not _z_stored(a, b, mission_type, location):
            fields.append(f"z {a.z}!={b.z}")
        for name in ("param1", "param2", "param3", "param4"):
            va, vb = getattr(a, name), getattr(b, name)
            # LOITER_TIME's param3: AP_Mission keeps only the direction, read back as -1 or 1.
            direction = a.command == _NAV_LOITER_TIME and name == "param3" and vb == (-1.0 if va < 0 else 1.0)
            if not (_param_stored(va, vb) or direction):
                fields.append(f"{name} {va}!={vb}")
        if fields:
            differences.append(f"seq {seq}: " + ", ".join(fields))
    return differences


def _item_from_message(msg: MavMessage, mission_type: int) -> MissionItem:
    frame = msg.get_int("frame")
    if msg.name == "MISSION_ITEM" and frame in _GLOBAL_FRAMES:
        x, y = round(msg.get_float("x") * 1e7), round(msg.get_float("y") * 1e7)
    else:
        x, y = round(msg.get_float("x")), round(msg.get_float("y"))
    return MissionItem(
        command=msg.get_int("command"),
        frame=frame,
        param1=msg.get_float("param1"),
        param2=msg.get_float("param2"),
        param3=msg.get_float("param3"),
        param4=msg.get_float("param4"),
        x=x,
        y=y,
        z=msg.get_float("z"),
        autocontinue=msg.get_int("autocontinue"),
        mission_type=mission_type,
    )


class MissionTransfer:
    """Upload, download and clear of one vehicle's MISSION, FENCE and RALLY items."""

    def __init__(self, channel: VehicleChannel) -> None:
        self._ch = channel
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self, mission_type: int) -> asyncio.Lock:
        return self._locks.setdefault(mission_type, asyncio.Lock())

    def _replies(self, names: frozenset[str], mission_type: int) -> Subscription:
        ch = self._ch

        def for_this_transfer(msg: MavMessage) -> bool:
            return msg.get_int("mission_type") == mission_type and ch.addressed_to_us(
                msg.get_int("target_system"), msg.get_int("target_component")
            )

        match: Predicate = for_this_transfer
        return ch.router.subscribe(sysid=ch.sysid, names=names, match=match, maxsize=4096)

    # --- upload ---------------------------------------------------------------------------

    async def upload(
        self,
        items: Sequence[MissionItem],
        mission_type: int = MissionType.MISSION,
        *,
        attempts: int | None = None,
    ) -> UploadReport:
        """Upload ``items`` (seq = index; for a MISSION, seq 0 is home) and verify they are stored.

        Retries the whole upload when an attempt ends without a verdict (timeouts, a readback
        that differs) up to ``attempts`` times. Raises MissionConflict on DENIED,
        MissionUploadError with the vehicle's result on any other rejection or with
        ``result=None`` after the last attempt (timeouts count as failed attempts), and
        NotConnected when the vehicle is not heard or the link cannot send.
        """
        ch = self._ch
        tries = attempts if attempts is not None else ch.timing.mission_upload_attempts
        type_name = mission_type_name(mission_type)
        started_s = time.monotonic()
        if not ch.tracker.online:
            raise NotConnected(f"{type_name} upload: vehicle not heard from", drone_id=ch.drone_id)
        async with self._lock(mission_type):
            ch.tracker.stored_items[type_name] = STORED_UPLOADING
            last_failure = ""
            try:
                for attempt in range(1, tries + 1):
                    try:
                        verified_by = await self._upload_attempt(items, mission_type, attempt)
                    except _AttemptFailed as exc:
                        last_failure = str(exc)
                        log.warning(
                            "drone %s: %s upload attempt %d/%d failed: %s",
                            ch.drone_id,
                            type_name,
                            attempt,
                            tries,
                            exc,
                        )
                        continue
                    duration_s = time.monotonic() - started_s
                    ch.tracker.stored_items[type_name] = STORED_VERIFIED
                    log.info(
                        "drone %s: %s upload of %d items verified by %s in %.2f s (%d attempts)",
                        ch.drone_id,
                        type_name,
                        len(items),
                        verified_by,
                        duration_s,
                        attempt,
                    )
                    return UploadReport(
                        mission_type=mission_type,
                        items=len(items),
                        attempts=attempt,
                        duration_s=duration_s,
                        verified=True,
                        verified_by=verified_by,
                    )
            except BaseException:
                # Rejected, denied, disconnected or cancelled part-way: ArduPilot writes items as
                # they arrive, so what is stored now may be a mix of old and new.
                ch.tracker.stored_items[type_name] = STORED_UNKNOWN
                raise
            ch.tracker.stored_items[type_name] = STORED_UNKNOWN
            raise MissionUploadError(
                f"{type_name} upload of {len(items)} items not verified after {tries} attempts: {last_failure}",
                result=None,
                mission_type=mission_type,
                attempts=tries,
                drone_id=ch.drone_id,
            )

    async def _upload_attempt(
        self, items: Sequence[MissionItem], mission_type: int, attempt: int
    ) -> VerifiedBy:
        ch, timing = self._ch, self._ch.timing
        count = len(items)
        with self._replies(_UPLOAD_REPLIES, mission_type) as replies:
            self._send_count(count, mission_type)
            count_sends = 1
            requested: set[int] = set()
            final_sent = False
            settle_tries = 0
            while True:
                if not requested:
                    wait_s = timing.mission_count_timeout_s
                elif final_sent:
                    wait_s = timing.mission_ack_timeout_s
                else:
                    wait_s = timing.mission_stall_timeout_s
                msg = await replies.next(wait_s)
                if msg is None:
                    if final_sent:
                        settled = await self._settle_by_download(items, mission_type)
                        if settled is not None:
                            return settled
                        # Still receiving: our final item was lost and so were its re-requests.
                        # Drop the download's DENIED from our queue and keep answering.
                        replies.drain()
                        settle_tries += 1
                        if settle_tries > _SETTLE_RETRIES:
                            raise _AttemptFailed("vehicle still receiving after the final item")
                        continue
                    if requested:
                        raise _AttemptFailed(
                            f"vehicle stopped requesting after seq {max(requested)} of {count} "
                            f"({wait_s:.1f} s without a request)"
                        )
                    if count_sends >= timing.mission_count_attempts:
                        raise _AttemptFailed(f"no answer to {count_sends} MISSION_COUNT")
                    self._send_count(count, mission_type)
                    count_sends += 1
                    continue
                if msg.name == "MISSION_ACK":
                    verdict = self._on_upload_ack(msg, count, final_sent, mission_type, attempt)
                    if verdict is not None:
                        return verdict
                    continue
                seq = msg.get_int("seq")
                if seq >= count:
                    log.warning("drone %s: vehicle requested seq %d of %d; ignored", ch.drone_id, seq, count)
                    continue
                requested.add(seq)
                self._send_item(items[seq], seq, mission_type)
                if seq == count - 1:
                    final_sent = True

    def _on_upload_ack(
        self, msg: MavMessage, count: int, final_sent: bool, mission_type: int, attempt: int
    ) -> VerifiedBy | None:
        """The verdict a MISSION_ACK gives an upload attempt, or None to keep going."""
        ch = self._ch
        result = msg.get_int("type")
        if result == MavMissionResult.ACCEPTED:
            if final_sent or count == 0:
                return "ack"
            log.debug("drone %s: ACCEPTED before the last item (stale); ignored", ch.drone_id)
            return None
        if result == MavMissionResult.INVALID_SEQUENCE:
            # ArduPilot answers a duplicate item (our second answer to a re-request) this way and
            # keeps the transfer going; a vehicle that really gave up shows as a stall.
            log.debug("drone %s: INVALID_SEQUENCE for a duplicate item; transfer continues", ch.drone_id)
            return None
        if result == MavMissionResult.DENIED:
            raise MissionConflict(
                f"{mission_type_name(mission_type)} upload denied: another ground station is uploading",
                mission_type=mission_type,
                attempts=attempt,
                drone_id=ch.drone_id,
            )
        if result == MavMissionResult.OPERATION_CANCELLED:
            raise _AttemptFailed("vehicle cancelled the upload (no progress on its side)")
        raise MissionUploadError(
            f"{mission_type_name(mission_type)} upload rejected: {mission_result_name(result)}",
            result=result,
            mission_type=mission_type,
            attempts=attempt,
            drone_id=ch.drone_id,
        )

    async def _settle_by_download(self, items: Sequence[MissionItem], mission_type: int) -> VerifiedBy | None:
        """The final ACK never came: read the items back and decide.

        Returns "download" when the readback matches, None when the vehicle denies the download
        because it is still receiving (it will re-request the final item); raises _AttemptFailed
        when the readback differs or cannot be completed.
        """
        ch = self._ch
        log.info("drone %s: no final MISSION_ACK; verifying by download", ch.drone_id)
        try:
            stored = await self._download_locked(mission_type)
        except MissionTransferError as exc:
            if exc.result == MavMissionResult.DENIED:
                return None
            raise _AttemptFailed(f"final ACK lost and readback refused: {exc}") from exc
        except LinkTimeout as exc:
            raise _AttemptFailed(f"final ACK lost and readback failed: {exc}") from exc
        differences = item_differences(items, stored, mission_type)
        if differences:
            raise _AttemptFailed(f"final ACK lost and readback differs: {'; '.join(differences[:3])}")
        return "download"

    def _send_count(self, count: int, mission_type: int) -> None:
        ch = self._ch
        ch.send(
            "MISSION_COUNT",
            target_system=ch.sysid,
            target_component=ch.compid,
            count=count,
            mission_type=mission_type,
        )

    def _send_item(self, item: MissionItem, seq: int, mission_type: int) -> None:
        ch = self._ch
        ch.send(
            "MISSION_ITEM_INT",
            target_system=ch.sysid,
            target_component=ch.compid,
            seq=seq,
            frame=item.frame,
            command=item.command,
            current=0,
            autocontinue=item.autocontinue,
            param1=item.param1,
            param2=item.param2,
            param3=item.param3,
            param4=item.param4,
            x=item.x,
            y=item.y,
            z=item.z,
            mission_type=mission_type,
        )

    # --- download -------------------------------------------------------------------------

    async def download(self, mission_type: int = MissionType.MISSION) -> list[MissionItem]:
        """Read every stored item (for a MISSION, seq 0 is the vehicle's real home).

        Raises MissionTransferError (DENIED while someone uploads, or another vehicle error)
        or LinkTimeout when the vehicle stops answering.
        """
        async with self._lock(mission_type):
            return await self._download_locked(mission_type)

    async def _download_locked(self, mission_type: int) -> list[MissionItem]:
        ch = self._ch
        with self._replies(_DOWNLOAD_REPLIES, mission_type) as replies:
            count = await self._request_count(replies, mission_type)
            items: list[MissionItem] = []
            for seq in range(count):
                items.append(await self._request_item(replies, seq, mission_type))
            ch.send(
                "MISSION_ACK",
                target_system=ch.sysid,
                target_component=ch.compid,
                type=MavMissionResult.ACCEPTED,
                mission_type=mission_type,
            )
        log.debug("drone %s: downloaded %d %s items", ch.drone_id, count, mission_type_name(mission_type))
        return items

    async def _request_count(self, replies: Subscription, mission_type: int) -> int:
        ch, timing = self._ch, self._ch.timing
        for _ in range(timing.mission_item_attempts):
            ch.send(
                "MISSION_REQUEST_LIST",
                target_system=ch.sysid,
                target_component=ch.compid,
                mission_type=mission_type,
            )
            reply = await self._await_reply(replies, "MISSION_COUNT", None, mission_type)
            if reply is not None:
                return reply.get_int("count")
        raise LinkTimeout(
            f"{mission_type_name(mission_type)} download: no MISSION_COUNT after "
            f"{timing.mission_item_attempts} requests",
            drone_id=ch.drone_id,
        )

    async def _request_item(self, replies: Subscription, seq: int, mission_type: int) -> MissionItem:
        ch, timing = self._ch, self._ch.timing
        for _ in range(timing.mission_item_attempts):
            ch.send(
                "MISSION_REQUEST_INT",
                target_system=ch.sysid,
                target_component=ch.compid,
                seq=seq,
                mission_type=mission_type,
            )
            reply = await self._await_reply(replies, "MISSION_ITEM", seq, mission_type)
            if reply is not None:
                return _item_from_message(reply, mission_type)
        raise LinkTimeout(
            f"{mission_type_name(mission_type)} download: item {seq} not received after "
            f"{timing.mission_item_attempts} requests",
            drone_id=ch.drone_id,
        )

    async def _await_reply(
        self, replies: Subscription, wanted: str, seq: int | None, mission_type: int
    ) -> MavMessage | None:
        """The wanted reply within one item timeout, None on timeout; a MISSION_ACK error raises."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ch.timing.mission_item_timeout_s
        while (remaining := deadline - loop.time()) > 0:
            msg = await replies.next(remaining)
            if msg is None:
                return None
            if msg.name == "MISSION_ACK":
                result = msg.get_int("type")
                if result != MavMissionResult.ACCEPTED:
                    raise MissionTransferError(
                        f"{mission_type_name(mission_type)} download refused: {mission_result_name(result)}",
                        result=result,
                        mission_type=mission_type,
                        drone_id=self._ch.drone_id,
                    )
                continue
            if wanted == "MISSION_COUNT" and msg.name == "MISSION_COUNT":
                return msg
            if wanted == "MISSION_ITEM" and msg.name.startswith("MISSION_ITEM") and msg.get_int("seq") == seq:
                return msg
        return None

    # --- clear ----------------------------------------------------------------------------

    async def clear(self, mission_type: int = MissionType.MISSION) -> None:
        """MISSION_CLEAR_ALL for one type, confirmed by MISSION_ACK ACCEPTED.

        Raises MissionTransferError with the vehicle's result (ArduPilot answers ERROR while an
        upload is in progress) or LinkTimeout.
        """
        ch, timing = self._ch, self._ch.timing
        type_name = mission_type_name(mission_type)
        async with self._lock(mission_type):
            with self._replies(frozenset({"MISSION_ACK"}), mission_type) as replies:
                for _ in range(timing.command_attempts):
                    ch.send(
                        "MISSION_CLEAR_ALL",
                        target_system=ch.sysid,
                        target_component=ch.compid,
                        mission_type=mission_type,
                    )
                    ack = await replies.next(timing.command_timeout_s)
                    if ack is None:
                        continue
                    result = ack.get_int("type")
                    if result != MavMissionResult.ACCEPTED:
                        raise MissionTransferError(
                            f"{type_name} clear refused: {mission_result_name(result)}",
                            result=result,
                            mission_type=mission_type,
                            drone_id=ch.drone_id,
                        )
                    ch.tracker.stored_items[type_name] = STORED_CLEARED
                    log.info("drone %s: %s cleared", ch.drone_id, type_name)
                    return
        raise LinkTimeout(
            f"{type_name} clear: no MISSION_ACK after {timing.command_attempts} tries", drone_id=ch.drone_id
        )


__all__ = [
    "STORED_CLEARED",
    "STORED_UNKNOWN",
    "STORED_UPLOADING",
    "STORED_VERIFIED",
    "MissionTransfer",
    "UploadReport",
    "item_differences",
]
