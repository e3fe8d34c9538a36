"""One sortie of a run on the vehicle: fly it from the ground, or reattach to it in the air.

The ArduCopter recipe (``ArduCopterFlight``) and its ``FlightWatch`` do the flying and the judging
(link loss, reboot, mission replaced; completed only when this boot reached the last item). This
module adds what a run needs around them: flight phases turned into run states in order, the
vehicle's progress (current item, share done, ETA) written to the run, and a reattach path that
follows a flight already in the air after a restart without uploading again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from app.link.autopilots.ardupilot import (
    MISSION_MODES,
    PAUSED_MODES,
    ArduCopterFlight,
    FlightReport,
    FlightTimeouts,
)
from app.link.errors import MissionMismatch
from app.link.manager import VehicleLink
from app.link.mission_protocol import item_differences
from missions.items import NAV_COMMANDS, MavCmd, MissionItem, MissionType

log = logging.getLogger(__name__)

PHASE_STATE: Final[dict[str, str]] = {
    "guided": "running",
    "arm": "running",
    "takeoff": "running",
    "auto": "running",
    "rtl": "returning",
    "landing": "returning",
}
"""The run state a flight phase puts the run in; other phases are notes (link lost, mission complete)."""
NOTE_PHASES: Final = frozenset({"link_lost", "mission_complete", "mission_interrupted"})
MISSION_COMPLETE_NOTE: Final = "mission complete: this boot reached the last item"

PhaseSink = Callable[[str], Awaitable[None]]
ProgressSink = Callable[[int, int], Awaitable[None]]


def shift_items(items: Sequence[MissionItem], alt_offset_m: float) -> tuple[MissionItem, ...]:
    """The sortie moved ``alt_offset_m`` up (or down): every navigation item but home and landing."""
    if alt_offset_m == 0:
        return tuple(items)
    out = [items[0]] if items else []
    for item in items[1:]:
        moves = item.command in NAV_COMMANDS and item.command not in (
            MavCmd.NAV_LAND,
            MavCmd.NAV_RETURN_TO_LAUNCH,
        )
        out.append(replace(item, z=item.z + alt_offset_m) if moves else item)
    return tuple(out)


def takeoff_alt_m(items: Sequence[MissionItem]) -> float | None:
    return next((i.z for i in items if i.command == MavCmd.NAV_TAKEOFF), None)


@dataclass(slots=True)
class SortieFlight:
    """Flies (or follows) one sortie, reporting phases and progress through the given sinks."""

    vehicle: VehicleLink
    items: tuple[MissionItem, ...]
    timeouts: FlightTimeouts
    on_phase: PhaseSink
    on_progress: ProgressSink
    progress_s: float

    async def _pump(self, flight_coro: Callable[[ArduCopterFlight], Awaitable[FlightReport]]) -> FlightReport:
        phases: asyncio.Queue[str] = asyncio.Queue()
        flight = ArduCopterFlight(
            self.vehicle, timeouts=self.timeouts, on_phase=phases.put_nowait, mission=self.items
        )

        async def persist_phases() -> None:
            while True:
                name = await phases.get()
                try:
                    await self.on_phase(name)
                finally:
                    phases.task_done()

        async def report_progress() -> None:
            last: tuple[int, int] | None = None
            while True:
                t = self.vehicle.tracker
                if t.mission_seq is not None and t.mission_total:
                    now = (t.mission_seq, t.mission_total)
                    if now != last:
                        last = now
                        await self.on_progress(*now)
                await asyncio.sleep(self.progress_s)

        helpers = [asyncio.create_task(persist_phases()), asyncio.create_task(report_progress())]
        try:
            report = await flight_coro(flight)
            await phases.join()
            return report
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def fly(self) -> FlightReport:
        """From the ground: ready checks, arm, take off, the mission, RTL, landed."""
        alt_m = takeoff_alt_m(self.items)
        if alt_m is None:
            raise ValueError("the sortie has no NAV_TAKEOFF")
        return await self._pump(lambda flight: flight.fly(alt_m))

    async def reattach(self, *, mission_completed: bool) -> FlightReport:
        """Follow a sortie already flying (after a restart): the mission on board must be the one
        uploaded (downloaded and compared, never uploaded again); in AUTO the mission is followed to
        its end, then RTL and landing are waited for as in a fresh flight."""

        async def follow(flight: ArduCopterFlight) -> FlightReport:
            stored = await self.vehicle.download_mission()
            differences = item_differences(list(self.items), stored, MissionType.MISSION)
            if differences:
                raise MissionMismatch(
                    f"after the restart the mission on board differs from the run's: {'; '.join(differences[:3])}",
                    drone_id=self.vehicle.drone_id,
                )
            flight.watch.expected_total = len(self.items) - 1
            flight.watch.check()
            tracker = self.vehicle.tracker
            flight.completed = mission_completed
            if tracker.armed and (tracker.mode in MISSION_MODES or tracker.mode in PAUSED_MODES):
                flight.completed = await flight.run_mission()
            if tracker.armed:
                await flight.return_and_land()
            return flight.report()

        return await self._pump(follow)
