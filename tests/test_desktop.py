"""The real QGIS desktop under Xvfb: what a user sees after running Waterline from the toolbox.

One session of the ``qgis`` program (tests/qgis_desktop.py starts it in a
throw-away profile with the plugin enabled; tests/desktop_session.py runs inside
it) runs Detect calving fronts on two held-out Landsat scenes and Detect surface
water on a Sentinel-1 dB scene with ``processing.runAndLoadResults``, reads the
loaded layers back, filters the Processing toolbox by search words, takes a
screenshot of the main window and quits. The tests below assert on its report.
About 15 s on 2 cores; everything is killed after 100 s.
"""

import sqlite3
import struct

import numpy as np
import pytest
from rasterio.transform import from_origin

import qgis_desktop
from conftest import ROOT, shared_path
from rasters import png_to_tif, read_png

pytestmark = [pytest.mark.slow, pytest.mark.weights]

HELD_OUT = ["LT05_L1TP_230012_19860920_20170216_01_T1_B2", "LE07_L1TP_230012_20000529_20170211_01_T1_B8"]
GRID = {"crs": "EPSG:3413", "transform": from_origin(-200000.0, -2000000.0, 49.0, 49.0)}
# search word -> Waterline algorithms it must find, and some it must not
SEARCHES = {
    "glacier": ({"detect_calving_fronts", "subset_scenes", "consolidate_fronts", "terminus_change"},
                {"detect_water", "compute_hand", "search_asf"}),
    "front": ({"detect_calving_fronts", "evaluate_fronts", "consolidate_fronts", "terminus_change"},
              {"detect_water", "compute_hand"}),
    "calving": ({"detect_calving_fronts", "consolidate_fronts", "terminus_change"}, {"detect_water"}),
    "flood": ({"detect_water"}, {"detect_calving_fronts", "consolidate_fronts", "terminus_change"}),
    "water": ({"detect_water", "build_water_stack", "compute_hand", "compare_water_maps"}, set()),
    "SAR": ({"detect_water", "search_asf", "download_asf", "build_water_stack"}, {"evaluate_fronts"}),
    "ONNX": ({"detect_water", "detect_calving_fronts", "run_model"}, {"search_asf", "compute_hand"}),
}


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    reason = qgis_desktop.missing()
    if reason:
        pytest.skip(reason)
    assert (ROOT / "weights" / "calving_front.onnx").exists(), "weights/calving_front.onnx is missing"
    work = tmp_path_factory.mktemp("desktop")
    scenes = [png_to_tif(shared_path("fronts-landsat", "images", n + "_Subset.png"), work / f"{n}_Subset.tif", **GRID)
              for n in HELD_OUT]
    job = {"scenes": scenes, "sar": str(shared_path("water-s1-db", "pxs10_vv_vh_db.tif")),
           "searches": list(SEARCHES), "window": [1280, 800], "screenshots": {"window": str(work / "window.png")}}
    report = qgis_desktop.run_session(job, work / "session", timeout=100)
    assert report["done"] and not report["errors"], report["errors"]
    assert report["provider_loaded"] and "waterline" in report["active_plugins"]
    report["work"] = work
    return report


def _layers(report, kind):
    found = [layer for layer in report["layers"] if layer["kind"] == kind]
    assert len(found) == 1, (kind, [(layer["name"], layer["kind"]) for layer in report["layers"]])
    return found[0]


def _order(report, kind):
    return [layer["kind"] for layer in report["layers"]].index(kind)


def test_outputs_loaded_without_errors(desktop):
    assert not desktop["reported_errors"], desktop["reported_errors"]
    assert desktop["fronts_run"]["FRONTS_FOUND"] == 2
    for kind in ("fronts", "ice_ocean", "water_mask", "water_probability", "water_polygons"):
        assert _layers(desktop, kind)["valid"]


def test_fronts_thick_and_coloured_by_date_and_temporal(desktop):
    fronts = _layers(desktop, "fronts")
    renderer = fronts["renderer"]
    assert renderer["type"] == "QgsRuleBasedRenderer"
    dated = [r for r in renderer["rules"] if not r["else"]]
    assert [r["label"] for r in dated] == ["1986-09-20", "2000-05-29"]
    assert dated[0]["symbol"]["colour"]["name"] != dated[1]["symbol"]["colour"]["name"]  # the date ramp
    for rule in renderer["rules"]:
        casing, line = rule["symbol"]["layers"]
        assert line["width"] == 0.8 and line["width_unit"] == 0  # millimetres
        assert casing["locked"] and casing["width"] > line["width"]
    assert [r["label"] for r in renderer["rules"] if r["else"]] == ["other or no date"]
    assert fronts["temporal"] == {"active": True, "mode": 1, "start_field": "date"}  # instant from field
    assert "temporal properties set" in " ".join(desktop["messages"])


def test_ice_and_ocean_categorised_semi_transparent_below_the_fronts(desktop):
    ice = _layers(desktop, "ice_ocean")
    renderer = ice["renderer"]
    assert renderer["type"] == "QgsCategorizedSymbolRenderer" and renderer["field"] == "class"
    colours = {c["value"]: c["symbol"]["colour"]["name"] for c in renderer["categories"]}
    assert colours == {"ice_land": "#bfe9ff", "ocean": "#0b3d91"}
    assert 0 < ice["opacity"] < 1
    assert _order(desktop, "fronts") < _order(desktop, "ice_ocean")  # top to bottom: fronts drawn above
    assert desktop["after_fronts_run"]["order"][-1] == "Landsat scene"


def test_water_mask_blue_on_transparent_and_probability_ramp(desktop):
    mask = _layers(desktop, "water_mask")["renderer"]
    assert mask["type"] == "QgsPalettedRasterRenderer" and mask["band"] == 1
    classes = {c["value"]: c["colour"] for c in mask["classes"]}
    assert classes[1]["alpha"] == 255 and classes[0]["alpha"] == 0
    red, green, blue = (int(classes[1]["name"][i:i + 2], 16) for i in (1, 3, 5))
    assert blue > 150 and blue > red + 60 and blue > green
    prob = _layers(desktop, "water_probability")["renderer"]
    assert prob["type"] == "QgsSingleBandPseudoColorRenderer" and (prob["min"], prob["max"]) == (0, 1)
    assert prob["items"][0]["colour"]["alpha"] == 0 and prob["items"][-1]["value"] == 1
    polygons = _layers(desktop, "water_polygons")
    assert polygons["features"] > 0 and "area_m2" in polygons["fields"]
    assert polygons["renderer"]["symbol"]["colour"]["name"] == classes[1]["name"]
    # one run's outputs together: polygons above the mask above the probability
    assert _order(desktop, "water_polygons") < _order(desktop, "water_mask") < _order(desktop, "water_probability")


def test_style_travels_inside_the_geopackage(desktop):
    again = desktop["fronts_from_file"]
    assert again["renderer"]["type"] == "QgsRuleBasedRenderer"
    assert [r["label"] for r in again["renderer"]["rules"]][:2] == ["1986-09-20", "2000-05-29"]
    for name in ("fronts", "ice_ocean"):
        with sqlite3.connect(desktop["work"] / "session" / f"{name}.gpkg") as db:
            assert db.execute("SELECT styleName, useAsDefault FROM layer_styles").fetchall() == [("waterline", 1)]


@pytest.mark.parametrize("word", list(SEARCHES))
def test_toolbox_search_finds_the_right_algorithms(desktop, word):
    found = {a.split(":", 1)[1] for a in desktop["toolbox"]["proxy"][word]}
    wanted, unwanted = SEARCHES[word]
    assert wanted <= found, (word, sorted(wanted - found), sorted(found))
    assert not unwanted & found, (word, sorted(unwanted & found))
    assert desktop["toolbox"]["dock"][word] == desktop["toolbox"]["proxy"][word]  # the dock filters alike


def test_screenshot_is_a_png_of_the_window(desktop):
    path = desktop["work"] / "window.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert [width, height] == desktop["window_size"] == desktop["window_grab"] == [1280, 800]
    pixels = np.stack([read_png(path, band) for band in (1, 2, 3)])
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(3, -1), axis=1).T) > 500  # a drawn window
