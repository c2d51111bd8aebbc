"""Detect surface water through qgis_process, one run per method, on real Sentinel-1 dB scenes.

water-s1-db (../shared/data, validation only) holds two dB GeoTIFFs with hand labels.
Measured (tools/measure_water.py): threshold method pxs10 IoU 0.872, the shipped model
0.806; EPSG:4326 copy of pxs10 vs its own grid 0.994 of pixels alike.
"""

import sys

import numpy as np
import pytest
import rasterio

from conftest import ROOT, shared_path

sys.path.insert(0, str(ROOT / "tools"))
import measure_water as mw  # noqa: E402


@pytest.fixture(scope="module")
def pxs10():
    shared_path("water-s1-db")
    return str(mw.scene_path("pxs10"))


def iou_against_label(mask_path, name="pxs10"):
    return mw.iou(mw.read_mask(mask_path), mw.read_label(name))


def test_auto_runs_the_threshold_method_on_db_input(qgis_process, pxs10, tmp_path):
    res = qgis_process("detect_water", {"INPUT": pxs10, "OUTPUT_MASK": str(tmp_path / "mask.tif"),
                                        "OUTPUT_PROB": str(tmp_path / "likelihood.tif")})["results"]
    assert res["MODEL_USED"].startswith("threshold (HyP3 method): VV")
    assert iou_against_label(tmp_path / "mask.tif") >= 0.85
    with rasterio.open(tmp_path / "mask.tif") as m:
        assert int(res["WATER_PIXELS"]) == int((m.read(1) == 1).sum())


@pytest.mark.weights
def test_the_model_method_on_the_same_scene(qgis_process, pxs10, tmp_path):
    res = qgis_process("detect_water", {"INPUT": pxs10, "METHOD": "model",
                                        "OUTPUT_MASK": str(tmp_path / "mask.tif")})["results"]
    assert res["MODEL_USED"].endswith("water_s1.onnx")
    assert iou_against_label(tmp_path / "mask.tif") >= 0.75


@pytest.mark.weights
def test_a_model_for_8_bit_renderings_on_calibrated_input_is_named_as_such(pxs10, tmp_path):
    """water_s1.onnx declares input_scale render8 (ETCI tiles, each stretched on its own): run on a dB
    GeoTIFF with METHOD=model it still runs, and the log says the threshold method suits the input."""
    import qgis_cli

    from plugin.engine.core.model import read_meta

    assert read_meta(ROOT / "weights" / "water_s1.onnx")["input_scale"] == "render8"
    proc = qgis_cli.call(*qgis_cli.run_args("detect_water", {
        "INPUT": pxs10, "METHOD": "model", "OUTPUT_MASK": str(tmp_path / "mask.tif")}))
    assert "trained on 8-bit renderings" in proc.stdout + proc.stderr
    assert "METHOD auto or threshold suits it" in proc.stdout + proc.stderr
    assert (tmp_path / "mask.tif").exists()


@pytest.mark.parametrize("method", ["threshold", pytest.param("model", marks=pytest.mark.weights)])
def test_a_geographic_input_gives_the_same_mask_on_its_own_grid(qgis_process, pxs10, tmp_path, method):
    geo = mw.write_geographic("pxs10", tmp_path / "pxs10_4326.tif")
    qgis_process("detect_water", {"INPUT": pxs10, "METHOD": method, "OUTPUT_MASK": str(tmp_path / "own.tif")})
    qgis_process("detect_water", {"INPUT": geo, "METHOD": method, "OUTPUT_MASK": str(tmp_path / "geo.tif")})
    with rasterio.open(geo) as g, rasterio.open(tmp_path / "geo.tif") as m:
        assert m.crs == g.crs and m.transform == g.transform and m.shape == g.shape
    back = mw.onto_grid(tmp_path / "geo.tif", pxs10)
    own = mw.read_mask(tmp_path / "own.tif")
    both = (own != 255) & (back != 255)
    assert both.mean() > 0.99
    assert (own[both] == back[both]).mean() >= 0.97
