"""The mission protocol as ArduPilot's MissionItemProtocol does it, over real UDP."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.mission_store import WireItem
from tests.sim.gcs import (
    HOME_LAT_DEG,
    HOME_LON_DEG,
    Gcs,
    VehicleThread,
    home_placeholder,
    running_vehicle,
    seq_is,
    waypoint,
)


@pytest.fixture(scope="module")
def vehicle() -> Iterator[VehicleThread]:
    with running_vehicle(mission_capacity=300) as handle:
        yield handle


@pytest.fixture
def gcs(vehicle: VehicleThread) -> Iterator[Gcs]:
    with Gcs(vehicle.port) as ground:
        ground.recv("HEARTBEAT", 3.0)
        yield ground


def survey(count: int) -> list[WireItem]:
    items = [home_placeholder(), waypoint(1, 0, 0, 30, command=mavlink.MAV_CMD_NAV_TAKEOFF)]
    for seq in range(2, count):
        items.append(waypoint(seq, (seq % 20) * 15.0, (seq // 20) * 15.0, 30.0 + (seq % 3) * 0.25))
    return items


def test_upload_then_download_200_items_reads_back_as_arducopter_stores_them(gcs: Gcs) -> None:
    items = survey(200)
    assert gcs.upload(items) == mavlink.MAV_MISSION_ACCEPTED
    # The final ACK is sent once: no further MISSION_ACK follows.
    assert gcs.recv("MISSION_ACK", 1.5) is None
    downloaded = gcs.download()
    assert len(downloaded) == 200
    home = downloaded[0]
    assert (home.command, home.frame) == (mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_FRAME_GLOBAL)
    assert (home.x, home.y) == (round(HOME_LAT_DEG * 1e7), round(HOME_LON_DEG * 1e7))
    for sent, got in zip(items[1:], downloaded[1:], strict=True):
        assert got.frame == mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT  # 6 reads back as 3
        assert (got.seq, got.command, got.x, got.y) == (sent.seq, sent.command, sent.x, sent.y)
        assert got.z == pytest.approx(sent.z, abs=1e-4)
        assert (got.param1, got.param2, got.param3, got.param4) == (0, 0, 0, 0)


def test_second_uploader_is_denied_while_an_upload_runs(vehicle: VehicleThread, gcs: Gcs) -> None:
    gcs.mav.mission_count_send(1, 1, 5, 0)
    assert gcs.recv("MISSION_REQUEST", 2.0, lambda m: m.seq == 0) is not None
    with Gcs(vehicle.port, source_system=200) as other:
        other.mav.mission_count_send(1, 1, 3, 0)
        ack = other.recv("MISSION_ACK", 2.0)
        assert ack is not None and ack.type == mavlink.MAV_MISSION_DENIED
    # The first uploader can still finish.
    items = survey(5)
    for seq in range(5):
        if seq:
            assert gcs.recv("MISSION_REQUEST", 2.0, seq_is(seq)) is not None
        gcs.send_item(items[seq])
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_ACCEPTED


def test_count_above_capacity_gets_no_space(gcs: Gcs) -> None:
    gcs.mav.mission_count_send(1, 1, 301, 0)
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_NO_SPACE


def test_out_of_order_item_gets_invalid_sequence_and_upload_goes_on(gcs: Gcs) -> None:
    items = survey(4)
    gcs.mav.mission_count_send(1, 1, 4, 0)
    assert gcs.recv("MISSION_REQUEST", 2.0, lambda m: m.seq == 0) is not None
    gcs.send_item(items[2])
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_INVALID_SEQUENCE
    for seq in range(4):
        gcs.send_item(items[seq])
        if seq < 3:
            assert gcs.recv("MISSION_REQUEST", 2.0, seq_is(seq + 1)) is not None
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_ACCEPTED


def test_missing_item_is_rerequested_each_second_then_upload_cancelled_after_8s(gcs: Gcs) -> None:
    started = time.monotonic()
    gcs.mav.mission_count_send(1, 1, 3, 0)
    request_times = []
    cancelled_at = None
    while time.monotonic() - started < 11:
        msg = gcs.recv(["MISSION_REQUEST", "MISSION_ACK"], 11 - (time.monotonic() - started))
        if msg is None:
            break
        if msg.get_type() == "MISSION_ACK":
            assert msg.type == mavlink.MAV_MISSION_OPERATION_CANCELLED
            cancelled_at = time.monotonic() - started
            break
        assert msg.seq == 0
        request_times.append(time.monotonic() - started)
    assert cancelled_at is not None and 7.5 < cancelled_at < 9.5
    gaps = [b - a for a, b in itertools.pairwise(request_times)]
    assert len(request_times) >= 7
    assert all(0.9 < gap < 1.3 for gap in gaps), gaps


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"command": 0}, mavlink.MAV_MISSION_INVALID),
        ({"command": 31999}, mavlink.MAV_MISSION_UNSUPPORTED),
        ({"x": 950_000_000}, mavlink.MAV_MISSION_INVALID_PARAM5_X),
        ({"z": 1e6}, mavlink.MAV_MISSION_INVALID_PARAM7),
        ({"param1": math.nan}, mavlink.MAV_MISSION_INVALID_PARAM1),
        ({"frame": mavlink.MAV_FRAME_LOCAL_NED}, mavlink.MAV_MISSION_UNSUPPORTED_FRAME),
    ],
)
def test_invalid_items_are_rejected_like_arducopter(
    gcs: Gcs, change: dict[str, float], expected: int
) -> None:
    items = survey(4)
    items[2] = replace(items[2], **change)  # type: ignore[arg-type]
    assert gcs.upload(items) == expected


def test_nan_yaw_terrain_frame_and_loiter_to_alt_are_accepted(gcs: Gcs) -> None:
    items = survey(5)
    items[2] = replace(items[2], param4=math.nan)
    items[3] = replace(items[3], frame=mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT)
    items[4] = replace(items[4], command=mavlink.MAV_CMD_NAV_LOITER_TO_ALT)
    assert gcs.upload(items) == mavlink.MAV_MISSION_ACCEPTED


def test_rejected_upload_leaves_a_mix_of_old_and_new_items(vehicle: VehicleThread, gcs: Gcs) -> None:
    old = survey(6)
    assert gcs.upload(old) == mavlink.MAV_MISSION_ACCEPTED
    new = [replace(item, z=55.0) if item.seq else item for item in survey(6)]
    new[3] = replace(new[3], command=0)
    assert gcs.upload(new) == mavlink.MAV_MISSION_INVALID
    stored = vehicle.vehicle.mission_items
    assert [round(item.z) for item in stored[1:]] == [55, 55, 30, 30, 30]


def test_fence_polygon_and_circle_round_trip_and_bad_fences_are_refused(gcs: Gcs) -> None:
    fence_type = mavlink.MAV_MISSION_TYPE_FENCE
    vertex = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    square = [(-50, -50), (-50, 50), (50, 50), (50, -50)]
    polygon = [
        replace(waypoint(seq, n, e, 0, command=vertex, param1=4), mission_type=fence_type)
        for seq, (n, e) in enumerate(square)
    ]
    circle = replace(
        waypoint(4, 20, 20, 0, command=mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, param1=5.0),
        mission_type=fence_type,
    )
    assert gcs.upload([*polygon, circle], fence_type) == mavlink.MAV_MISSION_ACCEPTED
    readback = gcs.download(fence_type)
    assert [(m.command, m.param1, m.x, m.y) for m in readback] == [
        (item.command, item.param1, item.x, item.y) for item in [*polygon, circle]
    ]
    two_vertices = [replace(item, param1=2) for item in polygon[:2]]
    assert gcs.upload(two_vertices, fence_type) != mavlink.MAV_MISSION_ACCEPTED
    mismatch = [replace(item, param1=5) for item in polygon]
    assert gcs.upload(mismatch, fence_type) != mavlink.MAV_MISSION_ACCEPTED
    zero_circle = [replace(circle, seq=0, param1=0.0)]
    assert gcs.upload(zero_circle, fence_type) != mavlink.MAV_MISSION_ACCEPTED
    # Refused fences are not stored: the first fence is still there.
    assert len(gcs.download(fence_type)) == 5


def test_rally_points_round_trip(gcs: Gcs) -> None:
    rally_type = mavlink.MAV_MISSION_TYPE_RALLY
    points = [
        replace(
            waypoint(seq, 30.0 * seq, 10, 20, command=mavlink.MAV_CMD_NAV_RALLY_POINT),
            mission_type=rally_type,
        )
        for seq in range(3)
    ]
    assert gcs.upload(points, rally_type) == mavlink.MAV_MISSION_ACCEPTED
    readback = gcs.download(rally_type)
    assert [(m.x, m.y, m.z, m.frame) for m in readback] == [
        (p.x, p.y, 20.0, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT) for p in points
    ]


def test_clear_all_empties_the_mission_but_keeps_home(gcs: Gcs) -> None:
    assert gcs.upload(survey(4)) == mavlink.MAV_MISSION_ACCEPTED
    gcs.mav.mission_clear_all_send(1, 1, 0)
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_ACCEPTED
    assert len(gcs.download()) == 1


def test_legacy_mission_item_upload_is_accepted(gcs: Gcs) -> None:
    items = survey(3)
    gcs.mav.mission_count_send(1, 1, 3, 0)
    for item in items:
        request = gcs.recv("MISSION_REQUEST", 2.0, seq_is(item.seq))
        assert request is not None
        gcs.mav.mission_item_send(
            1, 1, item.seq, item.frame, item.command, 0, 1, 0, 0, 0, 0, item.x / 1e7, item.y / 1e7, item.z, 0
        )
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_ACCEPTED


def test_partial_write_replaces_only_the_given_range(vehicle: VehicleThread, gcs: Gcs) -> None:
    items = survey(6)
    assert gcs.upload(items) == mavlink.MAV_MISSION_ACCEPTED
    changed = [replace(item, z=44.0) for item in items[2:4]]
    gcs.mav.mission_write_partial_list_send(1, 1, 2, 3, 0)
    for item in changed:
        assert gcs.recv("MISSION_REQUEST", 2.0, seq_is(item.seq)) is not None
        gcs.send_item(item)
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_ACCEPTED
    assert [round(item.z) for item in vehicle.vehicle.mission_items[1:]] == [30, 44, 44, 30, 30]


def test_mission_set_current_moves_the_next_item_and_reports_it(vehicle: VehicleThread, gcs: Gcs) -> None:
    assert gcs.upload(survey(6)) == mavlink.MAV_MISSION_ACCEPTED
    gcs.mav.mission_set_current_send(1, 1, 4)
    current = gcs.recv("MISSION_CURRENT", 2.0)
    assert current is not None and current.seq == 4 and current.total == 5
    assert vehicle.vehicle.mission_seq == 4


def test_clear_all_of_type_all_clears_mission_fence_and_rally(vehicle: VehicleThread, gcs: Gcs) -> None:
    rally_type = mavlink.MAV_MISSION_TYPE_RALLY
    rally = replace(waypoint(0, 30, 10, 20, command=mavlink.MAV_CMD_NAV_RALLY_POINT), mission_type=rally_type)
    assert gcs.upload([rally], rally_type) == mavlink.MAV_MISSION_ACCEPTED
    assert gcs.upload(survey(3)) == mavlink.MAV_MISSION_ACCEPTED
    gcs.mav.mission_clear_all_send(1, 1, mavlink.MAV_MISSION_TYPE_ALL)
    ack = gcs.recv("MISSION_ACK", 2.0)
    assert ack is not None and ack.type == mavlink.MAV_MISSION_ACCEPTED
    assert vehicle.vehicle.rally_items == [] and vehicle.vehicle.fence_items == []
    assert len(vehicle.vehicle.mission_items) == 1
