"""GCJ-02 / BD-09 conversions: published reference values, offset size, round trips, geometry."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from shapely.geometry import Point, Polygon

from geofences.crs import (
    CoordinateSystem,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84_arrays,
    from_wgs84_geometry,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84_arrays,
    to_wgs84_geometry,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geofences.frame import LocalFrame

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)), dtype=np.float64)


def china_grid() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points across mainland China's box plus a dense patch around the sample district."""
    lon, lat = np.meshgrid(np.linspace(74.0, 134.0, 13), np.linspace(18.5, 53.0, 12))
    patch_lon, patch_lat = np.meshgrid(np.linspace(120.50, 120.58, 5), np.linspace(31.45, 31.53, 5))
    return np.concatenate([lon.ravel(), patch_lon.ravel()]), np.concatenate([lat.ravel(), patch_lat.ravel()])


def test_forward_transforms_match_published_reference_values() -> None:
    # Reference outputs of the widely used coordtransform library for Tiananmen (116.404, 39.915).
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)


def test_inverse_transforms_agree_with_published_one_step_approximations_to_a_metre() -> None:
    # The same library's inverses are single-step approximations; ours refine them, so they agree
    # to well under a metre but not exactly.
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert haversine_m(lon, lat, 116.39775550083061, 39.91359571849836) < 1.0
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert haversine_m(lon, lat, 116.39762729119315, 39.90865673957631) < 1.0


def test_gcj02_shift_in_suzhou_is_a_few_hundred_metres() -> None:
    lon, lat = 120.62, 31.30
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    shift_m = float(haversine_m(lon, lat, gcj_lon, gcj_lat))
    assert 200.0 < shift_m < 800.0
    # And it is mostly eastward: AMap draws Suzhou east of where GPS puts it.
    frame = LocalFrame.for_lonlat(lon, lat)
    (x0, y0), (x1, y1) = frame.xy(lon, lat), frame.xy(gcj_lon, gcj_lat)
    assert x1 - x0 > 300.0
    assert abs(y1 - y0) < 400.0


def test_bd09_adds_a_further_few_hundred_metres_to_gcj02() -> None:
    lon, lat = 120.54, 31.49
    gcj = wgs84_to_gcj02(lon, lat)
    bd = wgs84_to_bd09(lon, lat)
    assert 300.0 < float(haversine_m(*gcj, *bd)) < 1500.0


def test_gcj02_round_trip_is_below_a_millimetre_across_china() -> None:
    lon, lat = china_grid()
    gcj_lon, gcj_lat = from_wgs84_arrays(lon, lat, CoordinateSystem.GCJ02)
    assert float(np.min(haversine_m(lon, lat, gcj_lon, gcj_lat))) > 1.0  # every point really moved
    back_lon, back_lat = to_wgs84_arrays(gcj_lon, gcj_lat, CoordinateSystem.GCJ02)
    assert float(np.max(haversine_m(lon, lat, back_lon, back_lat))) < 0.001


def test_bd09_round_trip_is_below_a_millimetre_across_china() -> None:
    lon, lat = china_grid()
    bd_lon, bd_lat = from_wgs84_arrays(lon, lat, CoordinateSystem.BD09)
    back_lon, back_lat = to_wgs84_arrays(bd_lon, bd_lat, CoordinateSystem.BD09)
    assert float(np.max(haversine_m(lon, lat, back_lon, back_lat))) < 0.001


def test_scalar_functions_invert_each_other() -> None:
    lon, lat = 120.5412345, 31.4898765
    assert float(haversine_m(lon, lat, *gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)))) < 0.001
    assert float(haversine_m(lon, lat, *bd09_to_gcj02(*gcj02_to_bd09(lon, lat)))) < 0.001
    assert float(haversine_m(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat)))) < 0.001


@pytest.mark.parametrize("lon_lat", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688)])
def test_gcj02_leaves_points_outside_china_unchanged(lon_lat: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*lon_lat) == lon_lat
    assert gcj02_to_wgs84(*lon_lat) == lon_lat


def test_to_wgs84_geometry_converts_every_vertex_including_holes() -> None:
    shell = [(120.53, 31.48), (120.55, 31.48), (120.55, 31.50), (120.53, 31.50), (120.53, 31.48)]
    hole = [(120.535, 31.485), (120.535, 31.495), (120.545, 31.495), (120.535, 31.485)]
    converted = to_wgs84_geometry(Polygon(shell, [hole]), CoordinateSystem.GCJ02)
    assert isinstance(converted, Polygon)
    expected_shell = [gcj02_to_wgs84(*p) for p in shell]
    expected_hole = [gcj02_to_wgs84(*p) for p in hole]
    assert np.allclose(converted.exterior.coords, expected_shell, atol=1e-12)
    assert np.allclose(converted.interiors[0].coords, expected_hole, atol=1e-12)


def test_from_wgs84_geometry_undoes_to_wgs84_geometry() -> None:
    point = Point(120.54, 31.49)
    for crs in CoordinateSystem:
        back = to_wgs84_geometry(from_wgs84_geometry(point, crs), crs)
        assert float(haversine_m(point.x, point.y, back.x, back.y)) < 0.001


def test_wgs84_geometry_is_returned_as_is() -> None:
    point = Point(120.54, 31.49)
    assert to_wgs84_geometry(point, CoordinateSystem.WGS84) is point
