"""How outputs look: the renderer builders (processing_provider/styles.py), the default styles saved
inside GeoPackage outputs and the post-processors' layer order (processing_provider/postprocess.py).

The real desktop (loaded outputs, toolbox search, screenshots) is tests/test_desktop.py.
"""

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from conftest import ROOT, shared_path
from rasters import write_tif

CRS = "EPSG:3413"
GRID = {"crs": CRS, "transform": from_origin(-200000.0, -2000000.0, 49.0, 49.0)}
HELD_OUT = ["LE07_L1TP_230012_20000529_20170211_01_T1_B8", "LT05_L1TP_230012_19860920_20170216_01_T1_B2"]


@pytest.fixture
def styles(qgis_app):
    from waterline.processing_provider import styles

    return styles


@pytest.fixture
def postprocess(qgis_app):
    from waterline.processing_provider import postprocess

    return postprocess


def _fronts_layer(dates, name="fronts"):
    from qgis.PyQt.QtCore import QDate
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer(f"LineString?crs={CRS}&field=scene_id:string&field=date:date", name, "memory")
    features = []
    for i, text in enumerate(dates):
        feature = QgsFeature(layer.fields())
        feature.setAttributes([f"scene{i}", QDate.fromString(text, "yyyy-MM-dd") if text else None])
        feature.setGeometry(QgsGeometry.fromWkt(f"LineString({i} 0, {i} 1)"))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def _rule_for(renderer, feature, layer):
    """The label of the rule that draws ``feature`` (ELSE rules only when no other rule matches)."""
    from qgis.core import QgsExpression, QgsExpressionContext, QgsExpressionContextUtils

    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    context.setFeature(feature)
    matched = [r for r in renderer.rootRule().children()
               if not r.isElse() and QgsExpression(r.filterExpression()).evaluate(context)]
    if matched:
        return [r.label() for r in matched]
    return [r.label() for r in renderer.rootRule().children() if r.isElse()]


def _write_gpkg(layer, path, table):
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter

    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName, options.layerName = "GPKG", table
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(path), QgsCoordinateTransformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    return str(path)


def _styles_in(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT f_table_name, styleName, useAsDefault FROM layer_styles ORDER BY id").fetchall()


# ------------------------------------------------------------------ renderer builders


def test_fronts_coloured_by_date_in_time_order(styles):
    dates = ["1986-09-20", "2000-05-29", "2000-05-29", "2001-07-03", None, "2015-08-19", "2016-08-05"]
    layer = _fronts_layer(dates)
    assert styles.apply(layer, "fronts")
    renderer = layer.renderer()
    rules = renderer.rootRule().children()
    assert type(renderer).__name__ == "QgsRuleBasedRenderer"
    dated = [r for r in rules if not r.isElse()]
    # Equal intervals of time, empty ones left out: 1986 | 2000-2001 | 2015-2016.
    assert [r.label() for r in dated] == ["1986-09-20", "2000-05-29 – 2001-07-03", "2015-08-19 – 2016-08-05"]
    colours = [r.symbol().color().name() for r in dated]
    assert len(set(colours)) == 3
    for rule in rules:
        casing, line = rule.symbol().symbolLayers()
        assert line.width() == styles.FRONT_WIDTH_MM == 0.8 and casing.isLocked() and not line.isLocked()
    assert [r.label() for r in rules if r.isElse()] == ["other or no date"]
    # every feature is drawn by exactly one rule; the front without a date by the ELSE rule
    for feature, text in zip(layer.getFeatures(), dates):
        drawn = _rule_for(renderer, feature, layer)
        assert len(drawn) == 1, (text, drawn)
        assert (drawn == ["other or no date"]) == (text is None)
    # fronts appended later, before or after the series, still fall in the end classes
    later = _fronts_layer(["1970-01-01", "2030-01-01"])
    assert [_rule_for(renderer, f, later) for f in later.getFeatures()] == [[dated[0].label()], [dated[-1].label()]]


def test_fronts_of_one_date_and_without_dates(styles):
    one = _fronts_layer(["2000-05-29", "2000-05-29"])
    styles.apply(one, "fronts")
    assert [r.label() for r in one.renderer().rootRule().children()] == ["2000-05-29", "other or no date"]
    none = _fronts_layer([None])
    styles.apply(none, "fronts")
    assert [r.label() for r in none.renderer().rootRule().children()] == ["other or no date"]


def test_ice_ocean_water_and_raster_kinds(styles, tmp_path):
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    ice = QgsVectorLayer(f"Polygon?crs={CRS}&field=class:string", "ice", "memory")
    assert styles.apply(ice, "ice_ocean")
    categories = {c.value(): c.symbol().color().name() for c in ice.renderer().categories()}
    assert ice.renderer().classAttribute() == "class"
    assert categories == {"ice_land": "#bfe9ff", "ocean": "#0b3d91"} and ice.opacity() == 0.5
    assert not styles.apply(ice, "water_mask")  # a raster kind on a vector layer: left alone

    mask = QgsRasterLayer(write_tif(tmp_path / "m.tif", np.array([[0, 1], [255, 1]], np.uint8), nodata=255), "m")
    assert styles.apply(mask, "water_mask")
    classes = {c.value: c.color for c in mask.renderer().classes()}
    assert classes[1].name() == styles.WATER_BLUE and classes[1].alpha() == 255 and classes[0].alpha() == 0

    prob = QgsRasterLayer(write_tif(tmp_path / "p.tif", np.array([[0, 0.5], [-1, 1]], np.float32), nodata=-1), "p")
    assert styles.apply(prob, "water_probability")
    items = prob.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert (items[0].value, items[-1].value) == (0.0, 1.0) and items[0].color.alpha() == 0
    assert items[-1].color.blue() > items[-1].color.red()

    hand = QgsRasterLayer(write_tif(tmp_path / "h.tif", np.array([[0, 5], [40, 12]], np.float32)), "h")
    assert styles.apply(hand, "hand")
    items = hand.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert (items[0].value, items[-1].value, items[-1].label) == (0.0, 30.0, "30 m")

    stack = QgsRasterLayer(write_tif(tmp_path / "s.tif", np.arange(400, dtype=np.float32).reshape(20, 20)), "s")
    assert styles.apply(stack, "stack")
    enhancement = stack.renderer().contrastEnhancement()
    assert 0 <= enhancement.minimumValue() < enhancement.maximumValue() <= 399


def test_every_kind_through_the_post_processor(postprocess, styles, tmp_path):
    """What QGIS calls when it loads an output: every kind on a layer of its type, in a project."""
    from qgis.core import (QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsRasterLayer,
                           QgsVectorLayer)

    band = np.array([[0, 1], [1, 0]], np.uint8)
    layers = {
        "fronts": _fronts_layer(["2000-05-29"]),
        "terminus_points": QgsVectorLayer(f"Point?crs={CRS}&field=date:date", "p", "memory"),
        "ice_ocean": QgsVectorLayer(f"Polygon?crs={CRS}&field=class:string&field=date:date", "i", "memory"),
        "water_polygons": QgsVectorLayer(f"Polygon?crs={CRS}&field=area_m2:double", "w", "memory"),
    }
    for kind in ("water_mask", "class_mask", "fjord_mask", "water_probability", "front_probability",
                 "probability", "hand", "stack"):
        data = band if kind.endswith("mask") else np.stack([band, band]).astype(np.float32) / 2
        layers[kind] = QgsRasterLayer(write_tif(tmp_path / f"{kind}.tif", data), kind)
    assert set(layers) == set(styles.BUILDERS) == set(styles.DRAW_RANK)
    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    for kind, layer in layers.items():
        project.addMapLayer(layer)
        postprocess.StyleOutput(kind, kind).postProcessLayer(layer, context, QgsProcessingFeedback())
        assert layer.customProperty(postprocess.KIND_PROPERTY) == kind
        expected = styles.BUILDERS[kind](layer)
        assert type(layer.renderer()).__name__ == type(expected).__name__, kind
        if kind in styles.DATED_KINDS:
            assert layer.temporalProperties().isActive(), kind
    probability = layers["probability"].renderer().shader().rasterShaderFunction().colorRampItemList()
    assert probability[-1].color.name() != layers["water_probability"].renderer().shader() \
        .rasterShaderFunction().colorRampItemList()[-1].color.name()  # a band not named water: not Blues
    named = QgsRasterLayer(write_tif(tmp_path / "named.tif", band.astype(np.float32), descriptions=["water"]), "n")
    chosen, water = styles.probability_renderer(named), styles.water_probability_renderer(named)  # kept: a
    # renderer collected while its shader is in use crashes
    assert chosen.shader().rasterShaderFunction().colorRampItemList()[-1].color \
        == water.shader().rasterShaderFunction().colorRampItemList()[-1].color


# ------------------------------------------------------------------ default styles inside GeoPackages


def test_default_style_saved_refreshed_and_user_style_kept(postprocess, tmp_path):
    from qgis.core import QgsVectorLayer

    path = _write_gpkg(_fronts_layer(["2000-05-29", "2016-08-05"]), tmp_path / "fronts.gpkg", "fronts")
    assert postprocess.save_default_style(path, "fronts")
    # Again (new dates appended): QGIS 3.22 hangs saving under a name the table has; this must not.
    assert postprocess.save_default_style(f"{path}|layername=fronts", "fronts")
    assert _styles_in(path) == [("fronts", "waterline", 1)]
    opened = QgsVectorLayer(path, "again", "ogr")
    assert type(opened.renderer()).__name__ == "QgsRuleBasedRenderer"
    assert [r.label() for r in opened.renderer().rootRule().children()][:2] == ["2000-05-29", "2016-08-05"]
    # A default style the user saved is never replaced.
    opened.saveStyleToDatabase("mine", "", True, "")
    assert not postprocess.save_default_style(path, "fronts")
    assert postprocess.default_style_name(path, "fronts") == "mine"
    # Not a GeoPackage: nothing to do.
    assert not postprocess.save_default_style("memory:x", "fronts")
    assert not postprocess.save_default_style(str(tmp_path / "missing.gpkg"), "fronts")


def test_run_layers_ordered_by_kind(postprocess, qgis_app):
    """The outputs of one run: fronts above the ice/ocean polygons, whichever QGIS loaded first."""
    from qgis.core import QgsProject, QgsVectorLayer

    project = QgsProject()
    other = QgsVectorLayer(f"Point?crs={CRS}", "someone else's", "memory")
    ice = QgsVectorLayer(f"Polygon?crs={CRS}&field=class:string", "Ice and ocean", "memory")
    fronts = _fronts_layer(["2000-05-29"], "Calving fronts")
    root = project.layerTreeRoot()
    for layer in (ice, fronts, other):  # top to bottom: as if the ice layer had been loaded last
        project.addMapLayer(layer, False)
        root.addLayer(layer)
    for layer, kind in ((ice, "ice_ocean"), (fronts, "fronts")):
        layer.setCustomProperty(postprocess.KIND_PROPERTY, kind)
        layer.setCustomProperty(postprocess.OUTPUT_PROPERTY, layer.name())
    postprocess.order_run_layers(ice, {"Calving fronts", "Ice and ocean"})
    assert [layer.name() for layer in root.layerOrder()] == ["Calving fronts", "Ice and ocean", "someone else's"]
    assert set(project.mapLayers()) == {other.id(), ice.id(), fronts.id()}  # no layer left the project
    # Layers of another run stay where they are.
    postprocess.order_run_layers(other, {"another run"})
    assert [layer.name() for layer in root.layerOrder()] == ["Calving fronts", "Ice and ocean", "someone else's"]


# ------------------------------------------------------------------ through processing.run and qgis_process


def test_consolidated_fronts_and_terminus_points_carry_their_style(run_alg, tmp_path):
    """Glacier change outputs in GeoPackages: the fronts style, the date colours for the points."""
    from qgis.PyQt.QtCore import QDate
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    fronts = QgsVectorLayer(f"LineString?crs={CRS}&field=scene_id:string&field=date:date&field=quality:string",
                            "fronts", "memory")
    features = []
    for i, date in enumerate(["2000-05-29", "2001-07-03", "2016-08-05"]):
        feature = QgsFeature(fronts.fields())
        feature.setAttributes([f"LE07_L1TP_230012_{date.replace('-', '')}_x", QDate.fromString(date, "yyyy-MM-dd"),
                               "good"])
        feature.setGeometry(QgsGeometry.fromWkt(f"LineString(0 {5000 - 300 * i}, 4000 {5000 - 300 * i})"))
        features.append(feature)
    fronts.dataProvider().addFeatures(features)
    source = _write_gpkg(fronts, tmp_path / "collected.gpkg", "calving_fronts")
    res = run_alg("consolidate_fronts", {"INPUT": [source], "OUTPUT": str(tmp_path / "series.gpkg")})
    assert _styles_in(res["OUTPUT"]) == [("series", "waterline", 1)]
    centreline = QgsVectorLayer(f"LineString?crs={CRS}", "centreline", "memory")
    line = QgsFeature()
    line.setGeometry(QgsGeometry.fromWkt("LineString(2000 0, 2000 9000)"))
    centreline.dataProvider().addFeatures([line])
    res = run_alg("terminus_change", {
        "FRONTS": res["OUTPUT"], "CENTRELINE": _write_gpkg(centreline, tmp_path / "cl.gpkg", "cl"),
        "OUTPUT": str(tmp_path / "change.gpkg"), "OUTPUT_POINTS": str(tmp_path / "points.gpkg"),
        "OUTPUT_PNG": None, "OUTPUT_SVG": None})
    assert _styles_in(str(tmp_path / "points.gpkg")) == [("points", "waterline", 1)]
    points = QgsVectorLayer(str(tmp_path / "points.gpkg"), "p", "ogr")
    labels = [r.label() for r in points.renderer().rootRule().children()]
    assert labels == ["2000-05-29 – 2001-07-03", "2016-08-05", "other or no date"]
    assert type(points.renderer().rootRule().children()[0].symbol()).__name__ == "QgsMarkerSymbol"
    with sqlite3.connect(tmp_path / "change.gpkg") as db:  # a table without geometry: no style
        assert not db.execute("SELECT name FROM sqlite_master WHERE name='layer_styles'").fetchall()


def _scene(tmp_path, name):
    from skimage import io

    image = io.imread(shared_path("fronts-landsat", "images", name + "_Subset.png"))[..., 0]
    return write_tif(tmp_path / f"{name}_Subset.tif", image, **GRID)


@pytest.fixture(scope="module")
def weights():
    path = ROOT / "weights" / "calving_front.onnx"
    assert path.exists(), "the shipped model weights/calving_front.onnx is missing"
    return str(path)


@pytest.mark.weights
def test_fronts_geopackages_carry_their_style(run_alg, weights, tmp_path):
    from qgis.core import QgsVectorLayer

    scenes = [_scene(tmp_path, n) for n in HELD_OUT]
    res = run_alg("detect_calving_fronts", {"INPUT": scenes, "OUTPUT": str(tmp_path / "fronts.gpkg"),
                                            "OUTPUT_ICE": str(tmp_path / "ice.gpkg"),
                                            "APPEND_GPKG": str(tmp_path / "glacier.gpkg")})
    assert _styles_in(res["OUTPUT"]) == [("fronts", "waterline", 1)]
    assert _styles_in(res["OUTPUT_ICE"]) == [("ice", "waterline", 1)]
    assert _styles_in(str(tmp_path / "glacier.gpkg")) == [("calving_fronts", "waterline", 1)]
    fronts = QgsVectorLayer(res["OUTPUT"], "f", "ogr")
    labels = [r.label() for r in fronts.renderer().rootRule().children()]
    assert labels == ["1986-09-20", "2000-05-29", "other or no date"]
    assert QgsVectorLayer(res["OUTPUT_ICE"], "i", "ogr").renderer().classAttribute() == "class"


@pytest.mark.weights
def test_failed_run_leaves_no_geopackage(run_alg, weights, tmp_path):
    """The second scene has no valid pixel: the run fails after the first scene's fronts were written."""
    from qgis.core import QgsProcessingException

    good = _scene(tmp_path, HELD_OUT[0])
    empty = write_tif(tmp_path / "LE07_L1TP_230012_20010601_20170205_01_T1_B8_Subset.tif",
                      np.zeros((300, 200), np.uint8), nodata=0, **GRID)
    out = tmp_path / "out"
    with pytest.raises(QgsProcessingException):
        run_alg("detect_calving_fronts", {"INPUT": [good, empty], "OUTPUT": str(out / "fronts.gpkg"),
                                          "OUTPUT_ICE": str(out / "ice.gpkg")})
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@pytest.mark.weights
def test_qgis_process_saves_the_style_headless(qgis_process, weights, tmp_path):
    scene = _scene(tmp_path, HELD_OUT[0])
    qgis_process("detect_calving_fronts", {"INPUT": scene, "OUTPUT": str(tmp_path / "fronts.gpkg"),
                                           "OUTPUT_ICE": str(tmp_path / "ice_ocean.gpkg")})
    assert _styles_in(str(tmp_path / "fronts.gpkg")) == [("fronts", "waterline", 1)]
    assert _styles_in(str(tmp_path / "ice_ocean.gpkg")) == [("ice_ocean", "waterline", 1)]
    assert Path(tmp_path / "fronts.gpkg").stat().st_size > 0
