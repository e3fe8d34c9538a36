"""The spool on a disk that fills before the spool's own bound: a real 64 kB tmpfs.

bench/faults.py found that ENOSPC escaped ``Spool.append``: each failed batch was neither stored,
spooled nor counted, and once the database was back the pipeline, which spools what is pending
before it replays, failed the same way on every tick, so nothing was ever stored again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.telemetry.spool import Spool
from tests.telemetry.rows import event, sample

TMPFS_KB = 64


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "spool"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_KB}k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_drops_and_counts_batches_and_keeps_the_spooled_ones_whole(small_disk: Path) -> None:
    spool = Spool(small_disk, max_bytes=1_000_000_000)  # the bound is far away: the disk fills first
    batches = [([sample(7, i * 10 + k) for k in range(5)], [event(7, i)]) for i in range(400)]
    accepted = [b for b in batches if spool.append(*b)]
    refused = len(batches) - len(accepted)

    assert accepted and refused, "the disk filled part way through"
    assert spool.stats.samples_dropped == 5 * refused
    assert spool.stats.events_dropped == refused
    assert spool.dropped[7].samples == 5 * refused  # tallied for the telemetry_dropped alert
    spool.seal()
    replayed = [b for path in spool.sealed_segments() for b in spool.read_segment(path)]
    assert replayed == accepted
    assert spool.stats.corrupt_tails == 0


def test_once_the_spool_is_replayed_and_removed_it_accepts_batches_again(small_disk: Path) -> None:
    spool = Spool(small_disk, max_bytes=1_000_000_000)
    i = 0
    while spool.append([sample(7, i)], []):
        i += 1
    spool.seal()
    for path in spool.sealed_segments():
        spool.remove(path)
    assert spool.empty
    assert spool.append([sample(7, i + 1)], [])
