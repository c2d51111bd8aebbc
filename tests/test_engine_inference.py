"""Tiled windowed inference: seamlessness, nodata, georeferencing, cancellation, bands."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from conftest import shared_path
from onnx_factory import conv_net
from plugin.engine.core.cancel import Cancelled
from plugin.engine.core import inference, normalize, raster_io
from plugin.engine.core.inference import NODATA_CLASS, NODATA_PROB, predict_array, predict_raster
from plugin.engine.core.model import load_model
from rasters import TRANSFORM, UTM, UTM_GRID, sar_like, write_tif


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = conv_net(tmp_path_factory.mktemp("m") / "net.onnx", tile=64, overlap=16,
                    normalization=[{"method": "percentile", "low": 1, "high": 99, "db": "auto"},
                                   {"method": "scale", "scale": 0.02, "offset": -1.0}])
    return load_model(path, device="cpu", threads=1)


@pytest.fixture(scope="module")
def two_output_model(tmp_path_factory):
    path = conv_net(tmp_path_factory.mktemp("m2") / "net2.onnx", outputs=("front", "fjord"),
                    tile=48, overlap=12, seed=3,
                    normalization=[{"method": "percentile", "low": 0, "high": 100}] * 2)
    return load_model(path, device="cpu", threads=1)


def whole_image(model, array, valid=None):
    valid = np.ones(array.shape[1:], bool) if valid is None else valid
    norms = model.meta["normalization"]
    stats = normalize.array_stats(array, valid, norms)
    return model.predict(normalize.apply(array, valid, norms, stats)[None])[0]


@pytest.mark.parametrize("shape", [(150, 170), (64, 200), (40, 30)])
def test_tiled_equals_whole_image(model, shape):
    array = sar_like(*shape)
    tiled = predict_array(model, array)
    whole = whole_image(model, array)
    m = 4  # receptive-field radius + 1: the scene border sees zero padding in the whole-image run
    inner = (slice(None), slice(m, -m), slice(m, -m))
    assert np.abs(tiled[inner] - whole[inner]).max() < 1e-4
    assert tiled.shape == whole.shape


def test_narrow_middle_tiles_are_seamless(model):
    # tile 128 / overlap 16 on 300 x 290: a 96 px tile in the middle of each axis (see tiling.spans)
    array = sar_like(300, 290, seed=7)
    tiled = predict_array(model, array, tile_size=128, overlap=16)
    whole = whole_image(model, array)
    assert np.abs(tiled[:, 4:-4, 4:-4] - whole[:, 4:-4, 4:-4]).max() < 1e-4


def test_tiled_equals_whole_image_two_outputs(two_output_model):
    array = sar_like(130, 101, seed=5)
    tiled = predict_array(two_output_model, array, tile_size=32, overlap=12)
    whole = whole_image(two_output_model, array)
    assert tiled.shape == (2, 130, 101)
    assert np.abs(tiled[:, 4:-4, 4:-4] - whole[:, 4:-4, 4:-4]).max() < 1e-4


def test_no_overlap_shows_seams(model):
    # Sanity check that the seamlessness test can fail: without overlap the
    # tiles' zero padding shows at tile borders.
    array = sar_like(150, 170)
    whole = whole_image(model, array)
    seamy = predict_array(model, array, overlap=0)
    assert np.abs(seamy[:, 4:-4, 4:-4] - whole[:, 4:-4, 4:-4]).max() > 1e-2


def test_predict_raster_matches_array_and_keeps_georeferencing(model, tmp_path):
    array = sar_like()
    src = write_tif(tmp_path / "in.tif", array, descriptions=["VV", "VH"], **UTM_GRID)
    prob, cls = tmp_path / "prob.tif", tmp_path / "class.tif"
    stats = predict_raster(model, src, prob, cls, threshold=0.5)
    assert stats["tiles_run"] == 12 and stats["tiles_skipped"] == 0
    assert stats["provider"] == "CPUExecutionProvider"
    expected = predict_array(model, array)
    with rasterio.open(prob) as p, rasterio.open(cls) as c:
        assert p.crs == UTM and c.crs == UTM
        assert p.transform == TRANSFORM and c.transform == TRANSFORM
        assert (p.width, p.height) == (170, 150)
        assert p.dtypes == ("float32",) and c.dtypes == ("uint8",)
        assert p.nodata == NODATA_PROB and c.nodata == NODATA_CLASS
        assert p.descriptions == ("water",)
        assert p.profile["compress"] == "deflate"
        got = p.read()
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_array_equal(c.read(1), (expected[0] >= 0.5).astype(np.uint8))
    assert 0 < (expected[0] >= 0.5).mean() < 1  # the class test is not trivial


def test_nodata_propagates_and_empty_tiles_skipped(model, tmp_path):
    array = sar_like(200, 200)
    array[:, :, :70] = -9999  # a block wide enough that whole tiles are empty
    array[:, 120:125, 150:160] = -9999  # a hole inside valid data
    src = write_tif(tmp_path / "in.tif", array, nodata=-9999, **UTM_GRID)
    prob, cls = tmp_path / "p.tif", tmp_path / "c.tif"
    stats = predict_raster(model, src, prob, cls)
    assert stats["tiles_skipped"] == 4  # the first tile column (cols 0..63) is all nodata
    valid = (array != -9999).all(axis=0)
    with rasterio.open(prob) as p, rasterio.open(cls) as c:
        pr, cl = p.read(1), c.read(1)
    assert (pr[~valid] == NODATA_PROB).all() and (cl[~valid] == NODATA_CLASS).all()
    assert ((pr[valid] > 0) & (pr[valid] < 1)).all()
    assert set(np.unique(cl[valid])) <= {0, 1}
    # the valid part equals in-memory inference with the same mask
    expected = predict_array(model, array, valid=valid)
    np.testing.assert_allclose(pr[valid], expected[0][valid], atol=1e-5)


def test_nan_is_nodata_too(model, tmp_path):
    array = sar_like(80, 90)
    array[1, 10:20, 10:20] = np.nan
    src = write_tif(tmp_path / "in.tif", array, **UTM_GRID)
    prob = tmp_path / "p.tif"
    predict_raster(model, src, prob_path=prob)
    with rasterio.open(prob) as p:
        pr = p.read(1)
    assert (pr[10:20, 10:20] == NODATA_PROB).all()
    assert (pr[30:, 30:] >= 0).all()


def test_all_nodata_refused_and_no_file(model, tmp_path):
    array = np.full((2, 70, 70), -9999, np.float32)
    src = write_tif(tmp_path / "in.tif", array, nodata=-9999, **UTM_GRID)
    with pytest.raises(ValueError, match="no valid pixels"):
        predict_raster(model, src, prob_path=tmp_path / "p.tif")
    assert sorted(os.listdir(tmp_path)) == ["in.tif"]


def test_cancellation_leaves_no_file(model, tmp_path):
    src = write_tif(tmp_path / "in.tif", sar_like(300, 300), **UTM_GRID)
    calls = []

    def cancel_later():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        predict_raster(model, src, tmp_path / "p.tif", tmp_path / "c.tif", is_canceled=cancel_later)
    assert sorted(os.listdir(tmp_path)) == ["in.tif"]


def test_progress_reaches_one(model, tmp_path):
    src = write_tif(tmp_path / "in.tif", sar_like(130, 130), **UTM_GRID)
    seen = []
    predict_raster(model, src, prob_path=tmp_path / "p.tif", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_reads_are_windowed_strips(model, tmp_path, monkeypatch):
    # Memory stays bounded: the scene is never read whole, one tile-high strip at a time.
    src = write_tif(tmp_path / "in.tif", sar_like(400, 90), **UTM_GRID)
    heights = []
    original = raster_io.read_window

    def spy(src_, bands, window):
        heights.append(window.height)
        return original(src_, bands, window)

    monkeypatch.setattr(raster_io, "read_window", spy)
    predict_raster(model, src, prob_path=tmp_path / "p.tif")
    assert len(heights) == len(inference.tiling.starts(400, 64, 16)) and max(heights) == 64


def test_band_mapping_by_description(model, tmp_path):
    array = sar_like()
    src = write_tif(tmp_path / "swapped.tif", array[::-1].copy(), descriptions=["vh", "Vv"], **UTM_GRID)
    predict_raster(model, src, prob_path=tmp_path / "p.tif")
    with rasterio.open(tmp_path / "p.tif") as p:
        got = p.read(1)
    np.testing.assert_allclose(got, predict_array(model, array)[0], atol=1e-5)
    # an explicit map overrides the descriptions
    predict_raster(model, src, prob_path=tmp_path / "q.tif", band_map=[1, 2])
    with rasterio.open(tmp_path / "q.tif") as q:
        assert np.abs(q.read(1) - got).max() > 1e-3


def test_band_count_mismatch_message(model, tmp_path):
    src = write_tif(tmp_path / "one.tif", sar_like()[:1].copy(), **UTM_GRID)
    with pytest.raises(ValueError, match=r"the model expects 2 bands \(VV, VH\) but the input has 1"):
        predict_raster(model, src, prob_path=tmp_path / "p.tif")
    assert not (tmp_path / "p.tif").exists()


def test_parse_and_resolve_band_map():
    ch = ["VV", "VH"]
    assert inference.parse_band_map("VV=1,VH=2", ch) == [1, 2]
    assert inference.parse_band_map(" vh=1 , vv=3 ", ch) == [3, 1]
    assert inference.parse_band_map("2,1", ch) == [2, 1]
    assert inference.parse_band_map("", ch) is None
    with pytest.raises(ValueError, match="missing VH"):
        inference.parse_band_map("VV=1", ch)
    with pytest.raises(ValueError, match="lists 3 bands"):
        inference.parse_band_map("1,2,3", ch)
    with pytest.raises(ValueError, match="not a band number"):
        inference.parse_band_map("a,b", ch)
    with pytest.raises(ValueError, match="band 4 does not exist"):
        inference.resolve_bands(ch, 3, None, [4, 1])
    assert inference.resolve_bands(ch, 3, ["x", "VH", "VV"]) == [3, 2]
    assert inference.resolve_bands(ch, 2, [None, None]) == [1, 2]


def test_pixel_size_checks():
    meta = {"pixel_size_m": 10.0}
    assert inference.check_pixel_size(UTM, TRANSFORM, meta) is None
    warning = inference.check_pixel_size(UTM, from_origin(0, 0, 30, 30), meta)
    assert "30 m" in warning and "10 m" in warning
    with pytest.raises(ValueError, match="geographic CRS"):
        inference.check_pixel_size(CRS.from_epsg(4326), from_origin(0, 0, 0.001, 0.001), meta)
    assert inference.check_pixel_size(CRS.from_epsg(4326), TRANSFORM, {"pixel_size_m": 0}) is None


def test_real_landsat_scene(tmp_path):
    path = shared_path("misc", "landsat7_RGB.byte.tif")
    model_path = conv_net(tmp_path / "rgb.onnx", channels=("red", "green", "blue"), tile=128, overlap=32,
                          pixel_size_m=300.0,
                          normalization=[{"method": "percentile", "low": 2, "high": 98}] * 3)
    model = load_model(model_path, device="cpu", threads=1)
    prob, cls = tmp_path / "p.tif", tmp_path / "c.tif"
    stats = predict_raster(model, path, prob, cls, batch_size=8)
    with rasterio.open(path) as src:
        array = src.read()
        valid = (np.stack([src.read_masks(b) for b in (1, 2, 3)]) > 0).all(axis=0)
        scene_stats = normalize.scene_stats(src, [1, 2, 3], model.meta["normalization"])
        crs, transform = src.crs, src.transform
    assert 0.3 < valid.mean() < 0.95  # the scene has a nodata collar
    with rasterio.open(prob) as p, rasterio.open(cls) as c:
        assert p.crs == crs and p.transform == transform and c.crs == crs
        pr, cl = p.read(1), c.read(1)
    assert (pr[~valid] == NODATA_PROB).all() and (cl[~valid] == NODATA_CLASS).all()
    assert (pr[valid] >= 0).all()
    expected = predict_array(model, array, valid=valid, stats=scene_stats)
    np.testing.assert_allclose(pr[valid], expected[0][valid], atol=1e-4)
    assert stats["tiles_skipped"] >= 1  # corner tiles of the collar are empty


def test_scene_statistics_read_in_strips_with_progress(tmp_path):
    """The statistics' sample is read in strips (a percentage while a large scene is sampled): the
    same pixels as one read, the centre pixel of each whole 10 x 10 cell."""
    rng = np.random.default_rng(2)
    array = rng.random((2, 1003, 907), dtype=np.float32)
    src_path = write_tif(tmp_path / "in.tif", array, **UTM_GRID)
    seen = []
    with rasterio.open(src_path) as src:
        strips = raster_io.decimated_samples(src, [1, 2], max_pixels=10_000, progress=seen.append)
        whole = raster_io.decimated_samples(src, [1, 2], max_pixels=10_000, steps=1)
    for a, b, band in zip(strips, whole, array):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, band[5:1000:10, 5:900:10].ravel())
    assert len(seen) == 20 and seen == sorted(seen) and seen[-1] == 1.0
    model = load_model(str(conv_net(tmp_path / "pct.onnx",
                                    normalization=[{"method": "percentile", "low": 1, "high": 99}] * 2)))
    progress = []
    predict_raster(model, src_path, prob_path=tmp_path / "p.tif", progress=progress.append)
    before_tiles = [p for p in progress if p <= inference.STATS_SHARE]
    assert len(before_tiles) >= 20 and progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
