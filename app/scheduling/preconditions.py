"""What must hold when an occurrence fires, checked against the drone and the district *now*.

In order: the drone is linked and online; its battery covers the first sortie plus the reserve; it
has no open critical alert; the plan still passes today's fences and ceiling; the autopilot's pre-arm
checks pass. The first that fails is the reason the occurrence is skipped: it never launches anyway.
"""

from __future__ import annotations

import asyncpg

from app.db.conn import Conn
from app.services.district import load_fences
from app.services.flight import FlightService
from missions.item_route import check_items
from missions.plan import MissionPlan


async def refusal(
    conn: Conn, flights: FlightService, drone: asyncpg.Record, plan: MissionPlan, *, reserve_pct: float
) -> str | None:
    """Why ``drone`` may not fly ``plan`` now, or None."""
    drone_id = drone["id"]
    if str(drone_id) not in flights.manager.drone_ids():
        return f"drone {drone_id} is not linked"
    state = flights.manager.state(str(drone_id))
    if not state.online:
        return f"drone {drone_id} is offline"
    battery_wh = drone["capabilities"].get("battery_wh")
    if battery_wh:
        need_pct = 100.0 * plan.sorties[0].energy_wh / battery_wh + reserve_pct
        if state.battery_pct is None:
            return f"drone {drone_id}: battery level unknown"
        if state.battery_pct < need_pct:
            return (
                f"drone {drone_id}: battery {state.battery_pct} % is below the {need_pct:.0f} % the sortie "
                f"needs with its {reserve_pct:.0f} % reserve"
            )
    alert = await conn.fetchrow(
        """SELECT id, type, message FROM alerts
           WHERE drone_id = $1 AND state = 'open' AND severity = 'critical' ORDER BY id LIMIT 1""",
        drone_id,
    )
    if alert is not None:
        return (
            f"drone {drone_id} has an open critical alert {alert['id']} ({alert['type']}): {alert['message']}"
        )
    fences = await load_fences(conn)
    for k, sortie in enumerate(plan.sorties):
        violations = check_items(sortie.items, fences, plan.home_lon_deg, plan.home_lat_deg)
        if violations:
            return f"the plan no longer passes today's fences (sortie {k + 1}): {violations[0].message}"
    tracker = flights.vehicle(drone_id).tracker
    if tracker.prearm_ok is not True:
        return f"drone {drone_id} is not armable: pre-arm checks failing"
    if state.armed:
        return f"drone {drone_id} is armed outside any run (manual control)"
    return None
