"""The time the scheduler and the run driver read: injectable so tests drive schedules in simulated time.

Only wall-clock *decisions* (which occurrence is due, the time stamped on a transition, a delay's
end) go through the clock; timeouts of link operations stay on the event loop's monotonic clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimClock:
    """A clock that moves only when told: ``set`` or ``advance`` (tests, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("SimClock needs timezone-aware times")
        self._now = at.astimezone(UTC)

    def advance(self, by: timedelta) -> None:
        self._now += by
