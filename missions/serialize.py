"""MissionPlan <-> plain JSON-able dicts, exact both ways.

Stored missions (PostgreSQL jsonb) and API responses use this form; reading it back gives a plan
equal to the original (floats survive JSON exactly: Python writes the shortest repr that reads
back to the same double), so what is uploaded later is what was planned and checked.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from missions.items import MissionItem
from missions.plan import Arrival, MissionPlan, PlanStats, RoutePoint, Sortie, Violation

_ITEM_FIELDS = tuple(f.name for f in fields(MissionItem))


def item_to_dict(item: MissionItem) -> dict[str, Any]:
    return {
        name: int(v) if name in ("command", "frame", "mission_type") else v
        for name, v in asdict(item).items()
    }


def item_from_dict(d: dict[str, Any]) -> MissionItem:
    unknown = set(d) - set(_ITEM_FIELDS)
    if unknown:
        raise ValueError(f"mission item has unknown fields: {', '.join(sorted(unknown))}")
    return MissionItem(**d)


def items_to_list(items: tuple[MissionItem, ...]) -> list[dict[str, Any]]:
    return [item_to_dict(i) for i in items]


def items_from_list(rows: list[dict[str, Any]]) -> tuple[MissionItem, ...]:
    return tuple(item_from_dict(r) for r in rows)


def _route_point(d: dict[str, Any]) -> RoutePoint:
    roi = d.get("roi")
    return RoutePoint(**{**d, "roi": None if roi is None else (roi[0], roi[1], roi[2])})


def _stats(d: dict[str, Any]) -> PlanStats:
    arrivals = tuple(Arrival(**a) for a in d.get("arrivals", ()))
    return PlanStats(**{**d, "arrivals": arrivals})


def plan_to_dict(plan: MissionPlan) -> dict[str, Any]:
    return {
        "kind": plan.kind,
        "home_lon_deg": plan.home_lon_deg,
        "home_lat_deg": plan.home_lat_deg,
        "sorties": [
            {
                "items": items_to_list(s.items),
                "route": [asdict(p) for p in s.route],
                "length_m": s.length_m,
                "flight_time_s": s.flight_time_s,
                "energy_wh": s.energy_wh,
            }
            for s in plan.sorties
        ],
        "fence_items": items_to_list(plan.fence_items),
        "rally_items": items_to_list(plan.rally_items),
        "stats": asdict(plan.stats),
        "violations": [asdict(v) for v in plan.violations],
        "warnings": list(plan.warnings),
        "footprints_wkt": plan.footprints_wkt,
    }


def plan_from_dict(d: dict[str, Any]) -> MissionPlan:
    return MissionPlan(
        kind=d["kind"],
        home_lon_deg=d["home_lon_deg"],
        home_lat_deg=d["home_lat_deg"],
        sorties=tuple(
            Sortie(
                items=items_from_list(s["items"]),
                route=tuple(_route_point(p) for p in s["route"]),
                length_m=s["length_m"],
                flight_time_s=s["flight_time_s"],
                energy_wh=s["energy_wh"],
            )
            for s in d["sorties"]
        ),
        fence_items=items_from_list(d["fence_items"]),
        rally_items=items_from_list(d["rally_items"]),
        stats=_stats(d["stats"]),
        violations=tuple(Violation(**v) for v in d["violations"]),
        warnings=tuple(d["warnings"]),
        footprints_wkt=d["footprints_wkt"],
    )
