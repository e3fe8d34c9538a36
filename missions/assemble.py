"""A sortie's 3D route from its units: take-off, transit, work, return and landing.

The pipeline (``missions.pipeline``) and the sortie split (``missions.sorties``) both need the
exact route a range of units flies, and its energy: this module builds it (``assemble``) as a
``Draft`` and estimates it (``estimate_draft``). ``Route3D`` holds the one altitude rule: a
horizontal move between two altitudes is flown at the higher one.
"""

from __future__ import annotations

from collections.abc import Sequence

from missions.checkpoint import Checkpoint
from missions.energy import RouteEstimate, estimate_route
from missions.profile import DEFAULT_BATTERY
from missions.units import (
    XY,
    XYZ,
    Draft,
    Setting,
    Unit,
    Waypoint,
    close_xy,
    final_xy,
    route_corners,
    unit_alt,
)


class Route3D:
    """A route being assembled: 3D points with their roles, leg speeds, hovers and payload flags.

    Flags describe the leg leaving a point (see ``missions.compile``); ``speeds[k]`` is leg k's
    speed, the last entry a placeholder until the next point arrives. ``owner`` and ``is_link``
    tag each point with the unit it belongs to, for the energy split. A horizontal move between
    two altitudes is flown at the higher one (climb before leaving a low point, descend once
    above a low one), so the drone is never below either end while it crosses the district.
    """

    __slots__ = (
        "camera",
        "checkpoints",
        "hover",
        "is_link",
        "owner",
        "photo",
        "points",
        "roi",
        "roles",
        "speaker",
        "speeds",
        "sprayer",
        "transit_mps",
    )

    def __init__(self, transit_mps: float) -> None:
        self.transit_mps = transit_mps
        self.points: list[XYZ] = []
        self.roles: list[str] = []
        self.speeds: list[float] = []
        self.hover: list[float] = []
        self.camera: list[bool] = []
        self.speaker: list[bool] = []
        self.sprayer: list[bool] = []
        self.photo: list[bool] = []
        self.roi: list[XYZ | None] = []
        self.checkpoints: list[Checkpoint | None] = []
        self.owner: list[int] = []
        self.is_link: list[bool] = []

    @property
    def xy(self) -> XY:
        return self.points[-1][0], self.points[-1][1]

    @property
    def alt_m(self) -> float:
        return self.points[-1][2]

    def add(
        self,
        xy: XY,
        alt_m: float,
        role: str,
        leg_mps: float,
        w: Waypoint | None = None,
        *,
        camera: bool = False,
        owner: int = -1,
        is_link: bool = True,
    ) -> None:
        """Fly to ``xy`` at ``alt_m`` at ``leg_mps``; ``camera`` is for a corner without a waypoint."""
        if self.points:
            x, y, z = self.points[-1]
            same_spot = close_xy(xy, (x, y)) and abs(alt_m - z) <= 1e-9
            if same_spot and w is not None and self.roles[-1] == "spray_pause":
                # A sweep cut where the tank ran dry, resumed in the same sortie: fly straight on.
                self._set(len(self.points) - 1, role, w, camera, owner, is_link)
                return
            if not close_xy(xy, (x, y)) and alt_m != z:
                # The move is split in two at the higher altitude; both halves keep its flags.
                mid = Waypoint(
                    (x, y) if alt_m > z else xy,
                    "climb" if alt_m > z else "descend",
                    camera_on=self.camera[-1],
                    sprayer_on=self.sprayer[-1],
                    roi=self.roi[-1],
                )
                self._append((*mid.xy, max(alt_m, z)), mid.role, leg_mps, mid, False, owner, True)
        point = w if w is not None else Waypoint(xy, role)
        self._append((*xy, alt_m), role, leg_mps, point, camera, owner, is_link)

    def _append(
        self, p: XYZ, role: str, leg_mps: float, w: Waypoint, camera: bool, owner: int, is_link: bool
    ) -> None:
        if self.speeds:
            self.speeds[-1] = leg_mps
        self.points.append(p)
        self.speeds.append(self.transit_mps)
        self.roles.append(role)
        self.hover.append(w.hover_s)
        self.camera.append(w.camera_on or camera)
        self.speaker.append(w.speaker_on)
        self.sprayer.append(w.sprayer_on)
        self.photo.append(w.photo)
        self.roi.append(w.roi)
        self.checkpoints.append(w.checkpoint)
        self.owner.append(owner)
        self.is_link.append(is_link)

    def _set(self, k: int, role: str, w: Waypoint, camera: bool, owner: int, is_link: bool) -> None:
        self.roles[k] = role
        self.hover[k] = w.hover_s
        self.camera[k] = w.camera_on or camera
        self.speaker[k] = w.speaker_on
        self.sprayer[k] = w.sprayer_on
        self.photo[k] = w.photo
        self.roi[k] = w.roi
        self.checkpoints[k] = w.checkpoint
        self.owner[k] = owner
        self.is_link[k] = is_link

    def payload_off(self) -> None:
        """Never photograph, spray or aim the camera on the way home."""
        self.camera[-1] = self.sprayer[-1] = False
        self.roi[-1] = None

    def draft(self) -> Draft:
        return Draft(
            points=tuple(self.points),
            roles=tuple(self.roles),
            speeds_mps=tuple(self.speeds[:-1]),
            hover_s=tuple(self.hover),
            camera_on=tuple(self.camera),
            speaker_on=tuple(self.speaker),
            sprayer_on=tuple(self.sprayer),
            photo=tuple(self.photo),
            roi=tuple(self.roi),
            checkpoints=tuple(self.checkpoints),
        )


def assemble(s: Setting, units: Sequence[Unit], i: int, j: int, *, last: bool) -> Draft:
    """Sortie i..j (inclusive): take off at home, fly the units, return and land."""
    alt = s.profile.alt_m
    transit = s.profile.transit_speed_mps
    end_xy = final_xy(s) if last else s.home_xy
    end_role = "land" if (last and s.landing_xy is not None) or s.profile.end_action == "land" else "rtl"
    r = Route3D(transit)
    r.add(s.home_xy, 0.0, "home", transit)
    r.add(s.home_xy, alt, "takeoff", transit)
    for c in route_corners(s, s.home_xy, units[i].body[0].xy):
        r.add(c, alt, "transit", transit)
    fly_units(s, r, units, i, j)
    r.payload_off()
    if r.alt_m < alt:
        r.add(r.xy, alt, "climb", transit)
    for c in route_corners(s, r.xy, end_xy):
        r.add(c, alt, "transit", transit)
    r.add(end_xy, alt, "return", transit)
    r.add(end_xy, 0.0, end_role, transit)
    return r.draft()


def fly_units(s: Setting, r: Route3D, units: Sequence[Unit], i: int, j: int) -> None:
    """Units i..j onto the route: each reached by its link (the first one directly)."""
    transit_alt = s.profile.alt_m
    transit = s.profile.transit_speed_mps
    for k in range(i, j + 1):
        u = units[k]
        alt = unit_alt(s, u)
        first = u.body[0]
        if k == i:
            r.add(first.xy, alt, first.role, transit, first, owner=k)
        elif u.link_speed == "transit":
            if r.alt_m < transit_alt:
                r.add(r.xy, transit_alt, "climb", transit, owner=k)
            for c in u.link:
                r.add(c, transit_alt, "transit", transit, owner=k)
            r.add(first.xy, alt, first.role, transit, first, owner=k)
        else:
            # A working link (a coverage turn, a perimeter edge bent round a zone) stays at the
            # unit's altitude and keeps the camera as it was.
            keep = r.camera[-1]
            for c in u.link:
                r.add(c, alt, "turn", s.profile.speed_mps, camera=keep, owner=k)
            r.add(first.xy, alt, first.role, s.profile.speed_mps, first, owner=k)
        for w in u.body[1:]:
            r.add(w.xy, alt, w.role, s.profile.speed_mps, w, owner=k, is_link=False)


def estimate_draft(s: Setting, d: Draft) -> RouteEstimate:
    """Length, time and energy of a drafted sortie (``missions.energy``)."""
    return estimate_route(
        d.points,
        s.profile,
        s.battery or DEFAULT_BATTERY,
        leg_speeds_mps=d.speeds_mps,
        hover_s=d.hover_s,
    )
