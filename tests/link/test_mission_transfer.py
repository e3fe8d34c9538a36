"""Mission, fence and rally transfers against the simulator over real UDP."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from app.link.constants import MavMissionResult
from app.link.errors import MissionConflict, MissionUploadError
from app.link.manager import LinkManager
from app.link.mission_protocol import STORED_CLEARED, STORED_UNKNOWN, STORED_VERIFIED
from missions.items import MavCmd, MissionItem, MissionType
from simulator.fleet import SimFleet
from simulator.lossy_proxy import LossyUdpProxy
from tests.link.simkit import (
    HOME_LAT_DEG,
    HOME_LON_DEG,
    as_stored,
    e7,
    fence_polygon,
    link_timing,
    link_vehicle,
    rally_points,
    survey_mission,
)

MISSION_ACK_ID = 47


async def test_upload_then_download_returns_identical_mission_fence_and_rally(
    fleet: SimFleet, manager: LinkManager
) -> None:
    vehicle = await link_vehicle(manager, fleet.vehicles[0])
    cases = [
        (survey_mission(200), MissionType.MISSION),
        (fence_polygon(30), MissionType.FENCE),
        (rally_points(5), MissionType.RALLY),
    ]
    for items, mission_type in cases:
        report = await vehicle.upload_mission(items, mission_type)
        assert (report.verified, report.verified_by, report.items) == (True, "ack", len(items))
        downloaded = await vehicle.download_mission(mission_type)
        assert as_stored(downloaded, mission_type) == as_stored(items, mission_type)
    home = (await vehicle.download_mission(MissionType.MISSION))[0]
    assert (home.x, home.y) == (e7(HOME_LAT_DEG), e7(HOME_LON_DEG))  # seq 0 reads back as the real home
    assert vehicle.state().stored_items == {
        "mission": STORED_VERIFIED,
        "fence": STORED_VERIFIED,
        "rally": STORED_VERIFIED,
    }


async def test_rejected_item_raises_with_the_vehicle_result_and_marks_the_mission_unknown(
    fleet: SimFleet, manager: LinkManager
) -> None:
    vehicle = await link_vehicle(manager, fleet.vehicles[0])
    await vehicle.upload_mission(survey_mission(10))
    bad = survey_mission(10)
    bad[3] = MissionItem(command=MavCmd.NAV_WAYPOINT, x=e7(95.0), y=e7(HOME_LON_DEG), z=30.0)
    with pytest.raises(MissionUploadError) as caught:
        await vehicle.upload_mission(bad)
    assert caught.value.result == MavMissionResult.INVALID_PARAM5_X
    assert caught.value.http_status == 409
    assert "re-upload or clear" in caught.value.message
    assert vehicle.state().stored_items["mission"] == STORED_UNKNOWN
    await vehicle.clear_mission()
    assert vehicle.state().stored_items["mission"] == STORED_CLEARED
    assert len(await vehicle.download_mission()) == 1  # home only


async def test_second_uploader_gets_mission_conflict_and_the_first_mission_is_stored_whole(
    fleet: SimFleet, manager: LinkManager
) -> None:
    sim = fleet.vehicles[0]
    first = await link_vehicle(manager, sim)
    async with LinkManager(gcs_sysid=254) as other_gcs:
        second = await link_vehicle(other_gcs, sim, drone_id="same-drone-other-gcs")
        mission_a, mission_b = survey_mission(200), survey_mission(150, alt_m=45.0)
        upload_a = asyncio.create_task(first.upload_mission(mission_a))
        await first.tracker.wait_until(
            lambda _: sim.autopilot.mission.item_count() > 20, timeout_s=10, what="upload A"
        )
        with pytest.raises(MissionConflict) as caught:
            await second.upload_mission(mission_b)
        assert caught.value.result == MavMissionResult.DENIED and caught.value.http_status == 409
        report = await upload_a
        assert report.verified
    downloaded = await first.download_mission()
    assert as_stored(downloaded, MissionType.MISSION) == as_stored(mission_a, MissionType.MISSION)


async def test_lost_final_ack_is_settled_by_download_never_left_unknown(fleet: SimFleet) -> None:
    sim = fleet.vehicles[0]
    # Every final ACK is dropped, so each upload waits the whole ACK timeout: a short one (no ACK can
    # arrive late here) keeps six uploads at seconds instead of 6 x 2.5 s.
    timing = replace(link_timing(), mission_ack_timeout_s=0.5)
    async with (
        LinkManager(timing=timing) as manager,
        LossyUdpProxy(
            "127.0.0.1",
            0,
            "127.0.0.1",
            sim.port,
            loss_down=1.0,
            seed=1,
            only_msg_ids=frozenset({MISSION_ACK_ID}),
        ) as proxy,
    ):
        vehicle = await link_vehicle(manager, sim, port=proxy.port)
        outcomes: list[str] = []
        for index in range(6):
            items = survey_mission(20 + index)
            if index % 3 == 2:  # the vehicle rejects the last item; its error ACK is lost too
                items[-1] = MissionItem(command=MavCmd.NAV_WAYPOINT, x=e7(95.0), y=0, z=10.0)
            try:
                report = await vehicle.upload_mission(items, attempts=1)
            except MissionUploadError as exc:
                assert exc.result is None and exc.vehicle_mission_state == "unknown"
                assert "readback differs" in exc.message
                outcomes.append("failed")
            else:
                assert report.verified_by == "download"
                assert as_stored(await vehicle.download_mission(), MissionType.MISSION) == as_stored(
                    items, MissionType.MISSION
                )
                outcomes.append("verified")
        assert proxy.down.dropped >= 6
    assert outcomes == ["verified", "verified", "failed"] * 2
