"""Surface-water engine modules on real rasters: HAND, stack, chips, metrics, polygons."""

import csv

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from conftest import shared_path
from plugin.engine.water import chips, hand
from plugin.engine.water import metrics as water_metrics
from plugin.engine.water import models as water_models
from plugin.engine.water import polygons as water_polygons
from plugin.engine.water import stack as water_stack
from rasters import DALLAS, DSWX, PLANET, copy_raster, write_scene, write_tif

# HAND (pysheds) compiles its numba kernels on the first run in a fresh environment
# (about 100 s on 2 cores; cached after that): the tests that compute HAND are marked slow.


@pytest.fixture(scope="module")
def dallas_hand(tmp_path_factory):
    out = tmp_path_factory.mktemp("hand") / "hand.tif"
    arr, info = hand.compute_hand(shared_path(*DALLAS), out, acc_threshold=100)
    return out, arr, info


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    s = write_scene(folder, shared_path("water-s1-etci2021"), shared_path("misc"))
    s["dem"] = shared_path(*DALLAS)
    return s


@pytest.mark.slow
def test_hand_on_dallas_dem(dallas_hand):
    path, arr, info = dallas_hand
    with rasterio.open(path) as out, rasterio.open(shared_path(*DALLAS)) as dem:
        assert out.crs == dem.crs and out.transform == dem.transform
        assert out.descriptions == ("HAND",)
        written = out.read(1)
        elevation = dem.read(1).astype(float)
    np.testing.assert_array_equal(written, arr)
    assert np.isfinite(arr).all()  # the Dallas DEM has no nodata
    assert arr.min() >= 0.0
    # geographic DEM: 3 arc-seconds at 32.7 N is about 78 m x 92 m
    assert 75 < info["cell_size_m"][0] < 81 and 90 < info["cell_size_m"][1] < 94
    # drainage cells (accumulation above the threshold) sit at HAND 0 ...
    assert info["drainage_cells"] > 1000
    assert (arr == 0).sum() >= info["drainage_cells"]
    # ... and HAND is a small part of the DEM's relief, never above it
    relief = elevation.max() - elevation.min()
    assert arr.max() <= relief
    assert 2 < np.median(arr) < 30 and 20 < arr.max() < 120


@pytest.mark.slow
def test_hand_threshold_controls_drainage(tmp_path, dallas_hand):
    _, dense, info = dallas_hand
    sparse, info2 = hand.compute_hand(shared_path(*DALLAS), None, acc_threshold=2000)
    assert info2["drainage_cells"] < info["drainage_cells"] / 4
    assert np.mean(sparse) > np.mean(dense)


@pytest.mark.slow
def test_hand_refuses_geographic_dem_without_valid_cell_size(tmp_path):
    path = tmp_path / "coarse_geo.tif"
    write_tif(path, np.random.default_rng(0).random((30, 40)).astype(np.float32) * 100,
              crs=CRS.from_epsg(4326), transform=from_origin(-100, 40, 1.0, 1.0))
    with pytest.raises(ValueError, match="geographic coordinates.*cell size in metres"):
        hand.compute_hand(path, tmp_path / "h.tif")
    assert not (tmp_path / "h.tif").exists()
    arr, info = hand.compute_hand(path, tmp_path / "h.tif", cell_size_m=90000.0)
    assert info["cell_size_m"] == (90000.0, 90000.0) and np.nanmin(arr) >= 0


@pytest.mark.slow
def test_stack_puts_everything_on_the_sar_grid(tmp_path, scene, dallas_hand):
    out = tmp_path / "stack.tif"
    info = water_stack.build_stack([scene["sar"]], out, "VV,VH", optical_path=scene["optical"],
                                   optical_bands=(1, 2, 3, 3), dem_path=scene["dem"],
                                   hand_path=dallas_hand[0])
    assert info["channels"] == ["VV", "VH", "RED", "NIR", "SWIR1", "SWIR2", "DEM", "HAND"]
    assert info["sar_units"] == "dB" and info["sar_input_linear"] == [True, True]
    with rasterio.open(out) as st, rasterio.open(scene["sar"]) as sar:
        assert st.descriptions == tuple(info["channels"])
        assert (st.crs, st.transform, st.shape) == (sar.crs, sar.transform, sar.shape)
        data = st.read(masked=True)
        lin = sar.read(1)
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    # nodata is the union: where the SAR had none, every band is nodata
    assert not valid[~scene["valid"]].any()
    assert (np.ma.getmaskarray(data)[:, ~valid]).all()
    vv = data[0].filled(np.nan)
    np.testing.assert_allclose(vv[valid], 10 * np.log10(lin[valid]), rtol=1e-5, atol=1e-4)
    dem = data[6].compressed()
    assert 140 < dem.min() and dem.max() < 300  # Dallas elevations, metres
    assert data[7].compressed().min() >= 0


def test_stack_linear_output_and_no_overlap(tmp_path, scene):
    out = tmp_path / "lin.tif"
    info = water_stack.build_stack([scene["sar"]], out, "VV,VH", sar_output="linear")
    assert info["sar_units"] == "linear power"
    with rasterio.open(out) as st, rasterio.open(scene["sar"]) as sar:
        np.testing.assert_allclose(st.read(1)[scene["valid"]], sar.read(1)[scene["valid"]], rtol=1e-6)
    with pytest.raises(ValueError, match="does not overlap"):
        water_stack.build_stack([scene["sar"]], tmp_path / "x.tif", "VV,VH",
                                dem_path=shared_path(*PLANET))
    assert not (tmp_path / "x.tif").exists()


def test_chips_with_dswe_mapping_and_filters(tmp_path, scene):
    stack = tmp_path / "stack.tif"
    water_stack.build_stack([scene["sar"]], stack, "VV,VH")
    info = chips.make_chips(stack, scene["dswe"], tmp_path / "chips", size=128)
    assert info["kept"] + sum(info["rejected"].values()) == 16
    assert info["rejected"]["cloud"] >= 1  # the 128 x 128 "cloud" corner
    with open(info["manifest"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == info["kept"] > 0
    water = scene["water"]
    for row in rows:
        r, c = int(row["row"]), int(row["col"])
        assert float(row["water_frac"]) >= 0.05 and float(row["cloud_frac"]) <= 0.3
        with rasterio.open(tmp_path / "chips" / row["label"]) as lab:
            label = lab.read(1)
        with rasterio.open(tmp_path / "chips" / row["image"]) as img, rasterio.open(stack) as st:
            assert img.descriptions == ("VV", "VH")
            assert img.transform.c == st.transform.c + c * 10
            np.testing.assert_array_equal(img.read(), st.read(window=((r, r + 128), (c, c + 128))))
        truth = water[r:r + 128, c:c + 128]
        known = label != 255
        np.testing.assert_array_equal(label[known], truth[known])
        assert set(np.unique(label)) <= {0, 1, 255}


def test_dswe_value_mapping():
    raw = np.array([0, 1, 2, 3, 4, 9, 255, 254], np.uint8)
    out = chips.map_labels(raw, raw == 255)
    assert out.tolist() == [0, 1, 1, 255, 255, 255, 255, 255]
    out = chips.map_labels(raw, raw == 255, water_values=(1, 2, 3), land_values=(0, 4))
    assert out.tolist() == [0, 1, 1, 1, 0, 255, 255, 255]


def test_compare_dswx_with_planet():
    m = water_metrics.compare(shared_path(*DSWX), shared_path(*PLANET), pred_water=(1, 2))
    assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == m["compared_pixels"]
    # the Planet map covers 6 km x 6 km: 200 x 200 pixels of 30 m, a little cloud left out
    assert m["grid"]["width"] == 200 and m["grid"]["height"] == 200
    assert 0.9 * 40000 < m["compared_pixels"] <= 40000
    assert m["grid"]["resampled"] == "reference" and m["grid"]["resampling"] == "mode"
    assert 0.55 < m["iou"] < 0.85 and 0.7 < m["f1"] < 0.92
    assert 0.6 < m["precision"] < 0.95 and 0.75 < m["recall"] < 0.98
    assert m["f1"] == pytest.approx(2 * m["precision"] * m["recall"] / (m["precision"] + m["recall"]))
    assert m["iou"] == pytest.approx(m["tp"] / (m["tp"] + m["fp"] + m["fn"]))
    # symmetric roles: swapping the maps swaps FP and FN
    s = water_metrics.compare(shared_path(*PLANET), shared_path(*DSWX), ref_water=(1, 2))
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (m["tp"], m["fn"], m["fp"], m["tn"])


def test_compare_refuses_maps_that_do_not_overlap(tmp_path):
    moved = copy_raster(shared_path(*PLANET), tmp_path / "moved.tif", transform=from_origin(200000, 1000000, 3, 3))
    with pytest.raises(ValueError, match="do not overlap"):
        water_metrics.compare(shared_path(*DSWX), moved)


def test_polygons_are_the_same_whatever_the_window(tmp_path):
    path = shared_path(*PLANET)
    whole = sorted(a for _, a in water_polygons.water_polygons(path, block=4096))
    tiled = sorted(a for _, a in water_polygons.water_polygons(path, block=300))
    assert whole == tiled
    with rasterio.open(path) as src:
        assert sum(whole) == pytest.approx((src.read(1) == 1).sum() * 9.0)
    big = [a for _, a in water_polygons.water_polygons(path, min_area_m2=1000, block=300)]
    assert big and min(big) >= 1000 and len(big) < len(whole)


def test_model_choice_by_channels(tmp_path):
    s1 = (tmp_path / "water_s1.onnx", {"task": "water", "channels": ["VV", "VH"]})
    full = (tmp_path / "alos.onnx", {"task": "water", "channels":
            ["HH", "HV", "RED", "NIR", "SWIR1", "SWIR2", "DEM", "HAND"]})
    front = (tmp_path / "front.onnx", {"task": "calving_front", "channels": ["B"]})
    models = [s1, full, front]
    assert water_models.choose_model(models, ("VV", "VH", "DEM"))[0] == s1[0]
    assert water_models.choose_model(models, full[1]["channels"])[0] == full[0]
    with pytest.raises(ValueError, match="lacks HAND"):
        water_models.choose_model([full], ("HH", "HV", "RED", "NIR", "SWIR1", "SWIR2", "DEM"))
    with pytest.raises(ValueError, match="lacks channel.*VH"):
        water_models.check_model_fits(s1[1], ("VV", "DEM"), 2)
