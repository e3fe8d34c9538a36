"""Export a MissionPlan to the files ground stations and other tools read, and read missions back.

Formats by file extension (``FORMATS``):

* ``.plan``: QGroundControl plan (mission + fence + rally), one sortie per file; readable.
* ``.waypoints`` / ``.txt``: "QGC WPL 110" (Mission Planner, MAVProxy), mission only; readable.
* ``.geojson``: the whole plan (all sorties, fence, footprints) for maps; export only.
* ``.kmz``: DJI WPML wayline for DJI Pilot 2, one sortie per file; export only.

The converters are pure (plan in, bytes out); ``write_export`` and ``read_mission`` are the thin
file-system wrappers. A plan with several sorties is written as one file per sortie for the
per-sortie formats, named ``<stem>.s<N><ext>`` with N counting from 1 (``patrol.plan`` becomes
``patrol.s1.plan``, ``patrol.s2.plan``, ...); a single-sortie plan keeps the given name, and
``.geojson`` always writes the one file because it holds every sortie.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from missions.export.common import ImportedMission, select_sortie
from missions.export.geojson import to_geojson
from missions.export.kmz import (
    DEFAULT_DRONE_ENUM,
    DEFAULT_DRONE_SUB_ENUM,
    DEFAULT_PAYLOAD_ENUM,
    DEFAULT_PAYLOAD_LENS_INDEX,
    DEFAULT_PAYLOAD_SUB_ENUM,
    DEFAULT_SPEED_MPS,
    to_kmz,
)
from missions.export.qgc_plan import DEFAULT_CRUISE_SPEED_MPS, DEFAULT_HOVER_SPEED_MPS, dumps, from_qgc_plan
from missions.export.wpl import from_wpl, to_wpl
from missions.plan import MissionPlan

__all__ = [
    "FORMATS",
    "ExportFormat",
    "ExportOptions",
    "ImportedMission",
    "RenderedFile",
    "export_bytes",
    "read_mission",
    "render_export",
    "sortie_paths",
    "write_export",
    "write_rendered",
]


@dataclass(frozen=True, slots=True)
class ExportFormat:
    name: str
    media_type: str
    per_sortie: bool  # one file per sortie (False: the file holds the whole plan)
    readable: bool  # read_mission can import it


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Format settings that the plan itself does not carry (vehicle model, default speeds)."""

    cruise_speed_mps: float = DEFAULT_CRUISE_SPEED_MPS  # .plan
    hover_speed_mps: float = DEFAULT_HOVER_SPEED_MPS  # .plan
    drone_enum: int = DEFAULT_DRONE_ENUM  # .kmz
    drone_sub_enum: int = DEFAULT_DRONE_SUB_ENUM
    payload_enum: int = DEFAULT_PAYLOAD_ENUM
    payload_sub_enum: int = DEFAULT_PAYLOAD_SUB_ENUM
    payload_position_index: int = 0
    speed_mps: float = DEFAULT_SPEED_MPS  # .kmz speed until the first DO_CHANGE_SPEED
    rth_height_m: float | None = None  # .kmz; None: the highest waypoint
    created_ms: int = 0  # .kmz create/update time; 0 keeps the bytes a function of the plan
    payload_lens_index: str = DEFAULT_PAYLOAD_LENS_INDEX  # .kmz lenses photos are stored from
    home_alt_amsl_m: float | None = None  # .kmz ellipsoidHeight; None: the plan's home altitude
    geoid_undulation_m: float | None = None  # .kmz ellipsoidHeight; None: PROJ's EGM96 grid, else 0


_WPL = ExportFormat("QGC WPL 110", "text/plain", per_sortie=True, readable=True)
FORMATS: dict[str, ExportFormat] = {
    ".plan": ExportFormat("QGroundControl plan", "application/json", per_sortie=True, readable=True),
    ".waypoints": _WPL,
    ".txt": _WPL,
    ".geojson": ExportFormat("GeoJSON", "application/geo+json", per_sortie=False, readable=False),
    ".kmz": ExportFormat("DJI WPML", "application/vnd.google-earth.kmz", per_sortie=True, readable=False),
}


def _format(ext: str) -> str:
    key = ext.lower() if ext.startswith(".") else f".{ext.lower()}"
    if key not in FORMATS:
        raise ValueError(f"unknown export format {ext!r}; known: {', '.join(sorted(FORMATS))}")
    return key


def export_bytes(plan: MissionPlan, ext: str, sortie: int = 0, options: ExportOptions | None = None) -> bytes:
    """The file content for ``ext`` (".plan", "waypoints", ...); ``sortie`` is ignored for .geojson."""
    opts = options or ExportOptions()
    key = _format(ext)
    if key == ".plan":
        text = dumps(
            plan, sortie, cruise_speed_mps=opts.cruise_speed_mps, hover_speed_mps=opts.hover_speed_mps
        )
        return text.encode()
    if key in (".waypoints", ".txt"):
        return to_wpl(select_sortie(plan, sortie).items).encode()
    if key == ".geojson":
        return (json.dumps(to_geojson(plan), indent=2, allow_nan=False) + "\n").encode()
    return to_kmz(
        plan,
        sortie,
        drone_enum=opts.drone_enum,
        drone_sub_enum=opts.drone_sub_enum,
        payload_enum=opts.payload_enum,
        payload_sub_enum=opts.payload_sub_enum,
        payload_position_index=opts.payload_position_index,
        speed_mps=opts.speed_mps,
        rth_height_m=opts.rth_height_m,
        created_ms=opts.created_ms,
        payload_lens_index=opts.payload_lens_index,
        home_alt_amsl_m=opts.home_alt_amsl_m,
        geoid_undulation_m=opts.geoid_undulation_m,
    )


def sortie_paths(path: Path, sortie_count: int) -> list[Path]:
    """Where ``write_export`` puts each sortie: ``path`` itself, or ``<stem>.s<N><ext>`` for several."""
    if sortie_count == 1:
        return [path]
    return [path.with_name(f"{path.stem}.s{n}{path.suffix}") for n in range(1, sortie_count + 1)]


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target and rename, so a reader never sees half a mission file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One export file rendered in memory, not yet written."""

    path: Path
    data: bytes


def render_export(
    plan: MissionPlan, path: Path | str, options: ExportOptions | None = None
) -> tuple[RenderedFile, ...]:
    """Every file ``write_export`` would write for ``path``, rendered but not written.

    Raises ValueError for an unknown format or content the format refuses (a KMZ with a command DJI
    cannot fly, ...), so a caller with several targets can check them all before writing any.
    """
    target = Path(path)
    key = _format(target.suffix)
    if not plan.sorties:
        raise ValueError("the plan has no sorties to export")
    if FORMATS[key].per_sortie:
        paths = sortie_paths(target, len(plan.sorties))
        contents = [export_bytes(plan, key, index, options) for index in range(len(plan.sorties))]
    else:
        paths, contents = [target], [export_bytes(plan, key, 0, options)]
    return tuple(RenderedFile(p, data) for p, data in zip(paths, contents, strict=True))


def write_rendered(files: Sequence[RenderedFile]) -> list[Path]:
    """Write rendered files (each atomically); every target directory is checked first."""
    missing = sorted({str(f.path.parent) for f in files if not f.path.parent.is_dir()})
    if missing:
        raise OSError(f"no such directory: {', '.join(missing)}")
    for file in files:
        _write_atomically(file.path, file.data)
    return [file.path for file in files]


def write_export(plan: MissionPlan, path: Path | str, options: ExportOptions | None = None) -> list[Path]:
    """Write ``plan`` in the format of ``path``'s extension; returns the files written.

    All files are rendered before any is written, so an export error leaves nothing behind.
    """
    return write_rendered(render_export(plan, path, options))


def read_mission(source: Path | str, ext: str | None = None) -> ImportedMission:
    """Import a mission: ``source`` is a file ``Path`` (format from its extension unless ``ext``
    is given) or the file's text as ``str`` (then ``ext`` is required)."""
    if isinstance(source, Path):
        key = _format(ext if ext is not None else source.suffix)
        text = source.read_text(encoding="utf-8-sig")
    else:
        if ext is None:
            raise ValueError("read_mission: give ext when passing the file's text")
        key, text = _format(ext), source
    if not FORMATS[key].readable:
        raise ValueError(f"{key} files cannot be imported (export only)")
    if key == ".plan":
        return from_qgc_plan(text)
    return ImportedMission(items=from_wpl(text))
