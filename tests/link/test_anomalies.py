"""Anomaly warnings are rate-limited per kind; a system id's owning address moves only when it may."""

from __future__ import annotations

import logging

import pytest

from app.link.anomalies import AnomalyLog
from app.link.sysid_owners import SysidOwners

VEHICLE = ("127.0.0.1", 14550)
STRANGER = ("127.0.0.1", 40000)
TARGET = ("10.0.0.7", 14550)


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_each_kind_is_logged_at_once_then_once_per_interval_with_the_suppressed_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    anomalies = AnomalyLog("udpout:127.0.0.1:14550", interval_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="app.link.anomalies"):
        for _ in range(1000):
            anomalies.note("bad_crc", "x")
        anomalies.note("unknown_msg", "y")
        clock.now_s += 10.0
        anomalies.note("bad_crc", "z")
    lines = [(r.anomaly, r.suppressed) for r in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("bad_crc", 0), ("unknown_msg", 0), ("bad_crc", 999)]
    assert "udpout:127.0.0.1:14550" in caplog.records[0].getMessage()
    assert "999 more" in caplog.records[2].getMessage()


def test_first_address_owns_a_sysid_and_another_is_refused_while_it_speaks() -> None:
    owners = SysidOwners(AnomalyLog("l"), release_after_s=3.0)
    assert owners.admit(1, VEHICLE, 0.0)
    assert not owners.admit(1, STRANGER, 1.0)
    assert owners.admit(1, VEHICLE, 2.5)
    assert not owners.admit(1, STRANGER, 5.0)  # the vehicle spoke 2.5 s ago
    assert owners.admit(2, STRANGER, 5.0)  # another system id is another owner
    assert owners.conflicts == 2


def test_a_silent_owners_sysid_moves_to_the_new_address() -> None:
    owners = SysidOwners(AnomalyLog("l"), release_after_s=3.0)
    assert owners.admit(1, VEHICLE, 0.0)
    assert owners.admit(1, STRANGER, 3.5)  # rebooted onto a new source port
    assert not owners.admit(1, VEHICLE, 4.0)
    assert owners.conflicts == 1


def test_the_address_a_udpout_link_sends_to_takes_its_sysid_back_at_once() -> None:
    owners = SysidOwners(AnomalyLog("l"), release_after_s=3.0, preferred=TARGET)
    assert owners.admit(1, STRANGER, 0.0)  # an impostor spoke first
    assert owners.admit(1, (*TARGET, 0, 0), 0.1)  # IPv6-style 4-tuples compare by host and port
    assert not owners.admit(1, STRANGER, 0.2)
