"""Splitting a plan's units into sorties by the battery's usable energy and the sprayer's tank.

Sortie energies are first estimated from one pass over the whole chain of units and then
checked exactly on the assembled sortie (``missions.assemble``), backing off a unit at a time if
needed. The tank is a second budget: a spray unit is cut where the tank runs dry, so every
sortie but the last sprays a full tank and the next resumes at the cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

from missions.assemble import Route3D, assemble, estimate_draft, fly_units
from missions.energy import estimate_route
from missions.profile import DEFAULT_BATTERY
from missions.units import (
    LITRES_TOLERANCE,
    XY,
    XYZ,
    Setting,
    Unit,
    Waypoint,
    Work,
    final_xy,
    unit_alt,
    unit_litres,
)

_S_PER_H = 3600.0


def split_sorties(s: Setting, work: Work) -> tuple[list[Unit], list[tuple[int, int]]]:
    """Unit ranges per sortie, each within the battery's usable energy where possible and within
    the tank: a unit that would overfill the tank is cut where it runs dry (``_cut``), so the
    units come back with the ranges."""
    units = list(work.units)
    if not units:
        raise ValueError("nothing to fly: the grid produced no work (too small for the margin or swath?)")
    tank = work.tank_l
    if s.battery is None and tank is None:
        return units, [(0, len(units) - 1)]
    usable = math.inf if s.battery is None else s.battery.usable_wh
    body_wh, link_wh, back_wh = _unit_energies(s, units)
    litres = [unit_litres(u, work.litres_per_m) for u in units]

    def cut(k: int, litres_a: float) -> None:
        a, b = _cut(units[k], litres_a, work.litres_per_m)
        share = _body_length(a) / max(_body_length(units[k]), 1e-12)
        units[k : k + 1] = [a, b]
        body_wh[k : k + 1] = [body_wh[k] * share, body_wh[k] * (1.0 - share)]
        link_wh[k : k + 1] = [link_wh[k], 0.0]
        back_wh[k : k + 1] = [_back_energy(s, a), back_wh[k]]
        litres[k : k + 1] = [unit_litres(a, work.litres_per_m), unit_litres(b, work.litres_per_m)]

    ranges: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        if tank is not None and litres[i] > tank + LITRES_TOLERANCE:
            cut(i, tank)
        out_wh = _leg_energy(
            s, [(*s.home_xy, 0.0), (*s.home_xy, s.profile.alt_m), _at_alt(s, units[i], units[i].body[0].xy)]
        )
        total = out_wh + body_wh[i]
        left = math.inf if tank is None else tank - litres[i]
        j = i
        while j + 1 < len(units) and total + link_wh[j + 1] + body_wh[j + 1] + back_wh[j + 1] <= usable:
            if litres[j + 1] > left + LITRES_TOLERANCE:
                if left > LITRES_TOLERANCE:
                    cut(j + 1, left)
                    if total + link_wh[j + 1] + body_wh[j + 1] + back_wh[j + 1] <= usable:
                        j += 1
                break
            j += 1
            total += link_wh[j] + body_wh[j]
            left -= litres[j]
        while j > i and s.battery is not None:
            draft = assemble(s, units, i, j, last=j == len(units) - 1)
            if estimate_draft(s, draft).energy_wh <= usable:
                break
            j -= 1
        ranges.append((i, j))
        i = j + 1
    return units, ranges


def _body_length(u: Unit) -> float:
    return sum(math.dist(a.xy, b.xy) for a, b in pairwise(u.body))


def _cut(u: Unit, litres_a: float, litres_per_m: float) -> tuple[Unit, Unit]:
    """A spray unit cut where ``litres_a`` have been sprayed: the first part ends there with the
    sprayer off, the second resumes there with it on (and flies on at once when both parts end
    up in one sortie). ``0 < litres_a <`` the unit's litres."""
    body = u.body
    wet_m = litres_a / litres_per_m
    for m, (a, b) in enumerate(pairwise(body)):
        seg_m = math.dist(a.xy, b.xy)
        if not a.sprayer_on or seg_m <= 0.0:
            continue
        if wet_m <= seg_m:
            t = wet_m / seg_m
            xy = (a.xy[0] + (b.xy[0] - a.xy[0]) * t, a.xy[1] + (b.xy[1] - a.xy[1]) * t)
            pause = Waypoint(xy, "spray_pause")
            resume = Waypoint(xy, "spray_resume", sprayer_on=True)
            first = replace(u, body=(*body[: m + 1], pause))
            second = replace(u, body=(resume, *body[m + 1 :]), link=(), link_speed="work")
            return first, second
        wet_m -= seg_m
    raise ValueError("cannot cut a unit beyond the litres it sprays")


def _at_alt(s: Setting, u: Unit, xy: XY) -> XYZ:
    return (xy[0], xy[1], unit_alt(s, u))


def _leg_energy(s: Setting, pts: Sequence[XYZ]) -> float:
    """Energy to fly ``pts`` at transit speed, moves between altitudes at the higher one."""
    battery = s.battery or DEFAULT_BATTERY
    r = Route3D(s.profile.transit_speed_mps)
    for x, y, z in pts:
        r.add((x, y), z, "transit", s.profile.transit_speed_mps)
    d = r.draft()
    return estimate_route(d.points, s.profile, battery, leg_speeds_mps=d.speeds_mps).energy_wh


def _back_energy(s: Setting, u: Unit) -> float:
    """A straight return from the unit's end to the landing spot (a lower bound; see split_sorties)."""
    end = final_xy(s)
    alt = s.profile.alt_m
    last = _at_alt(s, u, u.body[-1].xy)
    climb = [(last[0], last[1], alt)] if last[2] < alt else []
    return _leg_energy(s, [last, *climb, (*end, alt), (end[0], end[1], 0.0)])


def _unit_energies(s: Setting, units: Sequence[Unit]) -> tuple[list[float], list[float], list[float]]:
    """Per unit: energy of its body (with hovers), of its link, and of a straight return home.

    One estimate over the whole chain of units gives body and link figures with realistic
    corner speeds; the straight return is a lower bound that the exact check corrects.
    """
    battery = s.battery or DEFAULT_BATTERY
    r = Route3D(s.profile.transit_speed_mps)
    fly_units(s, r, units, 0, len(units) - 1)
    d = r.draft()
    est = estimate_route(d.points, s.profile, battery, leg_speeds_mps=d.speeds_mps, hover_s=d.hover_s)
    body = [0.0] * len(units)
    link = [0.0] * len(units)
    for leg in est.legs:
        q = leg.index + 1
        moving_wh = leg.energy_wh - battery.hover_power_w * leg.hover_s / _S_PER_H
        if r.is_link[q]:
            link[r.owner[q]] += moving_wh
        else:
            body[r.owner[q]] += moving_wh
    for k, u in enumerate(units):
        body[k] += battery.hover_power_w * sum(w.hover_s for w in u.body) / _S_PER_H
    return body, link, [_back_energy(s, u) for u in units]
