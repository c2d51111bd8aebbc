"""Engine tests for CRS sanity: degrees that are not degrees, and subsets of a domain drawn in degrees."""

import pytest
from rasterio.crs import CRS

from plugin.engine.core import raster_io
from plugin.engine.fronts import subset

WGS84 = CRS.from_epsg(4326)


def test_utm_coordinates_labelled_as_degrees_are_refused():
    utm_bounds = (500000.0, 7670000.0, 530000.0, 7700000.0)
    with pytest.raises(ValueError, match="do not look like degrees"):
        raster_io.check_degrees(utm_bounds, WGS84, "the domain layer")
    raster_io.check_degrees((-50.2, 69.0, -49.5, 69.3), WGS84)  # real degrees pass
    raster_io.check_degrees(utm_bounds, CRS.from_epsg(32622))  # projected CRSs are not checked


def test_a_domain_in_degrees_takes_the_scenes_projected_crs():
    crs, why = subset.working_crs(WGS84, (-50.2, 69.0, -49.5, 69.3), CRS.from_epsg(3413))
    assert crs == CRS.from_epsg(3413)
    assert "EPSG:3413" in why and "square pixels" in why
    same, none = subset.working_crs(CRS.from_epsg(3413), (0, 0, 1, 1), CRS.from_epsg(32622))
    assert same == CRS.from_epsg(3413) and none is None


def test_a_domain_and_scenes_in_degrees_use_the_local_utm_zone():
    # Jakobshavn Isbrae (-49.9 E, 69.2 N) lies in UTM zone 22 north; Pine Island (-100 E, -75 N) in zone 14 south.
    assert subset.working_crs(WGS84, (-50.2, 69.0, -49.5, 69.3), WGS84)[0] == CRS.from_epsg(32622)
    assert subset.working_crs(WGS84, (-101, -75.5, -99, -74.5), WGS84)[0] == CRS.from_epsg(32714)


def test_a_truncated_file_is_named_as_damaged(tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "cut.tif"
    with rasterio.open(path, "w", driver="GTiff", width=400, height=400, count=1, dtype="float32",
                       crs="EPSG:32622", transform=from_origin(0, 0, 10, 10)) as dst:
        dst.write(np.ones((1, 400, 400), np.float32))
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    with rasterio.open(path) as src:
        with pytest.raises(raster_io.DamagedRaster, match="cut.tif is damaged"):
            raster_io.decimated_samples(src, [1])
        with pytest.raises(raster_io.DamagedRaster, match="truncated or corrupt"):
            raster_io.read_window(src, [1])
