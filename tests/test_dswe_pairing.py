"""SAR/DSWE pairing on generated DSWE INWAM rasters with dates in their names."""

import datetime as dt

import numpy as np
import pytest
from rasterio.transform import from_origin
from rasterio.warp import transform_geom

from plugin.engine.fetch import dswe as dswe_pairing
from rasters import write_tif, write_vector

CRS = "EPSG:32615"  # UTM 15N, 30 m pixels like DSWE ARD
X0, Y0, RES, SIZE = 400000.0, 3300000.0, 30.0, 100


def _rect(col0, row0, cols, rows):
    """A footprint (EPSG:4326 GeoJSON) whose edges lie on this grid's pixel edges."""
    x0, y0 = X0 + col0 * RES, Y0 - row0 * RES
    x1, y1 = x0 + cols * RES, y0 - rows * RES
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return transform_geom(CRS, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})


def _write(path, data):
    """A DSWE tile (uint8, 255 fill) on this grid."""
    return write_tif(path, data, crs=CRS, transform=from_origin(X0, Y0, RES, RES), nodata=255)


def _scene_raster(water=450, cloud=600, fill=450):
    """Footprint = cols 20..79, rows 10..59 (3000 px) with counted codes inside;
    outside it everything is cloud or fill, which must not count."""
    data = np.full((SIZE, SIZE), 9, np.uint8)
    data[60:, :] = 255
    inside = np.zeros(3000, np.uint8)
    codes = [1] * (water * 2 // 3) + [2] * (water - water * 2 // 3) + [9] * cloud + \
        [255] * fill + [3] * 100 + [4] * 50
    inside[:len(codes)] = codes
    np.random.default_rng(0).shuffle(inside)
    data[10:60, 20:80] = inside.reshape(50, 60)
    return data


FOOTPRINT = _rect(20, 10, 60, 50)


def test_date_from_name():
    assert dswe_pairing.date_from_name(
        "LC08_CU_003008_20200612_20200625_C01_V01_INWAM.tif") == dt.date(2020, 6, 12)
    assert dswe_pairing.date_from_name(
        "OPERA_L3_DSWx-HLS_T15SXR_20231010T163331Z_20231012T000000Z_S2A_30_v1.0_B01_WTR.tif"
    ) == dt.date(2023, 10, 10)
    assert dswe_pairing.date_from_name("dswe_2019-07-23.tif") == dt.date(2019, 7, 23)
    assert dswe_pairing.date_from_name("tile_20191345_x.tif") is None
    assert dswe_pairing.date_from_name("no_date.tif") is None


def test_measure_counts_only_inside_the_footprint(tmp_path):
    path = _write(tmp_path / "d_20200612.tif", _scene_raster())
    stats = dswe_pairing.measure(FOOTPRINT, [path], window_size=32)
    assert stats["pixels"] == 3000
    assert stats["water"] == pytest.approx(450 / 3000)
    assert stats["cloud"] == pytest.approx(600 / 3000)
    assert stats["nodata"] == pytest.approx(450 / 3000)
    # half of this footprint lies beyond the tile's east edge: that half is no data
    half_out = _rect(70, 10, 60, 50)
    stats = dswe_pairing.measure(half_out, [path])
    assert stats["pixels"] == 3000
    covered = np.asarray(_scene_raster()[10:60, 70:100])
    assert stats["nodata"] == pytest.approx(((covered == 255).sum() + 1500) / 3000)


def _make_folder(tmp_path):
    folder = tmp_path / "dswe"
    folder.mkdir()
    _write(folder / "LC08_CU_003008_20200612_20200625_C01_V01_INWAM.tif", _scene_raster())
    _write(folder / "LC08_CU_003008_20200613_20200625_C01_V01_INWAM.tif",
           _scene_raster(water=450, cloud=1200, fill=0))          # 40 % cloud
    _write(folder / "LC08_CU_003008_20200611_20200625_C01_V01_INWAM.tif",
           _scene_raster(water=90, cloud=0, fill=0))              # 3 % water
    _write(folder / "LC08_CU_003008_20200616_20200625_C01_V01_INWAM.tif",
           _scene_raster())                                       # 4 days away
    (folder / "readme_INWAM.tif.txt").write_text("not a raster")
    return folder


def test_pair_engine_rules(tmp_path):
    tiles, undated = dswe_pairing.find_tiles(_make_folder(tmp_path), "*INWAM.tif")
    assert undated == [] and len(tiles) == 4
    scenes = [dict(granule="ALPSRP000000001", date=dt.date(2020, 6, 12), geometry=FOOTPRINT)]
    rows = dswe_pairing.pair(scenes, tiles, keep_rejected=True)
    assert [(r["dswe_date"], r["passed"]) for r in rows] == [
        ("2020-06-11", False), ("2020-06-12", True), ("2020-06-13", False)]
    assert "water 3.0% < 5%" in rows[0]["reason"]
    assert "cloud 40.0% > 30%" in rows[2]["reason"]
    assert [r["dswe_date"] for r in dswe_pairing.pair(scenes, tiles)] == ["2020-06-12"]
    assert [r["dswe_date"] for r in dswe_pairing.pair(scenes, tiles, max_days=4)] == [
        "2020-06-12", "2020-06-16"]


def _footprint_layer(scenes):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=granule:string&field=start_time:string",
                           "sar", "memory")
    feats = []
    for granule, start, geojson in scenes:
        feature = QgsFeature(layer.fields())
        ring = ",".join(f"{x} {y}" for x, y in geojson["coordinates"][0])
        feature.setGeometry(QgsGeometry.fromWkt(f"POLYGON(({ring}))"))
        feature.setAttributes([granule, start])
        feats.append(feature)
    layer.dataProvider().addFeatures(feats)
    return layer


def test_pair_algorithm_table(run_alg, tmp_path):
    folder = _make_folder(tmp_path)
    layer = _footprint_layer([
        ("ALPSRP_A", "2020-06-12T16:55:01Z", FOOTPRINT),
        ("ALPSRP_B", "2020-06-12T16:55:20Z", _rect(70, 10, 60, 50)),  # half off the tiles
        ("ALPSRP_C", "2020-07-30T16:55:20Z", FOOTPRINT),              # no DSWE near
    ])
    result = run_alg("pair_sar_dswe", {
        "INPUT": layer, "DSWE_FOLDER": str(folder), "PATTERN": "*INWAM.tif",
        "KEEP_REJECTED": True, "OUTPUT": "memory:",
    })
    rows = [{k: f[k] for k in f.fields().names()} for f in result["OUTPUT"].getFeatures()]
    table = [(r["granule"], r["dswe_date"], r["days_apart"], r["passed"]) for r in rows]
    assert table == [
        ("ALPSRP_A", "2020-06-11", -1, False), ("ALPSRP_A", "2020-06-12", 0, True),
        ("ALPSRP_A", "2020-06-13", 1, False),
        ("ALPSRP_B", "2020-06-11", -1, False), ("ALPSRP_B", "2020-06-12", 0, False),
        ("ALPSRP_B", "2020-06-13", 1, False),
    ]
    good = rows[1]
    assert good["footprint_pixels"] == 3000
    assert good["water_fraction"] == pytest.approx(0.15)
    assert good["cloud_fraction"] == pytest.approx(0.20)
    assert good["nodata_fraction"] == pytest.approx(0.15)
    assert good["dswe_files"] == "LC08_CU_003008_20200612_20200625_C01_V01_INWAM.tif"
    assert "nodata" in rows[4]["reason"]
    # default: only the pairs that pass
    result = run_alg("pair_sar_dswe", {
        "INPUT": layer, "DSWE_FOLDER": str(folder), "PATTERN": "*INWAM.tif", "OUTPUT": "memory:",
    })
    assert [(f["granule"], f["dswe_date"]) for f in result["OUTPUT"].getFeatures()] == [
        ("ALPSRP_A", "2020-06-12")]


def test_pair_algorithm_bad_folder(run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    layer = _footprint_layer([("A", "2020-06-12", FOOTPRINT)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(QgsProcessingException, match="No DSWE GeoTIFF"):
        run_alg("pair_sar_dswe", {"INPUT": layer, "DSWE_FOLDER": str(tmp_path / "empty"),
                                  "OUTPUT": "memory:"})


def test_pair_through_qgis_process(qgis_process, tmp_path):
    import csv

    from shapely.geometry import shape

    folder = _make_folder(tmp_path)
    footprints = write_vector(tmp_path / "sar.gpkg", [shape(FOOTPRINT)], "EPSG:4326",
                              [{"granule": "ALPSRP_A", "start_time": "2020-06-12T16:55:01Z"}])
    out = tmp_path / "pairs.csv"
    result = qgis_process("pair_sar_dswe", {
        "INPUT": footprints, "DSWE_FOLDER": str(folder), "PATTERN": "*INWAM.tif",
        "MAX_DAYS": 4, "OUTPUT": str(out),
    })
    with open(result["results"]["OUTPUT"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["granule"], r["dswe_date"], r["days_apart"]) for r in rows] == [
        ("ALPSRP_A", "2020-06-12", "0"), ("ALPSRP_A", "2020-06-16", "4")]
    assert float(rows[0]["water_fraction"]) == pytest.approx(0.15)
    assert float(rows[0]["cloud_fraction"]) == pytest.approx(0.20)
    assert float(rows[0]["nodata_fraction"]) == pytest.approx(0.15)
