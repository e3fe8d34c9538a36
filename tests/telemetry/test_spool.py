"""The disk spool: exact round trip, order, torn tails, the size bound, and reopening after a crash."""

from __future__ import annotations

from pathlib import Path

from app.telemetry.spool import Spool
from tests.telemetry.rows import event, sample


def _all(spool: Spool) -> list[tuple[list[object], list[object]]]:
    spool.seal()
    out: list[tuple[list[object], list[object]]] = []
    for path in spool.sealed_segments():
        for samples, events in spool.read_segment(path):
            out.append((list(samples), list(events)))
    return out


def test_batches_come_back_identical_and_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=2_000)
    batches = [
        ([sample(1, i * 10 + k, grid_code="G1" if k else None) for k in range(3)], [event(1, i)])
        for i in range(20)
    ]
    for samples, events in batches:
        assert spool.append(samples, events)
    assert len(list(tmp_path.glob("*.seg"))) > 1
    assert _all(spool) == [(s, e) for s, e in batches]


def test_a_torn_record_ends_the_segment_and_is_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000)
    spool.append([sample(1, 1)], [])
    spool.append([sample(1, 2)], [])
    spool.seal()
    (segment,) = spool.sealed_segments()
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # the process died while writing the second record
    assert [s for s, _ in _all(spool)] == [[sample(1, 1)]]
    assert spool.stats.corrupt_tails == 1


def test_a_full_spool_drops_and_counts_instead_of_growing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    big = [sample(1, i) for i in range(1000)]
    kept = 0
    while spool.append(big, [event(1, kept)]):
        kept += 1
    assert kept >= 1
    assert spool.stats.samples_dropped == 1000 and spool.stats.events_dropped == 1
    assert spool.total_bytes <= 1_000_000
    assert len(_all(spool)) == kept


def test_reopened_spool_keeps_what_a_killed_writer_left_and_appends_after_it(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=10_000_000)
    first.append([sample(1, 1)], [])  # no seal, no close: as after SIGKILL
    second = Spool(tmp_path, max_bytes=10_000_000)
    assert not second.empty
    second.append([sample(1, 2)], [])
    assert [s for s, _ in _all(second)] == [[sample(1, 1)], [sample(1, 2)]]
    for path in second.sealed_segments():
        second.remove(path)
    assert second.empty and not list(tmp_path.glob("*.seg"))
