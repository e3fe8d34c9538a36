"""What the demo shows in the terminal, and where everything else goes.

A person starting the demo should see one line per start-up step and then one short block (the page,
the tokens, the log file, how to stop), not PostgreSQL's initdb/pg_ctl output or every library's
INFO lines. So every log record goes to ``<data dir>/demo.log`` and the console gets only what is
written through :class:`Console`. Warnings (platformdirs' runtime-directory warning, for one) are
routed into the log file too.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

CHATTY_LOGGERS = ("uvicorn.access", "uvicorn.error", "pgserver", "asyncio", "httpx", "httpcore", "aiomqtt")
"""Loggers that speak at INFO about routine things; kept at WARNING even in the log file."""


def log_to_file(path: Path) -> None:
    """Send every log record (and Python warnings) to ``path``, none to the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)


def announce(text: str) -> None:
    """One line on the console outside the numbered steps."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One service instance as the block shows it."""

    page_url: str
    instance_id: str


class Console:
    """The demo's terminal output: numbered steps (``[2/5] migrations ... ok``), then the block.

    A step's line is written when it begins and finished when it ends, so a slow step (the first
    initdb, SITL's boot) shows what is being waited for.
    """

    def __init__(self, total_steps: int, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._total = total_steps
        self._begun = 0
        self._line_open = False

    def _emit(self, text: str, *, line_open: bool) -> None:
        self._out.write(text)
        self._out.flush()
        self._line_open = line_open

    def _write(self, text: str) -> None:
        """Whole lines, after a newline if a step's line is still unfinished (stopped mid-step)."""
        self._emit(("\n" if self._line_open else "") + text + "\n", line_open=False)

    def begin(self, text: str) -> None:
        """Start step n of the total, e.g. ``[2/5] migrations ...``."""
        self._begun += 1
        prefix = "\n" if self._line_open else ""
        self._emit(f"{prefix}[{self._begun}/{self._total}] {text} ...", line_open=True)

    def done(self, result: str = "ok") -> None:
        self._emit(f" {result}\n", line_open=False)

    def failed(self, text: str) -> None:
        self._write(f"demo stopped: {text}")

    def ready(
        self, endpoints: list[Endpoint], *, operator_token: str, admin_token: str, log_path: Path
    ) -> None:
        """The one block after start-up: what to open, how to sign in, where the log is, how to stop."""
        lines = ["", "AeroGrid demo is running."]
        for endpoint in endpoints:
            label = f"page ({endpoint.instance_id})" if len(endpoints) > 1 else "page"
            lines.append(f"  {label + ':':<18}{endpoint.page_url}")
        lines += [
            f"  {'operator token:':<18}{operator_token}",
            f"  {'admin token:':<18}{admin_token}",
            f"  {'log:':<18}{log_path}",
            "  stop:             Ctrl-C (stops the drones, the service and the database)",
        ]
        self._write("\n".join(lines))

    def stopping(self) -> None:
        self._write("stopping ...")

    def stopped(self) -> None:
        self._write("stopped.")
