"""Rate-limited warnings for a link's hostile or broken input.

Every bad packet is counted (``CodecStats``, ``LinkStats``), but a link under a flood of garbage
would drown the log if each one were also logged. ``AnomalyLog`` therefore logs the first anomaly
of each kind on a link at once and then at most one line per kind per ``interval_s``, saying how
many more of that kind arrived since its last line: an operator sees that something is wrong, on
which link and what, and the counters give the exact totals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 10.0


@dataclass(slots=True)
class _Kind:
    last_logged_s: float
    suppressed: int = 0


class AnomalyLog:
    """One link's anomaly warnings, at most one line per kind per ``interval_s``."""

    def __init__(
        self,
        link_name: str,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link_name = link_name
        self.interval_s = interval_s
        self._clock = clock
        self._kinds: dict[str, _Kind] = {}

    def note(self, kind: str, detail: str) -> None:
        """Record one anomaly of ``kind``; log it unless this kind was logged under ``interval_s`` ago."""
        now_s = self._clock()
        state = self._kinds.get(kind)
        if state is not None and now_s - state.last_logged_s < self.interval_s:
            state.suppressed += 1
            return
        suppressed = state.suppressed if state is not None else 0
        self._kinds[kind] = _Kind(last_logged_s=now_s)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.warning(
            "link %s: %s: %s%s",
            self.link_name or "(unnamed)",
            kind,
            detail,
            more,
            extra={"link": self.link_name, "anomaly": kind, "suppressed": suppressed},
        )
