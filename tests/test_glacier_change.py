"""Glacier change over time: consolidate fronts, terminus change (centreline and box), outliers, plots,
temporal post-processing, the glacier-change model; engine, processing.run and the real qgis_process."""

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import fiona
import numpy as np
import pytest
from shapely import affinity
from shapely.geometry import LineString, box as shapely_box, mapping

from conftest import ROOT, shared_path
from plugin.engine.fronts import change, plot

CRS = "EPSG:3413"
FRONT_SCHEMA = {"geometry": "LineString", "properties": {
    "scene_id": "str", "date": "date", "sensor": "str", "front_no": "int", "length_m": "float",
    "confidence": "float", "quality": "str", "spans_fjord": "str", "model": "str", "source": "str"}}
MODEL = ROOT / "processing_provider" / "models" / "glacier_change.model3"


def record(scene, day, geometry=None, sensor="Landsat 7 ETM+", quality="good", confidence=0.8, length=3000.0):
    return change.FrontRecord(scene_id=scene, date=day, geometry=geometry or LineString([(0, 0), (1, 0)]),
                              sensor=sensor, quality=quality, confidence=confidence, length_m=length)


def write_fronts(path, fronts, crs=CRS, layer=None):
    """Fronts (dicts with geometry and the Detect calving fronts fields) as a GeoPackage layer."""
    with fiona.open(path, "w", driver="GPKG", crs=crs, schema=FRONT_SCHEMA, layer=layer) as dst:
        for f in fronts:
            props = {k: f.get(k) for k in FRONT_SCHEMA["properties"]}
            props["date"] = f["date"].isoformat() if f.get("date") else None
            dst.write({"geometry": mapping(f["geometry"]), "properties": props})
    return str(path)


def write_lines(path, geometries, crs=CRS, geom_type="LineString"):
    schema = {"geometry": geom_type, "properties": {"name": "str"}}
    with fiona.open(path, "w", driver="GPKG", crs=crs, schema=schema) as dst:
        for g in geometries:
            dst.write({"geometry": mapping(g), "properties": {"name": "ref"}})
    return str(path)


def front_dict(scene, day, geometry, **kw):
    base = {"scene_id": scene, "date": day, "sensor": "Landsat 7 ETM+", "front_no": 1,
            "length_m": geometry.length, "confidence": 0.8, "quality": "good", "spans_fjord": None,
            "model": "test", "source": scene + ".tif"}
    base.update(kw)
    base["geometry"] = geometry
    return base


def features(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "x", "ogr")
    assert layer.isValid(), path
    return list(layer.getFeatures()), layer


def iso(value):
    """A date attribute as 'YYYY-MM-DD' (a QDate from a GeoPackage, 'YYYY/MM/DD' text from OGR's CSV)."""
    return value.toString("yyyy-MM-dd") if hasattr(value, "toString") else str(value)[:10].replace("/", "-")


def wiggly_front(y, half_width=1500.0, amplitude=120.0):
    """A front across a fjord along x at mean position ``y``, wiggly like a real one."""
    x = np.linspace(-half_width, half_width, 61)
    return LineString(np.column_stack([x, y + amplitude * np.sin(x / 230.0) + 40 * np.cos(x / 97.0)]))


# ================================================================ engine: centreline


def test_front_moved_along_a_centreline_gives_that_distance():
    """A front moved a known distance up a bent centreline: both positions change by that distance."""
    # seaward end at (0, -2000), north to (0, 6000), then bending north-east
    centreline = change.Centreline(LineString([(0, -2000), (0, 6000), (4000, 9000)]))
    assert centreline.length == pytest.approx(8000 + 5000)
    d = 734.2
    a, b = wiggly_front(2000.0), affinity.translate(wiggly_front(2000.0), 0, d)  # b: retreated by d
    ma, mb = centreline.measure(a), centreline.measure(b)
    assert mb["cross_m"] - ma["cross_m"] == pytest.approx(-d, abs=1.0)
    assert mb["mean_m"] - ma["mean_m"] == pytest.approx(-d, abs=1.0)
    assert ma["crossings"] == 1
    # the crossing itself: the wiggly line crosses x = 0 at y = 2000 + 40 (cos(0) = 1)
    assert ma["cross_m"] == pytest.approx(centreline.length - (4000 + 40), abs=0.01)
    # a straight front across the bent part, 1000 m and then 2500 m up it: 1500 m of retreat
    u = np.array([4000, 3000]) / 5000.0
    n = np.array([-u[1], u[0]])
    fronts = []
    for s in (1000.0, 2500.0):
        c = np.array([0, 6000]) + s * u
        fronts.append(LineString([c - 800 * n, c + 800 * n]))
    m1, m2 = (centreline.measure(f) for f in fronts)
    assert m1["cross_m"] == pytest.approx(5000 - 1000, abs=1e-6)
    assert m2["cross_m"] - m1["cross_m"] == pytest.approx(-1500, abs=1.0)
    assert m2["mean_m"] - m1["mean_m"] == pytest.approx(-1500, abs=1.0)
    # drawn the other way round (from the glacier down to the sea) and flipped: the same positions
    flipped = change.Centreline(LineString([(4000, 9000), (0, 6000), (0, -2000)]), seaward_first=False)
    assert flipped.measure(a)["cross_m"] == pytest.approx(ma["cross_m"], abs=1e-6)


def test_front_that_misses_the_centreline_has_only_a_mean_position():
    centreline = change.Centreline(LineString([(0, 0), (0, 5000)]))
    m = centreline.measure(LineString([(300, 2000), (1500, 2100)]))  # beside the line
    assert m["cross_m"] is None and m["crossings"] == 0
    assert m["mean_m"] == pytest.approx(5000 - 2050, abs=1.0)
    with pytest.raises(ValueError, match="crosses none"):
        change.terminus_series([record("a", date(2000, 1, 1), LineString([(300, 2000), (1500, 2100)]))],
                               centreline)


# ================================================================ engine: box method


def _box_front(box_model, points_local):
    """A front given in the box frame (x down-glacier from the up-glacier edge, y across) in map coordinates."""
    return LineString(box_model.to_map(np.array(points_local, np.float64)))


def test_box_method_gives_the_known_area_and_width_averaged_change():
    """A 2000 m x 6000 m box, rotated 25 degrees, up-glacier end facing north (Moon & Joughin 2008)."""
    rect = affinity.rotate(shapely_box(-1000, -3000, 1000, 3000), 25, origin=(0, 0))
    rect = affinity.translate(rect, -170000, -2250000)
    b = change.Box(rect, change.up_glacier_vector("north"))
    assert b.width == pytest.approx(2000) and b.length == pytest.approx(6000)
    # the up-glacier edge of the box is its northern short side
    upper = b.to_map(np.array([[0.0, 0.0], [0.0, 2000.0]]))
    assert upper[:, 1].mean() > rect.centroid.y + 2000
    straight = _box_front(b, [(2500, -300), (2500, 2300)])  # reaches beyond both walls
    vee = _box_front(b, [(3000, 0), (1500, 1000), (3000, 2000)])  # area 3000*2000 - 1500*1000
    short = _box_front(b, [(2000, 500), (2000, 1500)])  # continued straight across to the walls
    assert b.measure(straight) == pytest.approx({"area_m2": 5.0e6, "pos_m": 2500.0})
    assert b.measure(vee) == pytest.approx({"area_m2": 4.5e6, "pos_m": 2250.0})
    assert b.measure(short) == pytest.approx({"area_m2": 4.0e6, "pos_m": 2000.0})
    assert b.measure(_box_front(b, [(7000, 0), (7000, 2000)])) is None  # beyond the box
    days = [date(2001, 6, 1), date(2001, 7, 1), date(2001, 8, 15)]
    rows, info = change.terminus_series(
        [record(f"s{i}", d, g) for i, (d, g) in enumerate(zip(days, (straight, vee, short)))], box=b)
    assert info["series"] == change.SERIES_BOX
    assert [r["box_area_m2"] for r in rows] == pytest.approx([5.0e6, 4.5e6, 4.0e6])
    assert rows[0]["box_darea_m2"] is None
    assert [r["box_darea_m2"] for r in rows[1:]] == pytest.approx([-0.5e6, -0.5e6])
    assert [r["box_dpos_m"] for r in rows[1:]] == pytest.approx([-250.0, -250.0])  # area change / width
    assert [r["box_change_m"] for r in rows] == pytest.approx([0.0, -250.0, -500.0])
    assert rows[1]["box_rate_m_yr"] == pytest.approx(-250.0 / (30 / 365.25))
    # the point of each date sits on the box midline at the mean position
    x, y = rows[1]["xy"]
    assert tuple(b.to_local([(x, y)])[0]) == pytest.approx((2250.0, 1000.0))


def test_box_orientation_from_the_centreline():
    """The box's up-glacier end follows the centreline; a box wider than long still finds its flow axis."""
    centreline = change.Centreline(LineString([(0, 0), (10000, 0)]))  # flows west: the sea is at x = 0
    wide = shapely_box(3000, -2500, 4000, 2500)  # 1000 m along the flow, 5000 m across
    b = change.Box(wide, change.up_glacier_vector("centreline", centreline, wide))
    assert (b.length, b.width) == pytest.approx((1000, 5000))
    m = b.measure(LineString([(3300, -3000), (3300, 3000)]))  # 700 m from the up-glacier edge (x = 4000)
    assert m["pos_m"] == pytest.approx(700.0)
    with pytest.raises(ValueError, match="no centreline"):
        change.up_glacier_vector("centreline", None, wide)


# ================================================================ engine: outliers and series


def test_an_injected_outlier_is_flagged_and_a_real_step_is_not():
    rng = np.random.default_rng(3)
    days = np.arange(14) * 16.0
    steady = -2.0 * days + rng.normal(0, 20, len(days))  # 2 m/day retreat, 20 m noise
    spiked = steady.copy()
    spiked[6] += 1500.0  # one bad front, 1.5 km too far seaward
    flags, notes = change.flag_outliers(days, spiked, max_rate=50.0, uncertainty=100.0)
    assert [i for i, f in enumerate(flags) if f] == [6]
    assert notes[6].startswith("+14") and "16 d earlier" in notes[6] and "16 d later" in notes[6]
    pair = steady.copy()
    pair[6:8] += 2500.0  # two bad fronts in a row
    assert [i for i, f in enumerate(change.flag_outliers(days, pair, 50.0, 100.0)[0]) if f] == [6, 7]
    stepped = steady.copy()
    stepped[6:] -= 1500.0  # a calving event: the front stays back
    assert not any(change.flag_outliers(days, stepped, max_rate=50.0, uncertainty=100.0)[0])
    spiked[0] -= 3000.0  # a bad first front too: one side only, still found
    assert [i for i, f in enumerate(change.flag_outliers(days, spiked, 50.0, 100.0)[0]) if f] == [0, 6]
    # through the series: fronts across a straight centreline
    centreline = change.Centreline(LineString([(0, -5000), (0, 10000)]))
    t0 = date(2015, 1, 1)
    fronts = [record(f"s{i}", t0 + timedelta(days=int(d)), LineString([(-900, -p), (900, -p)]))
              for i, (d, p) in enumerate(zip(days, spiked))]
    rows, info = change.terminus_series(fronts, centreline, max_rate=50.0, uncertainty=100.0)
    assert [r["outlier"] for r in rows] == [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert [r["change_m"] for r in rows] == pytest.approx(list(spiked - spiked[0]), abs=1e-6)
    assert rows[3]["rate_m_yr"] == pytest.approx((spiked[3] - spiked[2]) / (16 / 365.25), abs=1e-6)
    assert info["outliers"] == 2
    assert info["trend_m_yr"] == pytest.approx(-2.0 * 365.25, rel=0.1)  # outliers left out of the trend


# ================================================================ engine: plot


def svg_markers(svg_path):
    """Markers per SVG group id (the plot gives every sensor's points and the outlier rings an id)."""
    tree = ET.parse(svg_path)
    counts = {}
    for group in tree.iter("{http://www.w3.org/2000/svg}g"):
        gid = group.get("id", "")
        if gid.startswith("terminus-") or gid == "outliers":
            counts[gid] = len(list(group.iter("{http://www.w3.org/2000/svg}use")))
    return counts


def test_plot_is_a_real_image_with_one_marker_per_date(tmp_path):
    from matplotlib import image

    days = [date(2000, 3, 21) + timedelta(days=40 * i) for i in range(9)]
    values = [0, -40, -90, 900, -160, -200, -180, -260, -300]
    sensors = ["Landsat 7 ETM+"] * 5 + ["Landsat 8 OLI"] * 4
    outliers = [v == 900 for v in values]
    png, svg = tmp_path / "t.png", tmp_path / "t.svg"
    size = plot.plot_terminus(days, values, sensors, outliers, png_path=str(png), svg_path=str(svg),
                              title="Jakobshavn Isbrae")
    assert size == (1200, 675)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(str(png))
    assert pixels.shape[:2] == (675, 1200)
    assert pixels[..., :3].std() > 0.05  # not blank
    # the outlier ring is red and drawn
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.2) & (pixels[..., 2] < 0.2)
    assert red.sum() > 20
    markers = svg_markers(svg)
    assert markers == {"terminus-0": 5, "terminus-1": 4, "outliers": 1}
    assert sum(v for k, v in markers.items() if k.startswith("terminus-")) == len(days)
    text = svg.read_text()
    assert "Jakobshavn Isbrae" in text and "Landsat 8 OLI (4)" in text
    with pytest.raises(ValueError, match="no terminus position"):
        plot.plot_terminus(days[:1], [None], ["x"], png_path=str(tmp_path / "none.png"))


# ================================================================ engine: consolidation


def test_consolidation_drops_a_duplicate_scene_and_keeps_the_best_front():
    d1, d2, d3, d4 = date(2000, 3, 21), date(2000, 5, 24), date(2000, 6, 25), date(2000, 9, 13)
    fronts = [
        record("LE07_A_B2_Subset", d1, confidence=0.8),
        record("LE07_A_B2", d1, confidence=0.8),  # the same scene from another run / GeoPackage
        record("LE07_B", d2, quality="low_confidence", confidence=0.9, length=9000),
        record("LE07_B", d2, quality="good", confidence=0.6, length=2000),  # second front of B: the best
        record("LE07_C", d3, quality="partial", confidence=0.95),
        record("LE07_D", d3, quality="good", confidence=0.55),  # same date and sensor: quality first
        record("LE07_E", d3, quality="good", confidence=0.60, length=5000),
        record("S2_F", d3, sensor="Sentinel-2A MSI", confidence=0.7),  # another sensor that day
        record("LE07_G", d4, quality="short"),
        record("LE07_H", None),
        record("LE07_I", date(2003, 1, 1)),
    ]
    result = change.consolidate(fronts)
    kept = [(f.scene_id, f.date, f.quality, f.confidence) for f in result.fronts]
    assert kept == [("LE07_A_B2_Subset", d1, "good", 0.8), ("LE07_B", d2, "good", 0.6),
                    ("LE07_E", d3, "good", 0.60), ("S2_F", d3, "good", 0.7), ("LE07_G", d4, "short", 0.8),
                    ("LE07_I", date(2003, 1, 1), "good", 0.8)]
    assert (result.same_scene, result.same_date, result.undated) == (2, 2, 1)
    # filters: dates, quality, one per date
    result = change.consolidate(fronts, start=d2, end=d4, qualities={"good", "partial"}, per=change.PER_DATE)
    assert [f.scene_id for f in result.fronts] == ["LE07_B", "S2_F"]
    assert (result.outside_dates, result.wrong_quality, result.same_date) == (3, 2, 3)
    with pytest.raises(ValueError, match="after the end date"):
        change.consolidate(fronts, start=d4, end=d1)


def test_dates_from_fields_and_scene_ids():
    assert change.as_date("2000-03-21") == date(2000, 3, 21)
    assert change.as_date("20000321") == date(2000, 3, 21)
    assert change.as_date(None, "LE07_L1TP_010011_20000524_20170211_01_T1_B2") == date(2000, 5, 24)
    assert change.as_date("", "no date here") is None


# ================================================================ algorithms (processing.run)


def _synthetic_series(tmp_path, retreat=(0.0, 400.0, 650.0, 2650.0, 900.0), crs=CRS):
    """Fronts retreating up a north-flowing glacier (sea to the south) on an EPSG:3413-like grid."""
    x0, y0 = -180000.0, -2260000.0
    t0 = date(2010, 5, 1)
    fronts = []
    for i, r in enumerate(retreat):
        line = affinity.translate(wiggly_front(0.0, 1200.0), x0, y0 + r)
        fronts.append(front_dict(f"LC08_L1TP_009011_{(t0 + timedelta(days=20 * i)):%Y%m%d}_x_01_T1", t0 +
                                 timedelta(days=20 * i), line, sensor="Landsat 8 OLI"))
    path = write_fronts(tmp_path / "series.gpkg", fronts, crs)
    centreline = write_lines(tmp_path / "centreline.gpkg", [LineString([(x0, y0 - 3000), (x0, y0 + 6000)])])
    rect = shapely_box(x0 - 1000, y0 - 2000, x0 + 1000, y0 + 5000)
    box = write_lines(tmp_path / "box.gpkg", [rect], geom_type="Polygon")
    return path, centreline, box, (x0, y0), t0


def test_consolidate_fronts_algorithm(run_alg, tmp_path):
    t = date(2000, 3, 21)
    base = LineString([(-170000, -2250000), (-168000, -2249500)])
    first = write_fronts(tmp_path / "run1.gpkg", [
        front_dict("LE07_L1TP_010011_20000321_20170212_01_T1_B2", t, base),
        front_dict("LE07_L1TP_010011_20000524_20170211_01_T1_B2", date(2000, 5, 24),
                   affinity.translate(base, 0, 300), quality="low_confidence", confidence=0.4),
    ])
    # the second GeoPackage, in UTM 22N, holds the first scene again and a better front of the second
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject

    transform = QgsCoordinateTransform(QgsCoordinateReferenceSystem(CRS), QgsCoordinateReferenceSystem("EPSG:32622"),
                                       QgsProject.instance())

    def utm(line):
        return LineString([tuple(transform.transform(QgsPointXY(x, y))) for x, y in line.coords])
    second = write_fronts(tmp_path / "run2.gpkg", [
        front_dict("LE07_L1TP_010011_20000321_20170212_01_T1_B2_Subset", t, utm(base)),
        front_dict("LE07_L1TP_010011_20000524_20170211_01_T1_B2", None,
                   utm(affinity.translate(base, 0, 250)), quality="good", confidence=0.7),
        front_dict("LE07_L1TP_010011_20030601_20170211_01_T1_B2", date(2003, 6, 1), utm(base)),
    ], crs="EPSG:32622")
    res = run_alg("consolidate_fronts", {"INPUT": [first, second], "QUALITY": ["good", "partial"],
                                         "END_DATE": "2002-12-31", "OUTPUT": str(tmp_path / "series.gpkg")})
    feats, layer = features(res["OUTPUT"])
    assert layer.crs().authid() == CRS  # the first layer's CRS
    assert [f["scene_id"] for f in feats] == ["LE07_L1TP_010011_20000321_20170212_01_T1_B2",
                                              "LE07_L1TP_010011_20000524_20170211_01_T1_B2"]
    assert [f["date"].toString("yyyy-MM-dd") for f in feats] == ["2000-03-21", "2000-05-24"]  # 2nd from its id
    assert [f["quality"] for f in feats] == ["good", "good"] and feats[1]["confidence"] == pytest.approx(0.7)
    assert feats[1].geometry().vertexAt(0).y() == pytest.approx(-2250000 + 250, abs=0.01)  # reprojected back
    assert layer.fields().names() == list(FRONT_SCHEMA["properties"]) or \
        layer.fields().names()[1:] == list(FRONT_SCHEMA["properties"])  # a GeoPackage adds fid
    assert (res["FRONTS"], res["DROPPED"]) == (2, 3)
    # options by number, as qgis_process help lists them: QUALITY 0 = good, PER 1 = one front per date
    res = run_alg("consolidate_fronts", {"INPUT": [first, second], "QUALITY": ["0"], "PER": "1",
                                         "START_DATE": "2000-04-01", "OUTPUT": str(tmp_path / "later.gpkg")})
    feats, _ = features(res["OUTPUT"])
    assert [iso(f["date"]) for f in feats] == ["2000-05-24", "2003-06-01"]


def test_consolidate_refuses_what_is_not_a_fronts_layer(run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    other = write_lines(tmp_path / "lines.gpkg", [LineString([(0, 0), (1, 1)])])
    with pytest.raises(QgsProcessingException, match="no scene_id field"):
        run_alg("consolidate_fronts", {"INPUT": [other], "OUTPUT": str(tmp_path / "o.gpkg")})
    fronts = write_fronts(tmp_path / "f.gpkg", [front_dict("a", date(2000, 1, 1), LineString([(0, 0), (1, 1)]),
                                                           quality="short")])
    with pytest.raises(QgsProcessingException, match="No front is left"):
        run_alg("consolidate_fronts", {"INPUT": [fronts], "OUTPUT": str(tmp_path / "o.gpkg")})
    assert not (tmp_path / "o.gpkg").exists()


def test_terminus_change_algorithm(run_alg, tmp_path):
    from matplotlib import image

    fronts, centreline, box, (x0, y0), t0 = _synthetic_series(tmp_path)
    res = run_alg("terminus_change", {
        "FRONTS": fronts, "CENTRELINE": centreline, "BOX": box, "MAX_RATE": 50.0, "UNCERTAINTY": 100.0,
        "OUTPUT": str(tmp_path / "change.csv"), "OUTPUT_POINTS": str(tmp_path / "points.gpkg"),
        "OUTPUT_PNG": str(tmp_path / "plot.png"), "OUTPUT_SVG": str(tmp_path / "plot.svg")})
    rows, _ = features(res["OUTPUT"])
    assert len(rows) == 5 == res["DATES"]
    # crossing at x0: the wiggly front's y there is 40 m above its base line; 9000 m centreline
    expected = [9000 - (3000 + 40 + r) for r in (0, 400, 650, 2650, 900)]
    assert [float(r["cl_pos_m"]) for r in rows] == pytest.approx(expected, abs=1.0)
    assert [float(r["cl_change_m"]) for r in rows] == pytest.approx([0, -400, -650, -2650, -900], abs=1.0)
    # box: up-glacier end from the centreline (north); 2000 m wide; mean front position = area / width
    assert [float(r["box_change_m"]) for r in rows] == pytest.approx([0, -400, -650, -2650, -900], abs=1.0)
    assert float(rows[1]["box_darea_m2"]) == pytest.approx(-400 * 2000, abs=2000)
    assert float(rows[2]["cl_rate_m_yr"]) == pytest.approx(-250 / (20 / 365.25), abs=20)
    assert [int(r["outlier"]) for r in rows] == [0, 0, 0, 1, 0]
    assert res["OUTLIERS"] == 1
    assert res["TOTAL_CHANGE_M"] == pytest.approx(-900, abs=1.0)
    points, layer = features(res["OUTPUT_POINTS"])
    assert layer.crs().authid() == CRS and len(points) == 5
    p = points[1].geometry().asPoint()
    assert (p.x(), p.y()) == pytest.approx((x0, y0 + 400 + 40), abs=1.0)
    assert image.imread(res["OUTPUT_PNG"]).shape[:2] == (675, 1200)
    assert sum(svg_markers(res["OUTPUT_SVG"]).get(f"terminus-{i}", 0) for i in range(3)) == 5
    # the box alone (north is up-glacier), the mean position on the centreline
    res = run_alg("terminus_change", {"FRONTS": fronts, "BOX": box, "BOX_UPGLACIER": "north",
                                      "OUTPUT": str(tmp_path / "box.csv"), "OUTPUT_PNG": str(tmp_path / "b.png"),
                                      "OUTPUT_SVG": str(tmp_path / "b.svg")})
    assert res["TOTAL_CHANGE_M"] == pytest.approx(-900, abs=1.0)
    res = run_alg("terminus_change", {"FRONTS": fronts, "CENTRELINE": centreline, "SERIES": "centreline mean position",
                                      "OUTPUT": str(tmp_path / "mean.csv"), "OUTPUT_PNG": str(tmp_path / "m.png"),
                                      "OUTPUT_SVG": str(tmp_path / "m.svg")})
    rows, _ = features(res["OUTPUT"])
    assert [float(r["change_m"]) for r in rows] == pytest.approx([0, -400, -650, -2650, -900], abs=1.0)


def test_help_and_cancellation(waterline_provider, run_alg, tmp_path):
    """Help on every parameter, built by help_string; a cancelled run leaves no output behind."""
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    from waterline.processing_provider.common import help_string

    for name in ("consolidate_fronts", "terminus_change"):
        alg = waterline_provider.algorithm(name)
        assert all(p.help().strip() for p in alg.parameterDefinitions()), name
        assert help_string(alg, "") in alg.shortHelpString()
    fronts, centreline, _, _, _ = _synthetic_series(tmp_path)
    for name, params in (("consolidate_fronts", {"INPUT": [fronts], "OUTPUT": str(tmp_path / "c.gpkg")}),
                         ("terminus_change", {"FRONTS": fronts, "CENTRELINE": centreline,
                                              "OUTPUT": str(tmp_path / "t.gpkg"),
                                              "OUTPUT_PNG": str(tmp_path / "t.png")})):
        feedback = QgsProcessingFeedback()
        feedback.cancel()
        with pytest.raises(QgsProcessingException, match="[Cc]ancelled"):
            run_alg(name, params, feedback=feedback)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.gpkg", "centreline.gpkg", "series.gpkg"]


def test_terminus_change_refuses_bad_input(run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    fronts, centreline, box, (x0, y0), _ = _synthetic_series(tmp_path)
    out = {"OUTPUT": str(tmp_path / "t.csv"), "OUTPUT_PNG": str(tmp_path / "t.png"),
           "OUTPUT_SVG": str(tmp_path / "t.svg")}
    with pytest.raises(QgsProcessingException, match="centreline, a reference box, or both"):
        run_alg("terminus_change", {"FRONTS": fronts, **out})
    beside = write_lines(tmp_path / "beside.gpkg", [LineString([(x0 + 5000, y0 - 3000), (x0 + 5000, y0 + 6000)])])
    with pytest.raises(QgsProcessingException, match="crosses none of the 5 fronts"):
        run_alg("terminus_change", {"FRONTS": fronts, "CENTRELINE": beside, **out})
    with pytest.raises(QgsProcessingException, match="no centreline is given"):
        run_alg("terminus_change", {"FRONTS": fronts, "BOX": box, **out})
    far = write_lines(tmp_path / "far.gpkg", [shapely_box(x0 - 1000, y0 + 20000, x0 + 1000, y0 + 25000)],
                      geom_type="Polygon")
    with pytest.raises(QgsProcessingException, match="none of the 5 fronts passes through the reference box"):
        run_alg("terminus_change", {"FRONTS": fronts, "BOX": far, "BOX_UPGLACIER": "north", **out})
    degrees = write_fronts(tmp_path / "deg.gpkg", [front_dict("a", date(2000, 1, 1),
                                                              LineString([(-49.5, 69.1), (-49.4, 69.2)]))],
                           crs="EPSG:4326")
    with pytest.raises(QgsProcessingException, match="not metres"):
        run_alg("terminus_change", {"FRONTS": degrees, "CENTRELINE": centreline, **out})
    assert not any((tmp_path / n).exists() for n in ("t.csv", "t.png", "t.svg"))


def test_loaded_fronts_and_points_animate_by_date(waterline_provider, tmp_path):
    """The post-processor gives the loaded layers temporal properties from their date field."""
    import processing
    from qgis.core import QgsProject, QgsVectorLayerTemporalProperties

    from waterline.processing_provider import postprocess

    fronts, centreline, _, _, _ = _synthetic_series(tmp_path)
    project = QgsProject.instance()
    before = set(project.mapLayers())
    try:
        processing.runAndLoadResults("waterline:consolidate_fronts", {
            "INPUT": [fronts], "OUTPUT": str(tmp_path / "series_out.gpkg")})
        processing.runAndLoadResults("waterline:terminus_change", {
            "FRONTS": fronts, "CENTRELINE": centreline, "OUTPUT": str(tmp_path / "t.csv"),
            "OUTPUT_POINTS": str(tmp_path / "points.gpkg"), "OUTPUT_PNG": str(tmp_path / "t.png"),
            "OUTPUT_SVG": str(tmp_path / "t.svg")})
        loaded = [project.mapLayer(i) for i in set(project.mapLayers()) - before]
        temporal = {Path(layer.source().split("|")[0]).name: layer.temporalProperties() for layer in loaded
                    if layer.temporalProperties().isActive()}
        assert set(temporal) == {"series_out.gpkg", "points.gpkg"}
        for props in temporal.values():
            assert props.mode() == QgsVectorLayerTemporalProperties.ModeFeatureDateTimeInstantFromField
            assert props.startField() == "date"
        # and the time controller sees the series' range
        from qgis.core import QgsTemporalUtils

        extent = QgsTemporalUtils.calculateTemporalRangeForProject(project)
        assert extent.begin().date().toString("yyyy-MM-dd") == "2010-05-01"
        assert extent.end().date().toString("yyyy-MM-dd") == "2010-07-20"
    finally:
        project.removeMapLayers(list(set(project.mapLayers()) - before))
    # post-processors stay referenced from Python until QGIS has run them (the PyQGIS pitfall)
    assert postprocess._LIVE and all(isinstance(p, postprocess.StyleOutput) for p in postprocess._LIVE)


# ================================================================ the model


def test_glacier_change_model_chains_detect_consolidate_terminus(waterline_provider):
    from qgis.core import QgsProcessingModelAlgorithm

    assert MODEL.exists()
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL))
    children = model.childAlgorithms()
    assert sorted(c.algorithmId() for c in children.values()) == [
        "waterline:consolidate_fronts", "waterline:detect_calving_fronts", "waterline:terminus_change"]
    assert model.dependsOnChildAlgorithms("terminus") == {"consolidate", "detect"}
    registered = waterline_provider.algorithm("Glacier change from scenes")
    assert registered is not None and registered.group() == "Calving fronts"
    names = {p.name() for p in registered.parameterDefinitions()}
    assert {"scenes", "centreline", "box"} <= names
    ok, problems = model.validate() if hasattr(model, "validate") else (True, [])
    assert ok, problems


# ================================================================ real fronts through qgis_process

JAKOBSHAVN = "LE07_L1TP_010011"  # Jakobshavn Isbrae, Landsat path 10 row 11 (CALFIN subsets, one domain)
PIXEL = 49.0
ORIGIN = (-200000.0, -2200000.0)  # tests/rasters.py POLAR_TRANSFORM: the subsets' placement
CENTRE_COL = 95.0


def _jakobshavn_centreline():
    """Down column 95 of the subsets: from the fjord (row 10, the seaward end) to the glacier (row 290)."""
    x = ORIGIN[0] + CENTRE_COL * PIXEL
    return LineString([(x, ORIGIN[1] - 10 * PIXEL), (x, ORIGIN[1] - 290 * PIXEL)])


def _label_fronts(names):
    """The labelled 1-px fronts of real scenes, skeleton -> line (the engine's own tracing), in map units."""
    from skimage import io

    from plugin.engine.fronts.extraction import extract_fronts

    fronts = []
    for path in names:
        label = io.imread(path)[..., 0] == 0
        result = extract_fronts(label.astype(np.float32) * 0.9, max_fronts=1, min_length_px=20)
        assert result.fronts, path
        xy = result.fronts[0].xy
        line = LineString(np.column_stack([ORIGIN[0] + xy[:, 0] * PIXEL, ORIGIN[1] - xy[:, 1] * PIXEL]))
        scene = Path(path).name[: -len("_Front.png")]
        info_date = change.as_date(None, scene)
        rows = np.nonzero(label[:, int(CENTRE_COL)])[0]
        fronts.append((scene, info_date, line, rows))
    return fronts


def test_real_fronts_through_qgis_process(qgis_process, tmp_path):
    """Jakobshavn fronts of 9 dates (1998-2002): consolidate (with a duplicate run) -> terminus change."""
    labels = sorted(shared_path("fronts-landsat", "labels_1px").glob(f"*_{JAKOBSHAVN[-6:]}_*_Front.png"))
    assert len(labels) >= 6, labels
    fronts = _label_fronts(labels)
    rows_dicts = [front_dict(s, d, g, sensor="Landsat 7 ETM+" if s.startswith("LE07") else "Landsat 5 TM",
                             length_m=g.length, confidence=0.9)
                  for s, d, g, _ in fronts]
    run1 = write_fronts(tmp_path / "run1.gpkg", rows_dicts[: len(rows_dicts) // 2 + 1])
    # a later run: the rest, plus one scene again (worse), and a rejected front
    again = dict(rows_dicts[1], confidence=0.5, scene_id=rows_dicts[1]["scene_id"] + "_Subset")
    short = dict(rows_dicts[-1], quality="short", scene_id=rows_dicts[-1]["scene_id"] + "_b")
    run2 = write_fronts(tmp_path / "run2.gpkg", rows_dicts[len(rows_dicts) // 2 + 1:] + [again, short])
    series = qgis_process("consolidate_fronts", {"INPUT": [run1, run2], "QUALITY": ["good", "partial"],
                                                "OUTPUT": str(tmp_path / "series.gpkg")})["results"]
    assert series["FRONTS"] == len(fronts) and series["DROPPED"] == 2
    feats, _ = features(series["OUTPUT"])
    assert [f["scene_id"] for f in feats] == sorted((s for s, *_ in fronts), key=lambda s: s.split("_")[3])
    assert next(f for f in feats if f["scene_id"] == rows_dicts[1]["scene_id"])["confidence"] == pytest.approx(0.9)

    # The subsets have the glacier at the bottom (flow-striped ice) and the fjord's melange and icebergs at
    # the top, so the centreline runs from the sea (row 10) down the image, up the glacier (row 290).
    centreline = write_lines(tmp_path / "centreline.gpkg", [_jakobshavn_centreline()])
    rect = shapely_box(ORIGIN[0] + 70 * PIXEL, ORIGIN[1] - 160 * PIXEL, ORIGIN[0] + 115 * PIXEL,
                       ORIGIN[1] - 30 * PIXEL)
    box = write_lines(tmp_path / "box.gpkg", [rect], geom_type="Polygon")
    res = qgis_process("terminus_change", {
        "FRONTS": series["OUTPUT"], "CENTRELINE": centreline, "BOX": box, "TITLE": "Jakobshavn Isbrae",
        "MAX_RATE": 50, "OUTPUT": str(tmp_path / "jakobshavn.csv"),
        "OUTPUT_POINTS": str(tmp_path / "points.gpkg"),
        "OUTPUT_PNG": str(tmp_path / "jakobshavn.png"), "OUTPUT_SVG": str(tmp_path / "jakobshavn.svg")})["results"]
    rows, _ = features(res["OUTPUT"])
    dates = [iso(r["date"]) for r in rows]
    assert dates == sorted(d.isoformat() for _, d, _, _ in fronts) and len(set(dates)) == len(rows)
    assert res["DATES"] == len(fronts)
    for r in rows:
        for name in ("cl_pos_m", "cl_mean_m", "box_pos_m", "box_area_m2", "position_m", "change_m"):
            assert math.isfinite(float(r[name])), (name, r["date"])
    # the crossing is where the label crosses the centreline column (within a pixel)
    by_date = {d.isoformat(): label_rows for _, d, _, label_rows in fronts}
    length = (290 - 10) * PIXEL
    for r in rows:
        label_rows = by_date[iso(r["date"])]
        from_sea = length - float(r["cl_pos_m"])  # metres along the centreline from its seaward end
        expected = [(row + 0.5 - 10) * PIXEL for row in label_rows]
        assert min(abs(from_sea - e) for e in expected) < 1.5 * PIXEL, (r["date"], from_sea, expected)
    # Jakobshavn's seasonal cycle: the front retreats through the summer of 2000 (March -> September,
    # about 12 px at the centreline) and is furthest forward in early summer 2001 (before the break-up)
    change_m = {iso(r["date"]): float(r["cl_change_m"]) for r in rows}
    assert change_m["2000-09-13"] - change_m["2000-03-21"] == pytest.approx(-12 * PIXEL, abs=2 * PIXEL)
    assert max(change_m, key=change_m.get) == "2001-06-12"
    # both methods see the same change (Jakobshavn's fronts here are fairly straight): within 5 px
    for r in rows:
        assert abs(float(r["box_change_m"]) - float(r["cl_change_m"])) < 5 * PIXEL
    points, _ = features(res["OUTPUT_POINTS"])
    assert len(points) == len(rows)
    from matplotlib import image

    assert image.imread(res["OUTPUT_PNG"]).shape[:2] == (675, 1200)
    assert sum(v for k, v in svg_markers(res["OUTPUT_SVG"]).items() if k.startswith("terminus-")) == len(rows)


@pytest.mark.weights
def test_glacier_change_model_on_real_scenes(qgis_process, tmp_path):
    """The model end to end with the shipped weights: three Jakobshavn scenes -> fronts -> change."""
    from rasters import png_to_tif

    weights = ROOT / "weights" / "calving_front.onnx"
    assert weights.exists(), "the shipped model weights/calving_front.onnx is missing"
    images = sorted(shared_path("fronts-landsat", "images").glob(f"{JAKOBSHAVN}_*_Subset.png"))[:3]
    scenes = [png_to_tif(p, tmp_path / (p.stem + ".tif")) for p in images]
    centreline = write_lines(tmp_path / "centreline.gpkg", [_jakobshavn_centreline()])
    res = qgis_process(str(MODEL), {
        "scenes": scenes, "centreline": centreline,
        "terminus:Terminus change table": str(tmp_path / "change.csv"),
        "consolidate:Fronts series": str(tmp_path / "series.gpkg"),
        "terminus:Terminus plot (PNG)": str(tmp_path / "plot.png"),
        "terminus:Terminus plot (SVG)": str(tmp_path / "plot.svg"),
        "terminus:Terminus points": str(tmp_path / "points.gpkg"),
        "detect:Detected fronts": str(tmp_path / "fronts.gpkg")})
    rows, _ = features(tmp_path / "change.csv")
    assert 1 <= len(rows) <= 3
    assert all(math.isfinite(float(r["cl_mean_m"])) for r in rows)
    assert (tmp_path / "plot.png").exists() and (tmp_path / "plot.svg").exists()
    assert res["results"]
