"""DESIGN.md's import rules, checked on the source: the layers stay one-way."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)


def imported_roots(path: Path) -> set[str]:
    """Top-level module names a file imports, and for the project's own packages 'pkg.module'."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            out.add(
                ".".join(parts[:2]) if parts[0] in {"app", "missions", "geofences", "simulator"} else parts[0]
            )
    return out


def offenders(package: str, allowed: set[str]) -> dict[str, set[str]]:
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        extra = {
            m
            for m in imported_roots(path)
            if m.split(".")[0] not in STDLIB and m not in allowed and m.split(".")[0] not in allowed
        }
        if extra:
            bad[str(path.relative_to(ROOT))] = extra
    return bad


def test_planning_core_imports_only_numerics_and_geometry() -> None:
    assert offenders("missions", {"numpy", "shapely", "pyproj", "missions", "geofences"}) == {}


def test_geofences_imports_only_numerics_geometry_and_the_item_type() -> None:
    assert offenders("geofences", {"numpy", "shapely", "pyproj", "geofences", "missions.items"}) == {}


def test_simulator_does_not_import_the_service() -> None:
    assert offenders("simulator", {"pymavlink", "numpy", "simulator"}) == {}


def test_link_layer_does_not_import_storage() -> None:
    bad = {
        f: {m for m in mods if m.startswith("app.db") or m.startswith("app.services")}
        for f, mods in offenders("app/link", set()).items()
    }
    assert {f: m for f, m in bad.items() if m} == {}
