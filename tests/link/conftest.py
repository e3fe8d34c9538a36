"""Link tests run against the simulator over real UDP: vehicles, proxies and a LinkManager."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from app.link.manager import LinkManager
from simulator.fleet import SimFleet
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG, SPEEDUP, link_timing


@pytest_asyncio.fixture
async def fleet() -> AsyncIterator[SimFleet]:
    async with SimFleet(1, 0, HOME_LON_DEG, HOME_LAT_DEG, speedup=SPEEDUP) as sim:
        yield sim


@pytest_asyncio.fixture
async def manager() -> AsyncIterator[LinkManager]:
    async with LinkManager(timing=link_timing()) as links:
        yield links
