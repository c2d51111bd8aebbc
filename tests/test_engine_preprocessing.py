"""Engine tests for subsetting, layering and fjord masks (no QGIS)."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from shapely.geometry import LineString, Polygon, box, mapping

from conftest import shared_path
from plugin.engine.fronts import enhance, fjord, layering
from plugin.engine.water import stack as water_stack
from plugin.engine.core.cancel import Cancelled
from plugin.engine.core import raster_io
from plugin.engine.fronts import subset
from plugin.engine.fronts.scene_names import parse_scene_name
from rasters import POLAR, png_to_tif, profile, read, write_tif

UTM18 = CRS.from_epsg(32618)


def landsat7():
    return str(shared_path("misc", "landsat7_RGB.byte.tif"))


# --- scene names -------------------------------------------------------------

@pytest.mark.parametrize("name, date, sensor", [
    ("LE07_L1TP_022006_20000707_20161001_01_T1_B8_Subset.png", "2000-07-07", "Landsat 7 ETM+"),
    ("LC08_L1TP_020007_20140801_20170420_01_T1_B2_Subset", "2014-08-01", "Landsat 8 OLI"),
    ("LT05_L1TP_008011_19870615_20170212_01_T1_B2.TIF", "1987-06-15", "Landsat 5 TM"),
    ("S1A_IW_GRDH_1SDV_20170314T115609_20170314T115634_015706_019D3E_1F2A.tif", "2017-03-14", "Sentinel-1A SAR"),
    ("DBE_1995-11-16_ERS_20_1_152.png", "1995-11-16", "ERS"),
    ("bangladesh_20170314t115609_x-0_y-0_vv.png", "2017-03-14", None),
    ("my_scene.tif", None, None),
])
def test_parse_scene_name(name, date, sensor):
    info = parse_scene_name("/some/folder/" + name)
    assert info["date"] == date
    assert info["sensor"] == sensor
    assert info["scene"] == os.path.splitext(name)[0]


# --- layering ----------------------------------------------------------------

def test_layering_windowed_equals_whole_scene(tmp_path, monkeypatch):
    src = landsat7()
    band = read(src, 1, masked=True)
    valid = ~np.ma.getmaskarray(band)
    with rasterio.open(src) as ds:
        limits = enhance.stretch_limits(raster_io.decimated_samples(ds, [1])[0])
    whole = enhance.layer_calfin(band.filled(0).astype(np.float32), valid, limits)

    monkeypatch.setattr(layering, "WINDOW", 200)  # many windows with halos
    out = tmp_path / "layered.tif"
    layering.layer_calfin_raster(src, str(out), band=1)
    windowed = read(out)
    assert windowed.shape == (3,) + band.shape
    assert np.abs(windowed.astype(int) - whole.astype(int)).max() <= 1
    # nodata carried through as 0 in every layer, valid pixels never 0
    assert (windowed[:, ~valid] == 0).all()
    assert (windowed[:, valid] > 0).all()
    _, names = profile(out)
    assert names == ["RAW", "LOCAL_CONTRAST", "SHADOWS_HIGHLIGHTS"]


def test_layering_enhances_contrast_on_real_landsat_front(tmp_path):
    png = shared_path("fronts-landsat", "images",
                      "LC08_L1TP_020007_20140801_20170420_01_T1_B2_Subset.png")
    tif = png_to_tif(png, tmp_path / "scene.tif")
    out = tmp_path / "layered.tif"
    layering.layer_calfin_raster(tif, str(out))
    raw, local, shadows = read(out).astype(float)
    # The local-contrast layer spreads values over the range; the raw layer keeps order.
    assert local.std() > 30
    assert np.corrcoef(raw.ravel(), read(tif, 1).astype(float).ravel())[0, 1] > 0.99
    assert not np.array_equal(raw, shadows)


def test_layering_refuses_all_nodata(tmp_path):
    tif = write_tif(tmp_path / "empty.tif", np.zeros((50, 50), np.uint8), nodata=0)
    with pytest.raises(ValueError, match="no valid pixels"):
        layering.layer_calfin_raster(tif, str(tmp_path / "out.tif"))
    assert not (tmp_path / "out.tif").exists()


def test_stack_bands_union_nodata_and_names(tmp_path):
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    b = np.full((10, 10), 5, np.int16)
    b[0, 0] = -9999
    pa = write_tif(tmp_path / "a.tif", a)
    pb = write_tif(tmp_path / "b.tif", b, nodata=-9999)
    out = tmp_path / "stack.tif"
    water_stack.stack_bands([(pa, 1, "VV"), (pb, 1, "VH")], pa, str(out))
    data = read(out)
    assert data.dtype == np.float32 and data.shape == (2, 10, 10)
    assert np.isnan(data[:, 0, 0]).all()  # nodata is the union
    assert data[0, 5, 5] == 55 and data[1, 5, 5] == 5
    assert profile(out)[1] == ["VV", "VH"]


# --- subset ------------------------------------------------------------------

def test_subset_same_crs_is_exact_and_masks_outside_domain(tmp_path):
    src = landsat7()
    with rasterio.open(src) as ds:
        pixel = ds.res[0]
        # a triangle inside the scene, aligned to nothing in particular
        x0, y0 = ds.bounds.left + 60000, ds.bounds.bottom + 60000
    domain = Polygon([(x0, y0), (x0 + 30000, y0), (x0, y0 + 30000)])
    grid = subset.domain_grid(domain.bounds, UTM18, pixel)
    result = subset.subset_scene(src, tmp_path / "s.tif", grid, mapping(domain), "nearest")
    assert result["status"] == "accepted", result
    out = read(result["path"], masked=True)
    with rasterio.open(result["path"]) as ds:
        assert ds.crs == UTM18 and (ds.width, ds.height) == (grid.width, grid.height)
        assert ds.transform == grid.transform
        # pixels outside the triangle are nodata
        inside = rasterio.features.geometry_mask([mapping(domain)], (ds.height, ds.width),
                                                 ds.transform, invert=True)
    assert np.ma.getmaskarray(out)[:, ~inside].all()
    # inside, values equal the source sampled at the same place (same CRS, nearest)
    with rasterio.open(src) as ds:
        xs, ys = rasterio.transform.xy(grid.transform, [grid.height // 3], [grid.width // 4])
        expected = next(ds.sample([(xs[0], ys[0])]))
    assert list(out[:, grid.height // 3, grid.width // 4]) == list(expected)


def test_subsets_of_two_scenes_share_one_grid_and_reprojection(tmp_path):
    src = landsat7()
    # second "scene": the same data cropped, so footprints differ
    with rasterio.open(src) as ds:
        win = rasterio.windows.Window(100, 100, 500, 500)
        cropped = write_tif(tmp_path / "crop.tif", ds.read(window=win), crs=ds.crs,
                            transform=ds.window_transform(win), nodata=0)
        bounds = ds.window_bounds(win)
    centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    domain_utm = box(centre[0] - 20000, centre[1] - 20000, centre[0] + 20000, centre[1] + 20000)
    # domain given in EPSG:3857: both scenes are reprojected onto the domain's grid
    from rasterio.warp import transform_geom
    merc = CRS.from_epsg(3857)
    domain = transform_geom(UTM18, merc, mapping(domain_utm))
    from shapely.geometry import shape
    grid = subset.domain_grid(shape(domain).bounds, merc, 300.0)
    r1 = subset.subset_scene(src, tmp_path / "a.tif", grid, domain)
    r2 = subset.subset_scene(cropped, tmp_path / "b.tif", grid, domain)
    assert r1["status"] == r2["status"] == "accepted"
    with rasterio.open(r1["path"]) as a, rasterio.open(r2["path"]) as b:
        assert a.crs == b.crs == merc
        assert a.transform == b.transform and a.shape == b.shape
        da, db = a.read(1, masked=True), b.read(1, masked=True)
    both = ~np.ma.getmaskarray(da) & ~np.ma.getmaskarray(db)
    assert both.sum() > 1000
    assert np.array_equal(da[both], db[both])  # same pixels, same values


def test_subset_rejects_scene_with_too_much_nodata(tmp_path):
    src = landsat7()
    with rasterio.open(src) as ds:
        left, top = ds.bounds.left, ds.bounds.top
    # half of this domain lies west of the scene
    domain = box(left - 20000, top - 40000, left + 20000, top - 10000)
    grid = subset.domain_grid(domain.bounds, UTM18, 300.0)
    result = subset.subset_scene(src, tmp_path / "s.tif", grid, mapping(domain))
    assert result["status"] == "rejected"
    assert result["nodata_pct"] > 45 and "nodata" in result["reason"]
    assert not (tmp_path / "s.tif").exists()
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_subset_cloud_filter_from_mask_and_landsat_qa(tmp_path):
    data = np.full((100, 100), 50, np.uint8)
    scene = write_tif(tmp_path / "LC08_L1TP_020007_20140801_20170420_01_T1_B2.TIF", data)
    clouds = np.zeros((100, 100), np.uint16)
    clouds[:20] = 1 << 3  # 20 % cloud in C2 QA_PIXEL terms
    write_tif(tmp_path / "LC08_L1TP_020007_20140801_20170420_01_T1_QA_PIXEL.TIF", clouds)
    qa, kind = subset.find_landsat_qa(scene)
    assert kind == "landsat_c2_qa_pixel" and qa.endswith("_QA_PIXEL.TIF")
    with rasterio.open(scene) as ds:
        domain = box(*ds.bounds)
    grid = subset.domain_grid(domain.bounds, POLAR, 49.0)
    rejected = subset.subset_scene(scene, tmp_path / "o1.tif", grid, mapping(domain),
                                   cloud_path=qa, cloud_kind=kind, max_cloud_pct=15)
    assert rejected["status"] == "rejected" and rejected["cloud_pct"] == pytest.approx(20.0)
    accepted = subset.subset_scene(scene, tmp_path / "o2.tif", grid, mapping(domain),
                                   cloud_path=qa, cloud_kind=kind, max_cloud_pct=25)
    assert accepted["status"] == "accepted"


def test_cloud_bits():
    assert subset.cloud_pixels(np.array([0, 2, 8, 16, 21824]), "landsat_c2_qa_pixel").tolist() == \
        [False, True, True, False, False]
    # C1 BQA: bit 4 cloud, or confidence bits 5-6 == 3
    assert subset.cloud_pixels(np.array([0, 16, 96, 32]), "landsat_c1_bqa").tolist() == \
        [False, True, True, False]


def test_subset_refuses_raster_without_crs(tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=5, height=5, count=1, dtype="uint8") as dst:
        dst.write(np.ones((1, 5, 5), np.uint8))
    grid = subset.domain_grid((0, 0, 10, 10), POLAR, 1.0)
    with pytest.raises(ValueError, match="no coordinate reference system"):
        subset.subset_scene(str(path), tmp_path / "o.tif", grid, mapping(box(0, 0, 10, 10)))


def test_subset_cancellation_leaves_nothing(tmp_path):
    src = landsat7()
    with rasterio.open(src) as ds:
        domain = box(*ds.bounds)
    grid = subset.domain_grid(domain.bounds, UTM18, 100.0)  # several windows
    with pytest.raises(Cancelled):
        subset.subset_scene(src, tmp_path / "o.tif", grid, mapping(domain), is_canceled=lambda: True)
    assert not list(tmp_path.iterdir())


# --- fjord masks -------------------------------------------------------------

def _grid_tif(tmp_path, size=100):
    return write_tif(tmp_path / "ref.tif", np.ones((size, size), np.uint8))


def test_fjord_mask_from_polygon(tmp_path):
    ref = _grid_tif(tmp_path)
    with rasterio.open(ref) as ds:
        left, top = ds.bounds.left, ds.bounds.top
    fjord_poly = box(left + 20 * 49, top - 80 * 49, left + 60 * 49, top - 10 * 49)
    out = tmp_path / "mask.tif"
    fjord.rasterize_fjord(ref, str(out), [mapping(fjord_poly)], wall_width_px=2)
    mask = read(out, 1)
    assert mask[40, 40] == 1  # inside
    assert mask[40, 5] == 0 and mask[95, 95] == 0  # outside
    assert mask[40, 20] == 0 and mask[40, 19] == 0  # on the west wall
    assert set(np.unique(mask)) == {0, 1}


def test_fjord_mask_from_open_lines_and_overrides(tmp_path):
    ref = _grid_tif(tmp_path)
    with rasterio.open(ref) as ds:
        left, top = ds.bounds.left, ds.bounds.top
    x = lambda c: left + c * 49  # noqa: E731
    y = lambda r: top - r * 49  # noqa: E731
    walls = [LineString([(x(30), y(0)), (x(30), y(100))]), LineString([(x(70), y(0)), (x(70), y(100))])]
    override = box(x(40), y(60), x(50), y(50))
    out = tmp_path / "mask.tif"
    fjord.rasterize_fjord(ref, str(out), [mapping(w) for w in walls], [(mapping(override), 0)], 3)
    mask = read(out, 1)
    assert mask[20, 50] == 1 and mask[20, 10] == 1  # open lines: 1 off the walls
    assert mask[20, 30] == 0 and mask[20, 70] == 0
    assert mask[55, 45] == 0  # override burned in


def test_fjord_mask_errors(tmp_path):
    ref = _grid_tif(tmp_path)
    with pytest.raises(ValueError, match="no geometries"):
        fjord.rasterize_fjord(ref, str(tmp_path / "m.tif"), [])
    far = box(0, 0, 10, 10)
    with pytest.raises(ValueError, match="do not overlap"):
        fjord.rasterize_fjord(ref, str(tmp_path / "m.tif"), [mapping(far)])
    assert not (tmp_path / "m.tif").exists()


def test_starter_mask_finds_static_walls_not_the_moving_front(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, front_row in enumerate([30, 45, 60, 75]):
        img = np.full((100, 100), 60.0)
        img[:, :20] = 200  # rock wall west
        img[:, 80:] = 200  # rock wall east
        img[:front_row, 20:80] = 230  # glacier above the front
        img += rng.normal(0, 3, img.shape)
        paths.append(write_tif(tmp_path / f"s{i}.tif", img.astype(np.float32)))
    out = tmp_path / "starter.tif"
    fjord.starter_mask_from_stack(paths, str(out))
    mask = read(out, 1)
    assert mask[50, 19:21].min() == 0 and mask[50, 79:81].min() == 0  # static walls
    assert mask[30:76, 50].mean() > 0.9  # the fronts moved: not walls
    # scenes on different grids are refused
    other = write_tif(tmp_path / "other.tif", np.ones((90, 100), np.float32))
    with pytest.raises(ValueError, match="same grid"):
        fjord.starter_mask_from_stack(paths[:1] + [other], str(tmp_path / "x.tif"))


def test_starter_mask_runs_on_real_landsat_subsets(tmp_path):
    folder = shared_path("fronts-landsat", "images")
    pngs = sorted(folder.glob("LE07_L1TP_022006_*"))[:5]
    paths = [png_to_tif(p, tmp_path / (p.stem + ".tif")) for p in pngs]
    out = tmp_path / "starter.tif"
    fjord.starter_mask_from_stack(paths, str(out))
    mask = read(out, 1)
    assert mask.shape == (300, 200)
    assert 0.05 < (mask == 0).mean() < 0.5
