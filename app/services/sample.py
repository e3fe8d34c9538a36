"""The sample district shipped in geofences/sample/, loaded for the demo and the tests."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import asyncpg

from app.auth import SYSTEM
from app.services import district


def sample_document(name: str) -> dict[str, Any]:
    """One of the sample files: 'grids', 'zones' or 'sites'."""
    text = (resources.files("geofences") / "sample" / f"{name}.geojson").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


async def load_sample_district(pool: asyncpg.Pool) -> None:
    """Import the sample grids and zones (idempotent: re-running changes nothing)."""
    await district.import_grids(pool, sample_document("grids"), crs=None, principal=SYSTEM)
    await district.import_zones(pool, sample_document("zones"), crs=None, principal=SYSTEM)
