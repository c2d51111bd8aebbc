"""Global Forest Change composites, Copernicus GLO-30 DEM and ASF HAND tiles for a
footprint, mosaicked onto a SAR grid, against the local HTTPS replay server
(tests/fetch_server.py, no internet).

The tiles served are stand-ins cut from small real rasters in
../shared/data/misc and given the georeference of the tiles they stand for:
the two halves of the HydroSHEDS Dallas DEM as the GLO-30 tiles N32 W098 and
N32 W097 (HAND: the same minus its minimum), the two halves of the Landsat 7
RGB subset as the GFC tiles 40N_100W and 40N_090W (bands R, G, B, R standing
for RED, NIR, SWIR1, SWIR2).
"""

import math

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_points
from rasterio.warp import transform_bounds

from fetch_server import (  # noqa: F401 (fixtures)
    DEM_TILES, GFC_TILES, RecordingFeedback, dem_arrays, dem_standin, dem_transform, dem_url_path,
    gfc_arrays, gfc_standin, gfc_transform, gfc_url_path, server, shared_path_or_skip, trusted,
)
from plugin.engine.fetch import tiles
from rasters import write_tif, write_vector


@pytest.fixture(scope="module")
def served(server):
    """Register the stand-in tiles (public, no login); the first of each set drops once."""
    shared_path_or_skip()
    for i, label in enumerate(DEM_TILES):
        server.add_file(dem_url_path(label, "DEM"), dem_standin(label, "DEM"), drop_once=(i == 0))
        server.add_file(dem_url_path(label, "HAND"), dem_standin(label, "HAND"))
    for i, label in enumerate(GFC_TILES):
        server.add_file(gfc_url_path(label), gfc_standin(label), drop_once=(i == 0))
    return server


def _urls(server):
    return {"DEM_URL": server.url("/copernicus-dem-30m"),
            "HAND_URL": server.url("/glo-30-hand/v1/2021")}


def _sar_grid(path, crs, lon0, lat0, lon1, lat1, pixel, bands=2):
    """A SAR-like float raster (linear power) whose grid covers the lon/lat box."""
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, lon0, lat0, lon1, lat1)
    width, height = math.ceil((right - left) / pixel), math.ceil((top - bottom) / pixel)
    rng = np.random.default_rng(0)
    data = rng.gamma(2.0, 0.02, size=(bands, height, width)).astype("float32")
    return write_tif(path, data, crs=CRS.from_user_input(crs),
                     transform=from_origin(left, top, pixel, pixel))


def _lonlat_of_pixels(src, step=7):
    rows, cols = np.mgrid[3:src.height - 3:step, 3:src.width - 3:step]
    xs, ys = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel())
    lons, lats = warp_points(src.crs, "EPSG:4326", xs, ys)
    return rows.ravel(), cols.ravel(), np.array(lons), np.array(lats)


def _standin_values(lon, lat, tiles_spec, transform_of, array_of):
    """The stand-in pixel under (lon, lat) and its 8 neighbours (bands, 9), or None outside."""
    for label in tiles_spec:
        t = transform_of(label)
        col, row = ~t * (lon, lat)
        array = array_of(label)
        array = array if array.ndim == 3 else array[None]
        r, c = int(math.floor(row)), int(math.floor(col))
        if 1 <= r < array.shape[-2] - 1 and 1 <= c < array.shape[-1] - 1:
            centre = array[:, r, c]
            around = array[:, r - 1:r + 2, c - 1:c + 2].reshape(array.shape[0], 9)
            return centre, around
    return None


def _matches(out_path, tiles_spec, transform_of, array_of, band_count=1):
    """(share of sampled output pixels equal to the stand-in pixel at their centre, share equal
    to it or a neighbour (the warper's approximate transform), count, sides of the tile edge)."""
    with rasterio.open(out_path) as src:
        data = src.read()
        rows, cols, lons, lats = _lonlat_of_pixels(src)
    same = near = total = 0
    sides = set()
    for r, c, lon, lat in zip(rows, cols, lons, lats):
        found = _standin_values(lon, lat, tiles_spec, transform_of, array_of)
        if found is None:
            continue
        centre, around = found
        value = data[:band_count, r, c]
        total += 1
        same += bool(np.all(centre.astype("float32") == value))
        near += bool(np.any(np.all(around.astype("float32") == value[:, None], axis=0)))
        sides.add(lon < -97 if band_count == 1 else lon < -90)
    return same / total, near / total, total, sides


# ------------------------------------------------------------------ tile names

def test_tile_names_follow_the_published_layouts():
    from shapely.geometry import box

    gfc, outside = tiles.gfc_tiles(box(-91, 5, -89, 6))
    assert [t.name for t in gfc] == ["Hansen_GFC-2023-v1.11_last_10N_100W.tif",
                                     "Hansen_GFC-2023-v1.11_last_10N_090W.tif"]
    assert gfc[1].url == ("https://storage.googleapis.com/earthenginepartners-hansen/"
                          "GFC-2023-v1.11/Hansen_GFC-2023-v1.11_last_10N_090W.tif")
    assert outside == []
    assert tiles.gfc_tiles(box(10, 81, 11, 82)) == ([], ["90N_010E"])
    dem = tiles.dem_tiles(box(6.2, 46.2, 6.8, 46.8))
    assert [t.url for t in dem] == [
        "https://copernicus-dem-30m.s3.amazonaws.com/Copernicus_DSM_COG_10_N46_00_E006_00_DEM/"
        "Copernicus_DSM_COG_10_N46_00_E006_00_DEM.tif"]
    hand = tiles.hand_tiles(box(-0.5, -0.5, 0.5, 0.5))
    assert [t.name for t in hand] == [
        "Copernicus_DSM_COG_10_S01_00_W001_00_HAND.tif", "Copernicus_DSM_COG_10_S01_00_E000_00_HAND.tif",
        "Copernicus_DSM_COG_10_N00_00_W001_00_HAND.tif", "Copernicus_DSM_COG_10_N00_00_E000_00_HAND.tif"]
    assert hand[0].url == ("https://glo-30-hand.s3.amazonaws.com/v1/2021/"
                           "Copernicus_DSM_COG_10_S01_00_W001_00_HAND.tif")


# ------------------------------------------------------------------ DEM / HAND

def test_dem_and_hand_on_the_sar_grid_across_a_tile_edge(run_alg, trusted, served, tmp_path):
    sar = _sar_grid(tmp_path / "sar.tif", "EPSG:32614", -97.3, 32.55, -96.7, 32.75, 100.0)
    cache = tmp_path / "tiles"
    feedback = RecordingFeedback()
    result = run_alg("fetch_dem_hand", dict(_urls(trusted), **{
        "GRID": sar, "RESAMPLING": 1, "TILE_FOLDER": str(cache),
        "OUTPUT_DEM": str(tmp_path / "dem.tif"), "OUTPUT_HAND": str(tmp_path / "hand.tif")}),
        feedback)
    with rasterio.open(sar) as ref, rasterio.open(result["OUTPUT_DEM"]) as dem, \
            rasterio.open(result["OUTPUT_HAND"]) as hand:
        for out in (dem, hand):
            assert (out.crs, out.transform, out.width, out.height) == (
                ref.crs, ref.transform, ref.width, ref.height)
            assert out.dtypes[0] == "float32" and out.nodata == -9999
        assert dem.descriptions == ("DEM",) and hand.descriptions == ("HAND",)
    assert result["DEM_COVERAGE"] == pytest.approx(100.0)
    assert result["HAND_COVERAGE"] == pytest.approx(100.0)
    for key, kind in (("OUTPUT_DEM", "DEM"), ("OUTPUT_HAND", "HAND")):
        share, near, total, sides = _matches(result[key], DEM_TILES, dem_transform,
                                             lambda label: dem_arrays(label, kind))
        assert total > 200 and sides == {True, False}  # both tiles of the mosaic
        assert share > 0.9 and near > 0.995
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"Copernicus_DSM_COG_10_{label}_{kind}.tif" for label in DEM_TILES for kind in ("DEM", "HAND"))
    # the first DEM tile dropped half-way and was resumed with a Range request
    ranges = [r[2].get("Range") for r in trusted.recorded(dem_url_path("N32_00_W098_00"))]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert any("connection dropped" in t for t in feedback.text)

    # a second run reuses the cached tiles
    before = len(trusted.recorded("/copernicus-dem-30m/")) + len(trusted.recorded("/glo-30-hand/"))
    run_alg("fetch_dem_hand", dict(_urls(trusted), **{
        "GRID": sar, "TILE_FOLDER": str(cache), "OUTPUT_DEM": str(tmp_path / "dem2.tif"),
        "OUTPUT_HAND": str(tmp_path / "hand2.tif")}))
    assert len(trusted.recorded("/copernicus-dem-30m/")) + len(trusted.recorded("/glo-30-hand/")) \
        == before


def test_dem_footprint_partly_and_wholly_without_tiles(run_alg, trusted, served, tmp_path):
    from qgis.core import QgsProcessingException

    # half of the footprint lies on N32 W096, which the server does not have (as over ocean)
    from shapely.geometry import box

    footprint = write_vector(tmp_path / "fp.gpkg", [box(-96.6, 32.2, -95.6, 32.6)], "EPSG:4326",
                             [{"granule": "x"}])
    feedback = RecordingFeedback()
    result = run_alg("fetch_dem_hand", dict(_urls(trusted), **{
        "AOI": footprint, "TILE_FOLDER": str(tmp_path / "tiles"),
        "OUTPUT_DEM": str(tmp_path / "dem.tif")}), feedback)
    assert result["OUTPUT_HAND"] is None and result["HAND_COVERAGE"] is None
    assert 35 < result["DEM_COVERAGE"] < 65
    assert any("no tile for Copernicus_DSM_COG_10_N32_00_W096_00_DEM.tif" in t for t in feedback.text)
    with rasterio.open(result["OUTPUT_DEM"]) as src:
        assert src.crs.to_epsg() == 4326  # the tiles' own grid without a reference raster
        assert src.res == pytest.approx((1 / 183, 1 / 359))
        left, bottom, right, top = src.bounds
        assert left <= -96.6 and right >= -95.6 and bottom <= 32.2 and top >= 32.6
        data = src.read(1, masked=True)
        lons = np.array(rasterio.transform.xy(src.transform, [0] * src.width,
                                              list(range(src.width)))[0])
        assert data[:, lons < -96.01].count() == data[:, lons < -96.01].size  # W097 tile present
        assert data[:, lons > -95.99].count() == 0  # W096 missing: nodata
    # wholly over 'ocean': a clear message, no output
    with pytest.raises(QgsProcessingException, match="No Copernicus GLO-30 DEM tile covers the area"):
        run_alg("fetch_dem_hand", dict(_urls(trusted), **{
            "EXTENT": "-30.5,-29.5,10.2,10.8 [EPSG:4326]", "TILE_FOLDER": str(tmp_path / "tiles"),
            "OUTPUT_DEM": str(tmp_path / "ocean.tif")}))
    assert not (tmp_path / "ocean.tif").exists()
    with pytest.raises(QgsProcessingException, match="Ask for the DEM, the HAND or both"):
        run_alg("fetch_dem_hand", dict(_urls(trusted), **{
            "EXTENT": "-97,-96.5,32,32.5 [EPSG:4326]", "OUTPUT_DEM": None, "OUTPUT_HAND": None}))


# ------------------------------------------------------------------ GFC composites

def test_gfc_composite_across_a_tile_edge(run_alg, trusted, served, tmp_path):
    from qgis.core import QgsProcessingException

    grid = _sar_grid(tmp_path / "sar.tif", "EPSG:3857", -90.6, 34.6, -89.4, 35.4, 1500.0)
    feedback = RecordingFeedback()
    result = run_alg("fetch_gfc_composite", {
        "GRID": grid, "RESAMPLING": 1, "TILE_FOLDER": str(tmp_path / "tiles"),
        "BASE_URL": trusted.url("/earthenginepartners-hansen"), "OUTPUT": str(tmp_path / "gfc.tif")},
        feedback)
    with rasterio.open(result["OUTPUT"]) as out, rasterio.open(grid) as ref:
        assert (out.crs, out.transform, out.shape) == (ref.crs, ref.transform, ref.shape)
        assert out.count == 4 and out.descriptions == ("RED", "NIR", "SWIR1", "SWIR2")
    share, near, total, sides = _matches(result["OUTPUT"], GFC_TILES, gfc_transform, gfc_arrays, 4)
    assert total > 100 and sides == {True, False} and share > 0.9 and near > 0.995
    assert sorted(p.split("/")[-1] for p in result["TILES"]) == [
        "Hansen_GFC-2023-v1.11_last_40N_090W.tif", "Hansen_GFC-2023-v1.11_last_40N_100W.tif"]
    assert result["COVERAGE"] > 95  # the stand-ins' own nodata (0) borders stay nodata
    assert any("resuming" in t for t in feedback.text)

    # the 'first' composite of another version is not on the server; the Arctic has no tile
    with pytest.raises(QgsProcessingException, match="None of the 2 GFC tile"):
        run_alg("fetch_gfc_composite", {
            "GRID": grid, "LAYER": 1, "TILE_FOLDER": str(tmp_path / "tiles"),
            "BASE_URL": trusted.url("/earthenginepartners-hansen"), "OUTPUT": "TEMPORARY_OUTPUT"})
    with pytest.raises(QgsProcessingException, match="GFC tiles span 80 N to 60 S"):
        run_alg("fetch_gfc_composite", {
            "EXTENT": "10,11,81,82 [EPSG:4326]", "TILE_FOLDER": str(tmp_path / "tiles"),
            "BASE_URL": trusted.url("/earthenginepartners-hansen"), "OUTPUT": "TEMPORARY_OUTPUT"})


def test_fetched_layers_feed_build_water_stack(run_alg, trusted, served, tmp_path):
    sar = _sar_grid(tmp_path / "sar.tif", "EPSG:32614", -97.2, 32.6, -96.8, 32.7, 100.0)
    common = {"GRID": sar, "TILE_FOLDER": str(tmp_path / "tiles")}
    gfc = run_alg("fetch_gfc_composite", dict(common, BASE_URL=trusted.url(
        "/earthenginepartners-hansen"), OUTPUT=str(tmp_path / "gfc.tif")))
    terrain = run_alg("fetch_dem_hand", dict(common, **_urls(trusted), OUTPUT_DEM=str(
        tmp_path / "dem.tif"), OUTPUT_HAND=str(tmp_path / "hand.tif")))
    stack = run_alg("build_water_stack", {
        "SAR": [sar], "POLARISATIONS": "VV,VH", "OPTICAL": gfc["OUTPUT"], "OPTICAL_BANDS": "1,2,3,4",
        "DEM": terrain["OUTPUT_DEM"], "HAND": terrain["OUTPUT_HAND"],
        "OUTPUT": str(tmp_path / "stack.tif")})
    assert stack["CHANNELS"] == "VV,VH,RED,NIR,SWIR1,SWIR2,DEM,HAND"
    with rasterio.open(stack["OUTPUT"]) as src, rasterio.open(terrain["OUTPUT_DEM"]) as dem, \
            rasterio.open(terrain["OUTPUT_HAND"]) as hand, rasterio.open(gfc["OUTPUT"]) as opt:
        assert src.count == 8
        valid = src.read_masks(1) > 0
        assert valid.mean() > 0.5
        # already on the SAR grid: passed through unchanged where the stack has data
        assert np.allclose(src.read(7)[valid], dem.read(1)[valid])
        assert np.allclose(src.read(8)[valid], hand.read(1)[valid])
        assert np.allclose(src.read(3)[valid], opt.read(1)[valid])


def test_tiles_through_qgis_process(qgis_process, trusted, served, tmp_path):
    sar = _sar_grid(tmp_path / "sar.tif", "EPSG:32614", -97.1, 32.6, -96.9, 32.7, 200.0)
    result = qgis_process("fetch_dem_hand", dict(_urls(trusted), **{
        "GRID": sar, "RESAMPLING": 1, "TILE_FOLDER": str(tmp_path / "tiles"),
        "OUTPUT_DEM": str(tmp_path / "dem.tif"), "OUTPUT_HAND": str(tmp_path / "hand.tif")}))
    assert result["results"]["DEM_COVERAGE"] == pytest.approx(100.0)
    share, near, total, sides = _matches(result["results"]["OUTPUT_DEM"], DEM_TILES, dem_transform,
                                         lambda label: dem_arrays(label, "DEM"))
    assert sides == {True, False} and share > 0.9 and near > 0.995
    result = qgis_process("fetch_gfc_composite", {
        "GRID": sar, "TILE_FOLDER": str(tmp_path / "tiles"),
        "BASE_URL": trusted.url("/earthenginepartners-hansen"), "OUTPUT": str(tmp_path / "gfc.tif")})
    with rasterio.open(result["results"]["OUTPUT"]) as src:
        assert src.count == 4 and src.descriptions == ("RED", "NIR", "SWIR1", "SWIR2")
    proc = qgis_process("fetch_dem_hand", dict(_urls(trusted), **{
        "EXTENT": "-30.5,-29.5,10.2,10.8 [EPSG:4326]", "TILE_FOLDER": str(tmp_path / "tiles"),
        "OUTPUT_DEM": str(tmp_path / "ocean.tif")}), expect_failure=True)
    assert "No Copernicus GLO-30 DEM tile covers the area" in proc.stdout + proc.stderr
