"""Key-site inspection: orbits with the camera ROI on the site, photos every N degrees, blocked orbits."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
import shapely
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geofences.checks import PreparedFences, check_route
from geofences.frame import LocalFrame
from geofences.geojson import parse_zones
from geofences.model import Circle, FenceSet, Zone, ZoneKind
from geofences.sample import SITES_PATH, ZONES_PATH
from missions.inspect import InspectionSite, photo_layout
from missions.items import MavCmd, MissionItem
from missions.plan import MissionPlan
from missions.planner import plan_inspection
from missions.profile import FlightProfile
from missions.serialize import plan_from_dict, plan_to_dict
from missions.sites import inspection_sites

FRAME = LocalFrame.for_lonlat(120.54, 31.49)
ORIGIN = FRAME.xy(120.54, 31.49)
PROFILE = FlightProfile(alt_m=40.0, speed_mps=5.0, transit_speed_mps=10.0)
HOME = FRAME.lonlat(ORIGIN[0] - 50.0, ORIGIN[1] - 50.0)
CLEARANCE_M = 5.0


def wgs(geom_m: BaseGeometry) -> BaseGeometry:
    return FRAME.to_wgs84(affinity.translate(geom_m, *ORIGIN))


def xy(item: MissionItem) -> tuple[float, float]:
    x, y = FRAME.xy(item.lon_deg, item.lat_deg)
    return x - ORIGIN[0], y - ORIGIN[1]


def orbits(plan: MissionPlan) -> list[tuple[tuple[float, float], list[tuple[float, float]], int, float]]:
    """From the mission items alone: per DO_SET_ROI_LOCATION .. DO_SET_ROI_NONE span, the ROI,
    the NAV positions flown while it holds, the photos taken and the altitude."""
    found = []
    for sortie in plan.sorties:
        roi: tuple[float, float] | None = None
        navs: list[tuple[float, float]] = []
        photos = 0
        alts: set[float] = set()
        last_nav: tuple[float, float] | None = None
        for item in sortie.items[1:]:
            if item.command == MavCmd.DO_SET_ROI_LOCATION:
                assert roi is None, "an ROI is set while another is active"
                roi, navs, photos, alts = xy(item), [], 0, set()
                assert last_nav is not None
                navs.append(last_nav)  # the ROI is set on leaving the orbit's first vertex
            elif item.command == MavCmd.DO_SET_ROI_NONE:
                assert roi is not None
                found.append((roi, navs, photos, alts.pop() if len(alts) == 1 else math.nan))
                roi = None
            elif item.command == MavCmd.DO_DIGICAM_CONTROL:
                assert roi is not None, "a photo without the camera on a site"
                assert item.x == 1
                photos += 1
            elif item.is_nav and item.command not in (MavCmd.NAV_RETURN_TO_LAUNCH, MavCmd.NAV_LAND):
                last_nav = xy(item)
                if roi is not None:
                    navs.append(last_nav)
                    alts.add(round(item.z, 3))
        assert roi is None, "the sortie ends with the camera still on a site"
    return found


@st.composite
def scenes(draw: st.DrawFn) -> tuple[list[BaseGeometry], list[Polygon]]:
    sites: list[BaseGeometry] = []
    for k in range(draw(st.integers(1, 3))):
        cx, cy = 80.0 + 200.0 * k, draw(st.floats(60, 180))
        if draw(st.booleans()):
            sites.append(Point(cx, cy))
        else:
            w, h = draw(st.floats(10, 50)), draw(st.floats(10, 40))
            sites.append(
                affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), draw(st.floats(0, 90)))
            )
    zones = []  # near the sites, where they get in the way of orbits
    for _ in range(draw(st.integers(0, 3))):
        near = sites[draw(st.integers(0, len(sites) - 1))].centroid
        angle, distance = draw(st.floats(0, 2 * math.pi)), draw(st.floats(0, 70))
        x, y = near.x + distance * math.cos(angle), near.y + distance * math.sin(angle)
        size = draw(st.floats(2, 30))
        zones.append(box(x - size / 2, y - size / 2, x + size / 2, y + size / 2))
    return sites, zones


@settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much]
)
@given(scenes(), st.sampled_from([20.0, 30.0, 45.0, 90.0]))
def test_orbits_keep_the_roi_on_their_site_and_keep_out_of_zones(
    scene: tuple[list[BaseGeometry], list[Polygon]], photo_step_deg: float
) -> None:
    sites_m, zones_m = scene
    assume(all(Point(-50, -50).distance(z) > 15.0 for z in zones_m))
    zones = [
        Zone("INC", "district", ZoneKind.INCLUSION, polygon=wgs(box(-300, -300, 900, 600)), max_alt_m=120.0)
    ]
    zones += [Zone(f"EX{k}", "mast", ZoneKind.EXCLUSION, polygon=wgs(z)) for k, z in enumerate(zones_m)]
    fences = FenceSet(tuple(zones))
    sites = [InspectionSite(f"S{k}", wgs(g)) for k, g in enumerate(sites_m)]
    plan = plan_inspection(sites, home=HOME, profile=PROFILE, fences=fences, photo_step_deg=photo_step_deg)

    # Refused sites carry a violation naming the site and a zone; nothing else goes wrong.
    refused = {v.message.split()[2].rstrip(":") for v in plan.violations if v.kind == "orbit_blocked"}
    assert all(v.kind == "orbit_blocked" and v.sortie == -1 and v.zone_id for v in plan.violations)
    prepared = PreparedFences(fences, FRAME)
    for sortie in plan.sorties:
        route = [(*FRAME.xy(p.lon_deg, p.lat_deg), p.alt_rel_m) for p in sortie.route]
        assert not check_route(route, prepared, clearance_m=CLEARANCE_M - 1e-3)
        assert all(0.0 <= p.alt_rel_m <= 120.0 for p in sortie.route)

    event(f"refused {len(refused)}, changed {sum('keep clear' in w for w in plan.warnings)}")
    layout = photo_layout(photo_step_deg)
    flown = orbits(plan)
    assert len(flown) + len(refused) == len(sites)
    for roi, navs, photos, alt in flown:
        site = min(sites_m, key=lambda g: g.distance(Point(roi)))
        # The ROI is on the site, and the camera stays on it for the whole orbit.
        assert site.distance(Point(roi)) < 0.05
        assert photos == layout.photos and alt == PROFILE.alt_m
        # The orbit is a circle round the site (its centre may have moved off the ROI).
        ring = LineString(navs)
        centre = shapely.minimum_bounding_circle(ring).centroid
        radii = [math.dist((centre.x, centre.y), p) for p in navs]
        assert max(radii) - min(radii) < 0.1
        assert navs[0] == pytest.approx(navs[-1], abs=0.02)
        assert Polygon(navs).buffer(0.05).contains(site)
        assert min(radii) - site.hausdorff_distance(Point(centre)) >= 5.0 - 0.1  # min standoff kept


def test_orbit_photos_every_n_degrees_with_the_roi_set_on_the_site() -> None:
    site = InspectionSite("TOWER", wgs(Point(100.0, 100.0)), radius_m=30.0, alt_m=35.0, height_m=40.0)
    plan = plan_inspection([site], home=HOME, profile=PROFILE, photo_step_deg=45.0)
    assert plan.ok and plan.kind == "inspect"
    assert plan.stats.photos == 8 and plan.stats.extra["photos_per_orbit"] == 8.0
    items = plan.sorties[0].items
    (roi_item,) = [i for i in items if i.command == MavCmd.DO_SET_ROI_LOCATION]
    assert xy(roi_item) == pytest.approx((100.0, 100.0), abs=0.02) and roi_item.z == 20.0  # half its height
    ((_, navs, photos, alt),) = orbits(plan)
    assert alt == 35.0 and photos == 8
    assert all(math.dist(p, (100.0, 100.0)) == pytest.approx(30.0, abs=0.02) for p in navs)
    angles = [math.degrees(math.atan2(p[1] - 100.0, p[0] - 100.0)) for p in navs]
    steps = {round((b - a) % 360.0, 1) for a, b in pairwise(angles)}
    assert steps == {22.5}  # 45° between photos flown as two 22.5° chords (at most 30° apart)


def test_orbit_shrinks_away_from_an_exclusion_zone() -> None:
    mast = Zone(
        "MAST",
        "mast",
        ZoneKind.EXCLUSION,
        circle=Circle(*FRAME.lonlat(ORIGIN[0] + 140.0, ORIGIN[1] + 100.0), 3.0),
    )
    site = InspectionSite("DEPOT", wgs(Point(100.0, 100.0)), radius_m=40.0)
    plan = plan_inspection([site], home=HOME, profile=PROFILE, fences=FenceSet((mast,)))
    assert plan.ok, plan.violations
    assert any("DEPOT" in w and "MAST" in w for w in plan.warnings)
    ((_, navs, _, _),) = orbits(plan)
    radius = math.dist(navs[0], (100.0, 100.0))
    assert 5.0 <= radius < 40.0 - 3.0 - CLEARANCE_M


def test_orbit_moves_its_centre_when_no_radius_clears_and_keeps_the_roi() -> None:
    # A mast 25 m east: every orbit about the site from 20 m (min standoff) to 30 m passes within
    # the clearance of it; moving the centre east puts the mast inside the orbit instead.
    mast = Zone(
        "MAST",
        "mast",
        ZoneKind.EXCLUSION,
        circle=Circle(*FRAME.lonlat(ORIGIN[0] + 125.0, ORIGIN[1] + 100.0), 1.0),
    )
    site = InspectionSite("DEPOT", wgs(Point(100.0, 100.0)))
    plan = plan_inspection(
        [site], home=HOME, profile=PROFILE, fences=FenceSet((mast,)), standoff_m=30.0, min_standoff_m=20.0
    )
    assert plan.ok, plan.violations
    assert any("centre moved" in w for w in plan.warnings)
    ((roi, navs, _, _),) = orbits(plan)
    assert roi == pytest.approx((100.0, 100.0), abs=0.02)
    assert all(math.dist(p, (125.0, 100.0)) > 1.0 + CLEARANCE_M for p in navs)
    assert min(math.dist(p, roi) for p in navs) >= 20.0 - 0.1


def test_orbit_that_nothing_clears_is_refused_naming_site_and_zone() -> None:
    school = Zone("SCHOOL", "school", ZoneKind.EXCLUSION, polygon=wgs(box(50.0, 50.0, 250.0, 250.0)))
    sites = [
        InspectionSite("LAB", wgs(Point(150.0, 150.0))),
        InspectionSite("DEPOT", wgs(Point(400.0, 100.0))),
    ]
    plan = plan_inspection(sites, home=HOME, profile=PROFILE, fences=FenceSet((school,)))
    assert not plan.ok
    (v,) = plan.violations
    assert (v.kind, v.zone_id, v.sortie, v.leg) == ("orbit_blocked", "SCHOOL", -1, -1)
    assert "LAB" in v.message and "SCHOOL" in v.message
    assert len(orbits(plan)) == 1  # the other site is still flown
    only = plan_inspection(sites[:1], home=HOME, profile=PROFILE, fences=FenceSet((school,)))
    assert only.sorties == () and [x.kind for x in only.violations] == ["orbit_blocked"]


def test_sample_district_inspection_keeps_every_roi_on_its_site() -> None:
    doc = json.loads(SITES_PATH.read_text(encoding="utf-8"))
    fences = FenceSet(tuple(z.zone for z in parse_zones(json.loads(ZONES_PATH.read_text(encoding="utf-8")))))
    sites = inspection_sites(doc)
    plan = plan_inspection(
        sites, home=(120.54, 31.49), profile=FlightProfile(alt_m=40.0, speed_mps=5.0), fences=fences
    )
    assert plan.ok, plan.violations
    flown = orbits(plan)
    assert len(flown) == len(sites)
    footprints = [FRAME.to_local(s.footprint) for s in sites]
    for roi, _, photos, _ in flown:
        roi_abs = Point(roi[0] + ORIGIN[0], roi[1] + ORIGIN[1])
        assert min(f.distance(roi_abs) for f in footprints) < 0.05
        assert photos == 12


def test_bad_inspection_parameters_raise() -> None:
    site = InspectionSite("S", wgs(box(0, 0, 40, 40)))
    with pytest.raises(ValueError, match="would cross the site"):
        plan_inspection([InspectionSite("S", wgs(box(0, 0, 40, 40)), radius_m=10.0)], home=HOME)
    with pytest.raises(ValueError, match="photo_step_deg"):
        plan_inspection([site], home=HOME, photo_step_deg=0.0)
    with pytest.raises(ValueError, match="min_standoff_m"):
        plan_inspection([site], home=HOME, standoff_m=5.0, min_standoff_m=10.0)
    with pytest.raises(ValueError, match="radius_m"):
        InspectionSite("S", wgs(Point(0, 0)), radius_m=-1.0)


def test_inspection_plan_survives_storage_with_its_rois() -> None:
    site = InspectionSite("TOWER", wgs(Point(100.0, 100.0)), height_m=10.0)
    plan = plan_inspection([site], home=HOME, profile=PROFILE)
    stored = plan_from_dict(json.loads(json.dumps(plan_to_dict(plan))))
    assert stored == plan
    assert any(p.roi is not None for p in stored.sorties[0].route)
