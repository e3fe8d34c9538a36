"""Which drone a run without one gets: the nearest idle, online, capable drone with the battery."""

from __future__ import annotations

from dataclasses import replace

from app.scheduling.assignment import Candidate, pick

BASE = Candidate(
    drone_id=1,
    online=True,
    busy=False,
    manual=False,
    capabilities=frozenset({"camera"}),
    usable_wh=300.0,
    lon_deg=121.47,
    lat_deg=31.23,
)


def at_m_east(c: Candidate, drone_id: int, metres: float, **changes: object) -> Candidate:
    return replace(c, drone_id=drone_id, lon_deg=c.lon_deg + metres / 95_000, **changes)  # type: ignore[arg-type]


def test_nearest_able_drone_is_picked_and_each_other_is_passed_over_with_its_reason() -> None:
    fleet = [
        at_m_east(BASE, 1, 10, online=False),
        at_m_east(BASE, 2, 20, busy=True),
        at_m_east(BASE, 3, 30, manual=True),
        at_m_east(BASE, 4, 40, capabilities=frozenset({"speaker"})),
        at_m_east(BASE, 5, 50, usable_wh=10.0),
        at_m_east(BASE, 6, 900),
        at_m_east(BASE, 7, 600),
    ]
    chosen, refused = pick(fleet, kind="coverage", energy_wh=50, lon_deg=BASE.lon_deg, lat_deg=BASE.lat_deg)
    assert chosen is not None and chosen.drone_id == 7
    assert [(r.drone_id, r.reason) for r in refused] == [
        (1, "offline"),
        (2, "already flying a run"),
        (3, "under manual control (armed outside any run)"),
        (4, "no camera"),
        (5, "needs 50 Wh, usable 10 Wh"),
    ]


def test_a_broadcast_needs_a_speaker_and_no_able_drone_means_none() -> None:
    chosen, refused = pick([BASE], kind="broadcast", energy_wh=5, lon_deg=BASE.lon_deg, lat_deg=BASE.lat_deg)
    assert chosen is None and [r.reason for r in refused] == ["no speaker"]
