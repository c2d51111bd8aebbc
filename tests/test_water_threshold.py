"""The physically based water detector (plugin/engine/water/threshold.py) and the metric warp.

Real-data tests use ../shared/data/water-s1-db (validation only; skipped with a
reason when absent). The scenes derived from it (dry crops, the scenes without
their water, EPSG:4326 copies) are built in temporary folders by the helpers of
tools/measure_water.py, which prints the measured table these thresholds come from:
pxs10 IoU 0.872, jja10 0.688, dry land 0 to 1.1 % water, EPSG:4326 agreement 0.992.
"""

import sys

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from conftest import ROOT, shared_path
from plugin.engine.core.cancel import Cancelled
from plugin.engine.water import threshold as th
from plugin.engine.water import warp

sys.path.insert(0, str(ROOT / "tools"))
import measure_water as mw  # noqa: E402

UTM = CRS.from_epsg(32646)


@pytest.fixture(scope="module")
def db_data():
    return shared_path("water-s1-db")


def _mask(path):
    with rasterio.open(path) as src:
        return src.read(1), src.profile


def _write(path, array, crs=UTM, transform=None, nodata=None, descriptions=("VV", "VH")):
    array = np.asarray(array)
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=array.shape[0], dtype=array.dtype, crs=crs,
                       transform=transform or from_origin(500000, 3000000, 10, 10), nodata=nodata) as dst:
        dst.write(array)
        for i, d in enumerate(descriptions[:array.shape[0]], start=1):
            dst.set_band_description(i, d)
    return str(path)


# ---------------------------------------------------------------- real scenes

@pytest.mark.parametrize("scene, minimum", [("pxs10", 0.85), ("jja10", 0.66)])
def test_iou_on_labelled_db_scenes(tmp_path, db_data, scene, minimum):
    """Measured 0.872 (pxs10, open flood water) and 0.688 (jja10, water not dark in VV)."""
    mask_path, prob_path = tmp_path / "mask.tif", tmp_path / "prob.tif"
    result = th.threshold_water(str(mw.scene_path(scene)), str(mask_path), str(prob_path))
    mask, profile = _mask(mask_path)
    assert profile["dtype"] == "uint8" and profile["nodata"] == 255
    assert set(np.unique(mask)) <= {0, 1, 255}
    assert mw.iou(mask, mw.read_label(scene)) >= minimum
    assert result["water_pixels"] == int((mask == 1).sum())
    assert result["thresholds"]["VH"]["source"] == "tiles"
    with rasterio.open(prob_path) as src:
        prob = src.read(1)
        assert src.dtypes[0] == "float32" and src.nodata == -1
    valid = mask != 255
    assert ((prob[valid] >= 0.5) == (mask[valid] == 1)).all()  # likelihood >= 0.5 exactly where water
    assert (prob[valid] <= 1).all() and (prob[valid] >= 0).all()


def test_jja10_needs_vh_and_vv_finds_no_water_land_tiles(tmp_path, db_data):
    """jja10's water is not dark in VV: VV has no water/land tile, VH carries the map."""
    result = th.threshold_water(str(mw.scene_path("jja10")), str(tmp_path / "m.tif"))
    assert result["thresholds"]["VV"]["source"] == "floor"
    assert result["thresholds"]["VH"]["threshold"] <= th.MAX_THRESHOLD_DB["cross"]


@pytest.mark.parametrize("crop", mw.DRY_CROPS, ids=lambda c: f"{c[0]}-r{c[1]}-c{c[2]}")
def test_dry_crops_stay_dry(tmp_path, db_data, crop):
    """Crops with no labelled water: at most 2 % marked (measured 0 to 1.08 %)."""
    path = mw.write_dry_crop(crop, tmp_path / "dry.tif")
    result = th.threshold_water(path, str(tmp_path / "m.tif"))
    assert result["water_fraction"] <= 0.02
    assert all(e["source"] != "tiles" for e in result["thresholds"].values())


@pytest.mark.parametrize("scene", mw.SCENES)
def test_scene_without_its_water_stays_dry(tmp_path, db_data, scene):
    """The whole scene with its labelled water (grown 5 px) as nodata: measured 0.19 % and 0 %."""
    path = mw.write_dry_scene(scene, tmp_path / "dry.tif")
    result = th.threshold_water(path, str(tmp_path / "m.tif"))
    assert result["water_fraction"] <= 0.01
    mask, _ = _mask(tmp_path / "m.tif")
    with rasterio.open(path) as src:
        nodata = ~np.isfinite(src.read(1))
    assert (mask[nodata] == 255).all()


def test_geographic_input_gives_the_same_mask_on_its_own_grid(tmp_path, db_data):
    """pxs10 warped to EPSG:4326: processed on UTM 46N, written back on the 4326 grid (measured 0.992)."""
    geo = mw.write_geographic("pxs10", tmp_path / "geo.tif")
    own = tmp_path / "own.tif"
    th.threshold_water(str(mw.scene_path("pxs10")), str(own))
    result = th.threshold_water(geo, str(tmp_path / "geo_mask.tif"), str(tmp_path / "geo_prob.tif"))
    assert result["warped"]["crs"] == "EPSG:32646"
    assert abs(result["warped"]["pixel_size_m"] - 10) < 1
    with rasterio.open(geo) as g, rasterio.open(tmp_path / "geo_mask.tif") as m, \
            rasterio.open(tmp_path / "geo_prob.tif") as p:
        assert m.crs == g.crs and m.transform == g.transform and m.shape == g.shape
        assert p.crs == g.crs and p.transform == g.transform
        valid = np.isfinite(g.read(1))
        assert (m.read(1)[valid] <= 1).all() and (m.read(1)[~valid] == 255).all()  # nodata where the input's
        assert ((p.read(1)[valid] >= 0.5) == (m.read(1)[valid] == 1)).all()  # both warped back by nearest
    back = mw.onto_grid(tmp_path / "geo_mask.tif", mw.scene_path("pxs10"))
    mine, _ = _mask(own)
    ok = (mine != 255) & (back != 255)
    assert ok.mean() > 0.99
    assert (mine[ok] == back[ok]).mean() >= 0.98
    assert result["water_pixels"] == int((_mask(tmp_path / "geo_mask.tif")[0] == 1).sum())
    # nothing left behind by the warp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_linear_power_gives_the_same_mask_as_db(tmp_path, db_data):
    with rasterio.open(mw.scene_path("pxs10")) as src:
        power = np.power(10.0, src.read() / 10.0).astype(np.float32)
        path = _write(tmp_path / "power.tif", power, crs=src.crs, transform=src.transform)
    r_db = th.threshold_water(str(mw.scene_path("pxs10")), str(tmp_path / "a.tif"))
    r_pw = th.threshold_water(path, str(tmp_path / "b.tif"))
    assert r_pw["units"] == {"VV": "power", "VH": "power"} and r_db["units"] == {"VV": "db", "VH": "db"}
    a, b = _mask(tmp_path / "a.tif")[0], _mask(tmp_path / "b.tif")[0]
    assert (a == b).mean() >= 0.999


def test_windows_do_not_change_the_result(tmp_path, db_data):
    """Small windows (with their halo) classify every pixel as one window over the scene does."""
    scene = str(mw.scene_path("jja10"))
    th.threshold_water(scene, str(tmp_path / "one.tif"), str(tmp_path / "one_p.tif"))
    th.threshold_water(scene, str(tmp_path / "many.tif"), str(tmp_path / "many_p.tif"), block=64)
    assert (_mask(tmp_path / "one.tif")[0] == _mask(tmp_path / "many.tif")[0]).all()
    assert np.allclose(_mask(tmp_path / "one_p.tif")[0], _mask(tmp_path / "many_p.tif")[0])


def test_hand_removes_water_high_above_drainage(tmp_path, db_data):
    """A HAND raster on another grid (30 m): a 1 km block 200 m above drainage loses its water."""
    scene = str(mw.scene_path("pxs10"))
    with rasterio.open(scene) as src:
        origin = src.transform.c, src.transform.f
    hand = np.random.default_rng(0).uniform(1, 10, (171, 171)).astype(np.float32)
    hand[67:100, 67:100] = 200.0  # over open water of pxs10 (rows/cols 201-300 at 10 m)
    hand_path = _write(tmp_path / "hand.tif", hand[None], transform=from_origin(*origin, 30, 30),
                       nodata=-9999.0, descriptions=("HAND",))
    th.threshold_water(scene, str(tmp_path / "plain.tif"))
    result = th.threshold_water(scene, str(tmp_path / "hand_mask.tif"), hand_path=hand_path)
    plain, with_hand = _mask(tmp_path / "plain.tif")[0], _mask(tmp_path / "hand_mask.tif")[0]
    block = np.s_[201:300, 201:300]
    assert plain[block].mean() > 0.95 and (with_hand[block] == 0).all()
    away = np.ones(plain.shape, bool)
    away[190:311, 190:311] = False
    assert (plain[away] == with_hand[away]).mean() > 0.97
    assert result["thresholds"]["VV"]["tiles_eligible"] == 24  # the high tile is not a candidate


class CancelAt:
    """``is_canceled`` that says yes once progress has passed ``fraction``."""

    def __init__(self, fraction):
        self.fraction, self.seen = fraction, 0.0

    def progress(self, f):
        assert f >= self.seen - 1e-9  # progress never goes back
        self.seen = f

    def __call__(self):
        return self.seen > self.fraction


@pytest.mark.parametrize("fraction", [0.1, 0.6])  # tile statistics; classification windows
def test_cancel_leaves_no_output(tmp_path, db_data, fraction):
    cancel = CancelAt(fraction)
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        th.threshold_water(str(mw.scene_path("pxs10")), str(out / "m.tif"), str(out / "p.tif"),
                           block=128, progress=cancel.progress, is_canceled=cancel)
    assert fraction < cancel.seen < 1.0
    assert not out.exists()  # neither output, nor the folder made for them


def test_cancel_during_geographic_write_back_leaves_no_output(tmp_path, db_data):
    geo = mw.write_geographic("pxs10", tmp_path / "geo.tif")
    out = tmp_path / "out" / "new"
    cancel = CancelAt(0.9)  # the warp back onto the input grid runs from 0.85 to 1
    with pytest.raises(Cancelled):
        th.threshold_water(geo, str(out / "m.tif"), str(out / "p.tif"), progress=cancel.progress,
                           is_canceled=cancel)
    assert 0.9 < cancel.seen < 1.0
    assert not (tmp_path / "out").exists()  # no output, no hidden UTM folder, no folder made for them


def test_progress_reaches_one(tmp_path, db_data):
    seen = []
    th.threshold_water(str(mw.scene_path("jja10")), str(tmp_path / "m.tif"), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


# ---------------------------------------------------------------- synthetic: units, bands, statistics

def test_8bit_rendering_is_refused(tmp_path):
    grey = np.random.default_rng(1).integers(1, 255, (2, 64, 64)).astype(np.uint8)
    path = _write(tmp_path / "grey.tif", grey, nodata=0)
    with pytest.raises(ValueError, match="integer rendering .* no absolute dB level"):
        th.threshold_water(path, str(tmp_path / "m.tif"))
    assert not (tmp_path / "m.tif").exists()


def test_values_that_are_neither_db_nor_power_are_refused(tmp_path):
    amplitude = np.random.default_rng(1).uniform(50, 400, (2, 64, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="does not look like backscatter in dB"):
        th.threshold_water(_write(tmp_path / "a.tif", amplitude), str(tmp_path / "m.tif"))


def test_band_resolution():
    assert th.resolve_sar_bands(["VV", "VH"], 2) == {"VV": 1, "VH": 2}
    assert th.resolve_sar_bands(["HV", "HH"], 2) == {"HH": 2, "HV": 1}  # co-pol first
    assert th.resolve_sar_bands(["Sigma0_VH_db", "Sigma0_VV_db", "DEM"], 3) == {"VV": 2, "VH": 1}
    assert th.resolve_sar_bands(["", ""], 2) == {"VV": 1, "VH": 2}
    assert th.resolve_sar_bands(["RED", "HAND", "x"], 3, "VH=3") == {"VH": 3}
    with pytest.raises(ValueError, match="none is described as VV"):
        th.resolve_sar_bands(["a", "b", "c"], 3)
    with pytest.raises(ValueError, match="none is described as VV"):
        th.resolve_sar_bands(["RED", "NIR"], 2)
    with pytest.raises(ValueError, match="band 4 .* does not exist"):
        th.resolve_sar_bands(["VV", "VH"], 2, {"VV": 4})
    with pytest.raises(ValueError, match="one co-polarised"):
        th.resolve_sar_bands(["VV", "HH"], 2)
    with pytest.raises(ValueError, match="unknown polarisation"):
        th.resolve_sar_bands(["VV"], 1, "XX=1")


def test_bimodality_test_passes_water_against_land_only():
    rng = np.random.default_rng(3)
    water, land = rng.normal(-24, 1.5, 3000), rng.normal(-10, 2, 7000)
    ok = th.tile_threshold(np.concatenate([water, land]), th.CO)
    assert ok["ok"] and -20 < ok["threshold"] < -14
    ki = th.ki_threshold(np.concatenate([water, land]))
    assert abs(ki - ok["threshold"]) < 2.0
    unimodal = th.tile_threshold(rng.normal(-10, 2.5, 10000), th.CO)
    assert not unimodal["ok"] and "not bimodal" in unimodal["reason"]
    fields = th.tile_threshold(np.concatenate([rng.normal(-15, 1.2, 4000), rng.normal(-8, 1.5, 6000)]), th.CO)
    assert not fields["ok"] and "brighter than water" in fields["reason"]  # land against land
    dark = th.tile_threshold(np.concatenate([rng.normal(-27, 1, 5000), rng.normal(-22, 1, 5000)]), th.CROSS)
    assert not dark["ok"] and "darker than land" in dark["reason"]  # water against dry sand
    few = th.tile_threshold(np.concatenate([rng.normal(-24, 1.5, 300), rng.normal(-10, 2, 9700)]), th.CO)
    assert not few["ok"]


def test_unimodal_scene_maps_only_the_floor(tmp_path):
    """A speckled dry scene (gamma-distributed power around -9 / -16 dB) has no water/land tile."""
    rng = np.random.default_rng(5)
    shape = (400, 400)
    power = np.stack([rng.gamma(4.4, 10 ** (-0.9) / 4.4, shape), rng.gamma(4.4, 10 ** (-1.6) / 4.4, shape)])
    path = _write(tmp_path / "dry.tif", power.astype(np.float32))
    result = th.threshold_water(path, str(tmp_path / "m.tif"))
    assert result["thresholds"]["VV"]["source"] == "floor"
    assert result["thresholds"]["VH"]["source"] == "none"
    assert result["water_fraction"] < 0.001


def test_synthetic_lake_on_a_geographic_grid(tmp_path):
    """A dark lake on EPSG:4326 (no labels needed): found, and the outputs keep the 4326 grid."""
    rng = np.random.default_rng(7)
    shape = (300, 360)
    vv = rng.gamma(4.4, 10 ** (-0.9) / 4.4, shape)
    vh = rng.gamma(4.4, 10 ** (-1.6) / 4.4, shape)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    lake = (yy - 150) ** 2 + (xx - 180) ** 2 < 90 ** 2
    vv[lake] = rng.gamma(4.4, 10 ** (-2.4) / 4.4, lake.sum())
    vh[lake] = rng.gamma(4.4, 10 ** (-2.9) / 4.4, lake.sum())
    db = (10 * np.log10(np.stack([vv, vh]))).astype(np.float32)
    db[:, :10, :] = np.nan  # a nodata margin
    geo = CRS.from_epsg(4326)
    path = _write(tmp_path / "lake.tif", db, crs=geo, transform=from_origin(10.0, 50.0, 0.00014, 0.00009),
                  nodata=float("nan"))
    result = th.threshold_water(path, str(tmp_path / "m.tif"))
    assert result["warped"]["crs"] == "EPSG:32632"
    mask, profile = _mask(tmp_path / "m.tif")
    assert profile["crs"] == geo and mask.shape == shape
    assert (mask[:10] == 255).all() and (mask[10:] != 255).all()
    inside = lake.copy()
    inside[:10] = False
    iou = ((mask == 1) & inside).sum() / ((mask == 1) | inside).sum()
    assert iou > 0.95


def test_metric_pixel_size_and_utm_grid(tmp_path):
    path = _write(tmp_path / "g.tif", np.zeros((1, 100, 100), np.float32), crs=CRS.from_epsg(4326),
                  transform=from_origin(-60.0, -20.0, 0.0001, 0.0001), descriptions=("VV",))
    with rasterio.open(path) as src:
        size = warp.metric_pixel_size(src)
        assert 10.0 < size < 11.0  # 0.0001 degree at 20 S: 10.5 m x 11.1 m (60 W: the west edge of zone 21)
        crs, transform, width, height = warp.utm_grid(src)
        assert crs.to_epsg() == 32721 and abs(transform.a - size) < 1e-6
        assert 90 < width < 115 and 90 < height < 115


def test_hand_band_of_a_water_stack_is_used(tmp_path, db_data):
    """A stack VV, VH, HAND (as 'Build water stack' writes it): the HAND band refines the map."""
    with rasterio.open(mw.scene_path("pxs10")) as src:
        data, crs, transform = src.read(), src.crs, src.transform
    hand = np.full(data.shape[1:], 3.0, np.float32)
    hand[201:300, 201:300] = 200.0
    stack = _write(tmp_path / "stack.tif", np.concatenate([data, hand[None]]), crs=crs, transform=transform,
                   descriptions=("VV", "VH", "HAND"))
    result = th.threshold_water(stack, str(tmp_path / "m.tif"))
    assert result["bands"] == {"VV": 1, "VH": 2} and result["hand_band"] == 3
    assert (_mask(tmp_path / "m.tif")[0][205:296, 205:296] == 0).all()
    plain = th.threshold_water(stack, str(tmp_path / "p.tif"), use_stack_hand=False)
    assert not plain["hand"] and plain["water_pixels"] > result["water_pixels"]


def test_auto_method_by_input(tmp_path, db_data):
    assert th.auto_method(str(mw.scene_path("pxs10")))[0] == "threshold"
    grey = np.random.default_rng(1).integers(1, 255, (2, 64, 64)).astype(np.uint8)
    method, reason = th.auto_method(_write(tmp_path / "grey.tif", grey, nodata=0))
    assert method == "model" and "integer rendering" in reason
    optical = grey.astype(np.float32) / 255
    method, reason = th.auto_method(_write(tmp_path / "optical.tif", optical, descriptions=("RED", "NIR")))
    assert method == "model" and "none is described as VV" in reason  # bands named, none SAR
