"""One plan as a value: what a planning worker process receives and runs.

The service plans in worker processes (``app.services.plan_pool``), so a plan's inputs travel
by pickle: a ``PlanJob`` holds only frozen dataclasses, shapely geometries and plain values, and
``run_job`` is a module-level function a worker can import. The plan it returns is a frozen
``MissionPlan``, picklable the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from missions.plan import MissionPlan
from missions.planner import plan_checkpoints, plan_inspection, plan_multi_grid, plan_spray
from missions.units import Area, LonLat


@dataclass(frozen=True, slots=True)
class PlanJob:
    """A plan of ``kind`` over ``grids`` (code, WGS-84 area) from ``home`` with the planner
    keywords ``options`` (profile, fences, battery, and the kind's own)."""

    kind: str
    grids: tuple[tuple[str, Area], ...]
    home: LonLat
    options: Mapping[str, Any]


def run_job(job: PlanJob) -> MissionPlan:
    """Plan ``job`` with its kind's entry point; ``ValueError`` for parameters a planner refuses."""
    options = dict(job.options)
    if job.kind == "spray":
        return plan_spray(home=job.home, **options)
    if job.kind == "inspect":
        return plan_inspection(home=job.home, **options)
    if job.kind == "checkpoint":
        return plan_checkpoints(home=job.home, **options)
    if job.kind in ("coverage", "perimeter", "broadcast"):
        return plan_multi_grid(list(job.grids), job.kind, home=job.home, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown plan kind {job.kind!r}")
