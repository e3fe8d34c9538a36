"""Schedule rules: parsing and checking an RRULE in a time zone, and the calendar at fire time.

Pure (no database, no clock of its own): the API validates with ``parse_rule`` before anything is
stored, and the scheduler asks ``occurrences_between`` which occurrences fall due and
``calendar_refusal`` whether the flight window, a blackout date or quiet hours forbid one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

FLOOR_SAMPLE: Final = 200
"""How many first occurrences are inspected for the minimum interval (a rule that ever fires faster
than the floor within them is refused; BYHOUR lists repeat daily, so this sees them all)."""


_PERIOD_S: Final = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600}
"""Frequencies whose period alone can undercut the floor; a daily or longer period cannot."""


class RuleError(ValueError):
    """A schedule field that cannot be accepted; ``field`` names it for the 422."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Span:
    """A daily span of local time; ``start > end`` wraps past midnight (quiet hours 22:00-07:00)."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class Rule:
    """When a schedule fires: at ``start_at`` only, or by ``rrule`` from ``start_at``, in ``tz``."""

    tz: ZoneInfo
    start_at: datetime
    rrule_text: str | None
    window: Span | None = None
    blackout_dates: frozenset[date] = frozenset()
    quiet_hours: Span | None = None

    def _recurrence(self) -> rrule | None:
        if self.rrule_text is None:
            return None
        parsed = rrulestr(self.rrule_text, dtstart=self.start_at.astimezone(self.tz))
        assert isinstance(parsed, rrule)  # parse_rule refused rule sets
        return parsed

    def occurrences_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Occurrences in (after, until], as aware datetimes."""
        recurrence = self._recurrence()
        if recurrence is None:
            return [self.start_at] if after < self.start_at <= until else []
        found: list[datetime] = recurrence.between(
            after.astimezone(self.tz), until.astimezone(self.tz), inc=True
        )
        return [d for d in found if d > after]

    def next_after(self, after: datetime, count: int) -> list[datetime]:
        recurrence = self._recurrence()
        if recurrence is None:
            return [self.start_at] if self.start_at > after else []
        out: list[datetime] = []
        d = recurrence.after(after.astimezone(self.tz))
        while d is not None and len(out) < count:
            out.append(d)
            d = recurrence.after(d)
        return out

    def calendar_refusal(self, due_at: datetime, *, broadcast: bool) -> str | None:
        """Why the calendar forbids firing at ``due_at`` (local time in ``tz``), or None."""
        local = due_at.astimezone(self.tz)
        if local.date() in self.blackout_dates:
            return f"blackout date {local.date().isoformat()}"
        if self.window is not None and not self.window.contains(local.time()):
            return (
                f"outside the flight window {self.window.start:%H:%M}-{self.window.end:%H:%M} ({local:%H:%M})"
            )
        if broadcast and self.quiet_hours is not None and self.quiet_hours.contains(local.time()):
            return f"quiet hours {self.quiet_hours.start:%H:%M}-{self.quiet_hours.end:%H:%M}: no broadcast"
        return None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise RuleError(
            "timezone", f"unknown time zone '{name[:60]}' (use an IANA name, e.g. Asia/Shanghai)"
        ) from exc


def parse_rule(
    *,
    tz_name: str,
    start_at: datetime,
    rrule_text: str | None,
    now: datetime,
    min_interval_s: float,
    window: tuple[time, time] | None = None,
    blackout_dates: Sequence[date] = (),
    quiet_hours: tuple[time, time] | None = None,
) -> Rule:
    """Check every field (RuleError naming the first bad one) and build the Rule.

    ``start_at`` without an offset is local time in the zone. A recurring rule must parse as one
    RRULE (no DTSTART, no rule sets), never fire twice within ``min_interval_s``, and fire at least
    once after ``now``; a one-off must lie in the future.
    """
    tz = zone(tz_name)
    start = start_at.replace(tzinfo=tz) if start_at.tzinfo is None else start_at
    if window is not None and window[1] <= window[0]:
        raise RuleError("window.end", "the flight window ends before (or when) it starts")
    rule = Rule(
        tz=tz,
        start_at=start,
        rrule_text=None,
        window=Span(*window) if window else None,
        blackout_dates=frozenset(blackout_dates),
        quiet_hours=Span(*quiet_hours) if quiet_hours else None,
    )
    if rrule_text is None:
        if start <= now:
            raise RuleError("start_at", "a one-off schedule must be in the future")
        return rule
    text = rrule_text.strip()
    text = text.removeprefix("RRULE:")
    if not text or any(bad in text.upper() for bad in ("DTSTART", "\n", "EXDATE", "RDATE", "EXRULE")):
        raise RuleError("rrule", "expected one RFC 5545 RRULE such as FREQ=DAILY;BYHOUR=8;BYMINUTE=0")
    fields = dict(part.split("=", 1) for part in text.upper().split(";") if "=" in part)
    if "COUNT" in fields and "UNTIL" in fields:  # RFC 5545 3.3.10; dateutil only warns
        raise RuleError("rrule", "COUNT and UNTIL must not both be given")
    try:
        parsed = rrulestr(text, dtstart=start.astimezone(tz))
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
        raise RuleError("rrule", f"does not parse: {str(exc)[:200]}") from exc
    if not isinstance(parsed, rrule):
        raise RuleError("rrule", "expected one RRULE, not a rule set")
    period_s = _PERIOD_S.get(fields.get("FREQ", ""))
    interval = int(fields.get("INTERVAL", "1"))  # rrulestr has accepted it as an integer
    if period_s is not None and period_s * interval < min_interval_s:
        # Refused before expanding it: a seconds- or minutes-wide period is costly to walk through.
        raise RuleError(
            "rrule",
            f"its period is {period_s * interval} s; the floor is {min_interval_s:.0f} s between flights",
        )
    sample: list[datetime] = []
    for d in parsed:
        sample.append(d)
        if len(sample) >= FLOOR_SAMPLE:
            break
    gaps = [(b - a).total_seconds() for a, b in pairwise(sample)]
    if gaps and min(gaps) < min_interval_s:
        raise RuleError(
            "rrule",
            f"fires every {min(gaps):.0f} s at times; the floor is {min_interval_s:.0f} s between flights",
        )
    rule = Rule(
        tz=tz,
        start_at=start,
        rrule_text=text,
        window=rule.window,
        blackout_dates=rule.blackout_dates,
        quiet_hours=rule.quiet_hours,
    )
    if not rule.next_after(now - timedelta(seconds=1), 1):
        raise RuleError("rrule", "never fires after now")
    return rule
