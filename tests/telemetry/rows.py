"""Synthetic sample and event rows for storage tests (the values a DroneSession would produce)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.telemetry.records import Event, Sample

BASE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def sample(
    drone_id: int,
    tbm: int,
    lon_deg: float = 120.17,
    lat_deg: float = 30.26,
    *,
    boot_id: int = 1_000,
    base: datetime = BASE,
    grid_code: str | None = None,
) -> Sample:
    at = base + timedelta(milliseconds=tbm)
    return Sample(
        at,
        drone_id,
        boot_id,
        tbm,
        grid_code,
        None,
        None,
        None,
        lat_deg,
        lon_deg,
        55.5,
        30.25,
        4.5,
        -0.5,
        271.5,
        80,
        15.9,
        11.5,
        "AUTO",
        True,
        3,
        12,
        0.8,
        4,
        at + timedelta(milliseconds=7),
    )


def event(drone_id: int, seq: int, *, base: datetime = BASE) -> Event:
    return Event(
        base + timedelta(milliseconds=seq),
        drone_id,
        1_000,
        seq,
        "statustext",
        f"text {seq} é",
        6,
        None,
        30.26,
        120.17,
    )
