"""Two runs over the same grid against simulated drones: the second is moved to another altitude
layer (never the same air, checked on the stored telemetry), and a third that no layer or delay may
clear is refused with 409 naming the run it would meet."""

from __future__ import annotations

import dataclasses

import asyncpg
import httpx

from app.scheduling.assignment import distance_m
from app.scheduling.driver import RunDriver
from tests.conftest import auth
from tests.scheduling.kit import load_district, plan_mission, register, sim_vehicles, wait_run

PAIR_WITHIN_S = 0.25


async def test_second_run_over_the_same_grid_is_layered_and_a_third_with_no_way_out_is_409(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], driver: RunDriver
) -> None:
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    await load_district(client, pool, admin)
    async with sim_vehicles(3, first_sysid=71, offset_m=90) as (va, vb, vc):
        a, b, c = [await register(client, operator, v) for v in (va, vb, vc)]
        mission_a = await plan_mission(client, operator, a)
        mission_b = await plan_mission(client, operator, b)  # the same grid from another pad
        r = await client.post("/runs", json={"mission_id": mission_a["id"], "drone_id": a}, headers=operator)
        assert r.status_code == 201, r.text
        run_a = r.json()["id"]
        await wait_run(client, operator, run_a, lambda r: r["state"] == "running", within_s=20)

        r = await client.post("/runs", json={"mission_id": mission_b["id"], "drone_id": b}, headers=operator)
        assert r.status_code == 201, r.text
        run_b = r.json()
        assert run_b["alt_offset_m"] == 25.0, run_b
        assert run_b["transitions"][1]["reason"] == "moved +25 m to a free altitude layer"

        driver.settings = dataclasses.replace(driver.settings, max_layers=0, max_delay_s=0)
        r = await client.post("/runs", json={"mission_id": mission_b["id"], "drone_id": c}, headers=operator)
        assert r.status_code == 409, r.text
        refused = r.json()
        assert refused["code"] == "airspace_conflict"
        assert refused["details"][0]["run_id"] in (run_a, run_b["id"])
        assert f"run {refused['details'][0]['run_id']}" in refused["message"]

        for run_id in (run_a, run_b["id"]):
            done = await wait_run(
                client, operator, run_id, lambda r: r["state"] in ("completed", "failed"), within_s=30
            )
            assert done["state"] == "completed", done
        assert not vc.armed
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT drone_id, extract(epoch FROM time) AS t, lon_deg, lat_deg, alt_rel_m FROM telemetry_samples
               WHERE drone_id = ANY($1) AND armed ORDER BY time""",
            [a, b],
        )
        cruise_b = await conn.fetchval(
            "SELECT max(alt_rel_m) FROM telemetry_samples WHERE drone_id = $1 AND mission_id = $2",
            b,
            mission_b["id"],
        )
    assert cruise_b > 60  # flown on its layer (planned at 40 m)
    samples = {d: [r for r in rows if r["drone_id"] == d] for d in (a, b)}
    assert samples[a] and samples[b]
    for sa in samples[a]:
        for sb in samples[b]:
            if abs(float(sa["t"]) - float(sb["t"])) <= PAIR_WITHIN_S:
                dh = distance_m(sa["lon_deg"], sa["lat_deg"], sb["lon_deg"], sb["lat_deg"])
                dv = abs(sa["alt_rel_m"] - sb["alt_rel_m"])
                assert dh >= 50 or dv >= 15, (dh, dv)
