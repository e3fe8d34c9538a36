"""Scheduling fixtures: the session app's run driver with flight timeouts a test can wait out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.link.autopilots.ardupilot import FlightTimeouts
from app.scheduling.driver import RunDriver

TIMEOUTS = FlightTimeouts(ready_s=30, takeoff_s=30, mission_s=60, landing_s=60, link_lost_s=10)


@pytest.fixture
def driver(app: FastAPI) -> Iterator[RunDriver]:
    """The app's RunDriver with TIMEOUTS and progress polled every 0.2 s, restored afterwards
    (the driver is the session's, shared with every other test)."""
    runs: RunDriver = app.state.runs
    saved = runs.settings
    runs.settings = dataclasses.replace(saved, timeouts=TIMEOUTS, progress_s=0.2)
    try:
        yield runs
    finally:
        runs.settings = saved
