"""Codes that cannot name a grid or a zone, because the resource's URL would not reach it.

``/grids/{code}`` and ``/geofences/{code}`` sit beside fixed segments (``/grids/import``,
``/geofences/import``, ``/geofences/ceiling``), and clients resolve ``.`` and ``..`` away before
sending a URL. Imports and the zone CRUD refuse these codes so every stored grid and zone can be
read back at its own URL; the path convertor (``app/api/paths.py``) keeps the fixed segments out of
``{code}``.
"""

from __future__ import annotations

RESERVED_SEGMENTS = ("import", "ceiling")
"""Fixed segments beside a ``{code}`` parameter: /grids/import, /geofences/import, /geofences/ceiling."""

UNADDRESSABLE_CODES = frozenset({*RESERVED_SEGMENTS, ".", ".."})
"""Codes whose URL would not reach the resource: a fixed segment, or a dot segment clients resolve."""
