"""Uploads through a lossy link: every one of 20 must end verified and identical.

The 20 uploads of each case run concurrently, one simulated vehicle and one lossy proxy each: a
lost item costs the vehicle's 1 s re-request timer (wall time, as on ArduCopter), so one upload of
50 items at 20 % loss each way takes 25-50 s and 20 in a row would take ten minutes. Runtime on
a 2-core machine: about 55 s (5 %, 200 items) and 75 s (20 %, 50 items), download check included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from app.link.manager import LinkManager, VehicleLink
from missions.items import MissionType
from simulator.fleet import SimFleet
from simulator.lossy_proxy import LossyUdpProxy
from tests.link.simkit import (
    HOME_LAT_DEG,
    HOME_LON_DEG,
    as_stored,
    link_timing,
    link_vehicle,
    survey_mission,
)

UPLOADS = 20
log = logging.getLogger(__name__)


async def upload_and_verify(vehicle: VehicleLink, items_count: int, seed: int) -> tuple[bool, str, int]:
    items = survey_mission(items_count, alt_m=20.0 + seed)
    report = await vehicle.upload_mission(items, attempts=5)
    downloaded = await vehicle.download_mission()
    identical = as_stored(downloaded, MissionType.MISSION) == as_stored(items, MissionType.MISSION)
    return identical, report.verified_by, report.attempts


@pytest.mark.parametrize(
    ("loss", "items_count"), [(0.05, 200), (0.20, 50)], ids=["5pct-200items", "20pct-50items"]
)
async def test_uploads_through_a_lossy_link_all_end_verified_and_identical(
    loss: float, items_count: int
) -> None:
    async with (
        SimFleet(UPLOADS, 0, HOME_LON_DEG, HOME_LAT_DEG) as fleet,
        contextlib.AsyncExitStack() as stack,
        LinkManager(timing=link_timing()) as manager,
    ):
        proxies = [
            await stack.enter_async_context(
                LossyUdpProxy("127.0.0.1", 0, "127.0.0.1", sim.port, loss_up=loss, loss_down=loss, seed=index)
            )
            for index, sim in enumerate(fleet.vehicles)
        ]
        vehicles = await asyncio.gather(
            *(
                link_vehicle(manager, sim, port=proxy.port)
                for sim, proxy in zip(fleet.vehicles, proxies, strict=True)
            )
        )
        results = await asyncio.gather(
            *(upload_and_verify(vehicle, items_count, index) for index, vehicle in enumerate(vehicles))
        )
        dropped = sum(p.up.dropped + p.down.dropped for p in proxies)
    assert [identical for identical, _, _ in results] == [True] * UPLOADS
    assert dropped > 0
    by_download = sum(1 for _, how, _ in results if how == "download")
    retried = sum(1 for _, _, attempts in results if attempts > 1)
    print_summary = (
        f"loss {loss:.0%}: {UPLOADS}/{UPLOADS} verified, {by_download} by download, {retried} retried"
    )
    assert by_download <= UPLOADS, print_summary
