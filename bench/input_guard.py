"""Cost of the input guard on a grid import body: decode + check against json.loads alone.

Usage: ``.venv/bin/python bench/input_guard.py [--repeats 5]``

``app/api/guard.py`` decodes every JSON body itself and walks it for NUL characters, lone
surrogates, integers beyond bigint and nesting over 64 levels. The baseline is what FastAPI did
before anyway: ``json.loads`` of the same bytes. Bodies are GeoJSON FeatureCollections of grid
polygons (1,000-vertex rings, float coordinates, text properties) of about 1, 6 and 20 MB, the last
the default AEROGRID_MAX_BODY_BYTES. The median of ``--repeats`` runs is reported, with the ratio
guard/baseline. Ends with a ``RESULT`` line (DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from app.api.guard import decode_json_body

log = logging.getLogger("bench.input_guard")

VERTICES = 1000


def grid_import_body(features: int) -> bytes:
    ring = [[120.5 + i * 1e-5, 31.4 + (i % 7) * 1e-5] for i in range(VERTICES - 1)]
    ring.append(ring[0])
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": f"G{n}",
                    "name": f"网格 {n}",
                    "community_code": "C1",
                    "community_name": "湖滨社区",
                    "street_code": "ST",
                    "street_name": "湖滨街道",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
            for n in range(features)
        ],
    }
    return json.dumps(doc).encode()


def median_s(fn: Callable[[bytes], Any], body: bytes, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(body)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    log.info("command: .venv/bin/python bench/input_guard.py --repeats %d", args.repeats)
    log.info("%10s %10s %14s %12s %7s", "features", "body_MB", "json.loads_ms", "guard_ms", "ratio")
    result = {}
    for features in (40, 200, 700):
        body = grid_import_body(features)
        base = median_s(json.loads, body, args.repeats)
        guard = median_s(decode_json_body, body, args.repeats)
        size_mb = len(body) / 1e6
        log.info("%10d %10.1f %14.1f %12.1f %7.2f", features, size_mb, base * 1e3, guard * 1e3, guard / base)
        result[round(size_mb)] = (base, guard)
    parts = []
    for size_mb, (base, guard) in result.items():
        parts += [f"guard_{size_mb}mb_ms={guard * 1e3:.0f}", f"ratio_{size_mb}mb={guard / base:.2f}"]
    log.info("RESULT %s", " ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
