"""Search and download Landsat (USGS STAC API + ERS login) against a local HTTPS
replay server (tests/fetch_server.py, no internet).

The STAC answers are real recorded landsatlook.usgs.gov items (see
tools/derive_stac_replay.py); the band files served are small GeoTIFFs cut
from the real Landsat 7 subset in ../shared/data/misc (or random bytes where
only the transfer is tested).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio

import qgis_cli
from fetch_server import (  # noqa: F401 (fixtures)
    BAD_CFG, GOOD_CFG, PASSWORD, USER, WRONG, RecordingFeedback, authcfg, headless_auth,
    no_secret as _no_secret, server, trusted,
)
from plugin.engine.core.cancel import Cancelled
from plugin.engine.fetch import stac
from rasters import write_vector

ROOT = Path(__file__).resolve().parents[1]
REPLAY = json.loads((Path(__file__).with_name("data") / "stac_replay.json").read_text())
L1 = {i["id"]: i for i in REPLAY["items"] if i["collection"] == "landsat-c2l1"}
# The recorded scenes' area (WRS-2 path 138 row 041, Bhutan / Assam)
AOI = "89.5,90.5,27.0,28.0 [EPSG:4326]"


def _features(layer_or_path):
    from qgis.core import QgsVectorLayer

    layer = layer_or_path if isinstance(layer_or_path, QgsVectorLayer) else QgsVectorLayer(
        str(layer_or_path), "out", "ogr")
    assert layer.isValid()
    return layer, {f["scene_id"]: f for f in layer.getFeatures()}


def _check_scene(feature, host):
    item = L1[feature["scene_id"]]
    props = item["properties"]
    assert feature["datetime"] == props["datetime"]
    assert feature["date"] == props["datetime"][:10]
    assert feature["platform"] == props["platform"]
    assert feature["sensor"] == "OLI/TIRS"
    assert feature["path"] == int(props["landsat:wrs_path"]) == 138
    assert feature["row"] == int(props["landsat:wrs_row"]) == 41
    assert feature["cloud_cover"] == pytest.approx(props["eo:cloud_cover"])
    assert feature["cloud_cover_land"] == pytest.approx(props["landsat:cloud_cover_land"])
    assert feature["collection"] == "landsat-c2l1"
    assert feature["category"] == "T1" and feature["correction"] == "L1TP"
    assert feature["epsg"] == 32645
    assets = json.loads(feature["assets"])
    for key in ("pan", "red", "nir08", "swir16", "swir22", "qa_pixel"):
        assert assets[key] == item["assets"][key]["href"].replace(
            "https://landsatlook.usgs.gov", f"https://{host}")
    assert assets["pan"].endswith(f"{item['id']}_B8.TIF")
    assert feature["stac_item"].endswith(f"/collections/landsat-c2l1/items/{item['id']}")
    box = feature.geometry().boundingBox()
    xs = [p[0] for p in item["geometry"]["coordinates"][0]]
    ys = [p[1] for p in item["geometry"]["coordinates"][0]]
    assert box.xMinimum() == pytest.approx(min(xs), abs=1e-6)
    assert box.yMaximum() == pytest.approx(max(ys), abs=1e-6)


# ------------------------------------------------------------------ search

def test_search_filters_dates_cloud_and_sensor(run_alg, trusted):
    result = run_alg("search_landsat", {
        "EXTENT": AOI, "START": "2023-12-01", "END": "2024-01-31", "MAX_CLOUD": 30,
        "SENSORS": [3, 4], "STAC_URL": trusted.stac_url, "OUTPUT": "memory:"})
    layer, feats = _features(result["OUTPUT"])
    assert layer.crs().authid() == "EPSG:4326"
    names = [f["scene_id"] for f in layer.getFeatures()]
    assert names == ["LC09_L1TP_138041_20240120_20240120_02_T1",  # newest first
                     "LC08_L1TP_138041_20240112_20240123_02_T1",
                     "LC09_L1TP_138041_20240104_20240104_02_T1",
                     "LC08_L1TP_138041_20231227_20240104_02_T1"]
    for feature in feats.values():
        _check_scene(feature, trusted.host)
    # what pystac-client sent: the collection, the dates, the area, cloud and platform query
    body = trusted.recorded("/stac-server/search", "POST")[-1][3]
    assert body["collections"] == ["landsat-c2l1"]
    assert body["datetime"] == "2023-12-01T00:00:00Z/2024-01-31T23:59:59Z"
    assert body["query"] == {"platform": {"in": ["LANDSAT_8", "LANDSAT_9"]},
                             "eo:cloud_cover": {"lte": 30.0}}
    assert body["intersects"]["type"] in ("Polygon", "MultiPolygon")

    # Landsat 8 only, at most 10 % cloud: two scenes; the 70.8 % one of 2022 never
    result = run_alg("search_landsat", {
        "EXTENT": AOI, "MAX_CLOUD": 10, "SENSORS": [3], "STAC_URL": trusted.stac_url,
        "OUTPUT": "memory:"})
    assert sorted(f["scene_id"] for f in result["OUTPUT"].getFeatures()) == [
        "LC08_L1TP_138041_20231227_20240104_02_T1", "LC08_L1TP_138041_20240112_20240123_02_T1"]
    # every cloud cover, all sensors: all five recorded scenes
    result = run_alg("search_landsat", {
        "EXTENT": AOI, "MAX_CLOUD": 100, "SENSORS": [0, 1, 2, 3, 4],
        "STAC_URL": trusted.stac_url, "OUTPUT": "memory:"})
    assert result["OUTPUT"].featureCount() == 5
    # Landsat 5 only, or an area the scenes miss: nothing
    for params in ({"SENSORS": [1]}, {"EXTENT": "10,11,0,1 [EPSG:4326]"}):
        result = run_alg("search_landsat", dict({
            "EXTENT": AOI, "MAX_CLOUD": 100, "STAC_URL": trusted.stac_url,
            "OUTPUT": "memory:"}, **params))
        assert result["OUTPUT"].featureCount() == 0


def test_search_pages_through_results(trusted, monkeypatch):
    monkeypatch.setattr(stac, "MAX_PAGE", 2)
    aoi = {"type": "Polygon", "coordinates": [[[89.5, 27], [90.5, 27], [90.5, 28], [89.5, 28],
                                               [89.5, 27]]]}
    before = len(trusted.recorded("/stac-server/search"))
    records = stac.search(aoi, sensors=list(stac.SENSORS), max_cloud=100, max_results=5,
                          url=trusted.stac_url)
    assert [r["date"] for r in records] == ["2024-01-20", "2024-01-12", "2024-01-04",
                                            "2023-12-27", "2022-08-02"]
    pages = trusted.recorded("/stac-server/search")[before:]
    assert [p[3].get("next") for p in pages] == [None, "2", "4"]


def test_search_with_domain_layer_in_another_crs(run_alg, trusted, tmp_path):
    from rasterio.warp import transform_geom
    from shapely.geometry import Polygon, mapping, shape

    domain = shape(transform_geom("EPSG:4326", "EPSG:32645", mapping(Polygon(
        [(89.9, 27.4), (90.1, 27.4), (90.1, 27.6), (89.9, 27.6)]))))
    layer = write_vector(tmp_path / "domain.gpkg", [domain], "EPSG:32645", [{"name": "x"}])
    result = run_alg("search_landsat", {
        "AOI": layer, "START": "2024-01-01", "MAX_CLOUD": 100, "STAC_URL": trusted.stac_url,
        "OUTPUT": "memory:"})
    assert result["OUTPUT"].featureCount() == 3
    body = trusted.recorded("/stac-server/search", "POST")[-1][3]
    xs = [p[0] for p in body["intersects"]["coordinates"][0]]
    assert min(xs) == pytest.approx(89.9, abs=1e-3) and max(xs) == pytest.approx(90.1, abs=1e-3)


def test_search_needs_an_area_and_a_reachable_api(run_alg, trusted):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="area of interest"):
        run_alg("search_landsat", {"STAC_URL": trusted.stac_url, "OUTPUT": "memory:"})
    with pytest.raises(QgsProcessingException, match="Could not reach the STAC API"):
        run_alg("search_landsat", {"EXTENT": AOI, "STAC_URL": "https://127.0.0.1:9/stac",
                                   "OUTPUT": "memory:"})


def test_search_through_qgis_process(qgis_process, trusted, tmp_path):
    out = tmp_path / "landsat.gpkg"
    result = qgis_process("search_landsat", {
        "EXTENT": AOI, "START": "2024-01-05", "END": "2024-01-20", "MAX_CLOUD": 30,
        "SENSORS": "3,4", "STAC_URL": trusted.stac_url, "OUTPUT": str(out)})
    layer, feats = _features(result["results"]["OUTPUT"])
    assert sorted(feats) == ["LC08_L1TP_138041_20240112_20240123_02_T1",
                             "LC09_L1TP_138041_20240120_20240120_02_T1"]
    for feature in feats.values():
        _check_scene(feature, trusted.host)


# ------------------------------------------------------------------ download

def _band_tif(values, qa=False):
    """A small GeoTIFF cut from the real Landsat 7 subset (UTM 18N), as UInt16 like Level-1 bands."""
    from fetch_server import LANDSAT7, _geotiff

    with rasterio.open(LANDSAT7) as src:
        transform, crs = src.transform, src.crs
    return _geotiff(np.asarray(values, dtype="uint16"), crs, transform, nodata=None if qa else 0)


def _scene_files(server, layer, cloudy=()):
    """Serve a B8 (from a real band) and a QA_PIXEL file per scene; {scene_id: (b8, qa)} bytes."""
    from fetch_server import LANDSAT7, shared_path_or_skip

    shared_path_or_skip()
    with rasterio.open(LANDSAT7) as src:
        bands = src.read()
    served = {}
    for i, feature in enumerate(layer.getFeatures()):
        assets = json.loads(feature["assets"])
        qa = np.zeros(bands.shape[1:], dtype="uint16")
        if feature["scene_id"] in cloudy:
            qa[:, : qa.shape[1] // 2 + 40] = 1 << 3  # cloud bit over the domain's left part
        b8, qa_bytes = _band_tif(bands[i % 3]), _band_tif(qa, qa=True)
        server.add_file(urlparse_path(assets["pan"]), b8, drop_once=(i == 0), auth=True)
        server.add_file(urlparse_path(assets["qa_pixel"]), qa_bytes, auth=True)
        served[feature["scene_id"]] = (b8, qa_bytes, assets)
    return served


def urlparse_path(url):
    from urllib.parse import urlparse

    return urlparse(url).path


def _two_scenes(run_alg, server, path):
    result = run_alg("search_landsat", {
        "EXTENT": AOI, "START": "2024-01-10", "END": "2024-01-20", "MAX_CLOUD": 100,
        "STAC_URL": server.stac_url, "OUTPUT": str(path)})
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(result["OUTPUT"], "scenes", "ogr")
    assert layer.featureCount() == 2
    return layer


def _download_params(server, layer, folder, cfg=GOOD_CFG, **extra):
    return dict({"INPUT": layer, "PRESET": 0, "AUTH": cfg, "FOLDER": str(folder),
                 "ERS_HOST": server.host, "OUTPUT": "memory:"}, **extra)


def test_download_resumes_skips_and_feeds_subset_scenes(run_alg, trusted, authcfg, tmp_path):
    layer = _two_scenes(run_alg, trusted, tmp_path / "scenes.gpkg")
    cloudy = "LC08_L1TP_138041_20240112_20240123_02_T1"
    served = _scene_files(trusted, layer, cloudy=[cloudy])
    folder = tmp_path / "landsat"
    feedback = RecordingFeedback()
    result = run_alg("download_landsat", _download_params(trusted, layer, folder), feedback)

    for scene, (b8, qa, assets) in served.items():
        assert (folder / f"{scene}_B8.TIF").read_bytes() == b8
        assert (folder / f"{scene}_QA_PIXEL.TIF").read_bytes() == qa
    assert not list(folder.glob("*.part"))
    first = next(iter(served))
    ranges = [r[2].get("Range") for r in trusted.recorded(urlparse_path(served[first][2]["pan"]))
              if r[0] == "GET"]
    assert ranges[0] is None and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    rows = {(f["scene_id"], f["band"]): f["status"] for f in result["OUTPUT"].getFeatures()}
    assert rows[(first, "pan")] == "resumed"
    assert sorted(set(rows.values())) == ["downloaded", "resumed"] and len(rows) == 4
    assert sorted(Path(p).name for p in result["FILES"]) == sorted(f"{s}_B8.TIF" for s in served)
    assert result["DOWNLOADED"] == 4
    assert any("connection dropped" in t for t in feedback.text)
    assert any("Logged in to USGS ERS" in t for t in feedback.text)
    _no_secret(*feedback.text, result)
    # the password went once to the login form, nowhere else
    posts = trusted.recorded("/login", "POST")
    assert posts[-1][3]["username"] == USER
    for method, path, headers, body in trusted.recorded("/"):
        _no_secret(path, headers)

    # second run: everything is complete, nothing is fetched again
    before = len(trusted.recorded("/data/", "GET"))
    again = run_alg("download_landsat", _download_params(trusted, layer, folder))
    assert {f["status"] for f in again["OUTPUT"].getFeatures()} == {"skipped"}
    assert again["DOWNLOADED"] == 0 and len(trusted.recorded("/data/", "GET")) == before

    # subset_scenes runs straight on the folder and finds each scene's QA band
    from shapely.geometry import box

    domain = write_vector(tmp_path / "domain.gpkg", [box(200000, 2700000, 240000, 2740000)],
                          "EPSG:32618", [{"name": "glacier"}])
    subsets = run_alg("subset_scenes", {
        "FOLDER": str(folder), "DOMAIN": domain, "OUTPUT_FOLDER": str(tmp_path / "subsets"),
        "OUTPUT_TABLE": "memory:"})
    report = {f["scene"]: (f["status"], f["cloud_pct"]) for f in subsets["OUTPUT_TABLE"].getFeatures()}
    assert subsets["ACCEPTED"] == 1
    assert [s for s, (status, _) in report.items() if status == "accepted"] == [
        "LC09_L1TP_138041_20240120_20240120_02_T1_B8"]
    assert report[cloudy + "_B8"][0] == "rejected" and report[cloudy + "_B8"][1] > 15
    with rasterio.open(subsets["FIRST_SUBSET"]) as src, rasterio.open(folder / (
            "LC09_L1TP_138041_20240120_20240120_02_T1_B8.TIF")) as b8:
        from rasterio.windows import from_bounds

        sub = src.read(1, masked=True)
        ref = b8.read(1, window=from_bounds(*src.bounds, transform=b8.transform), masked=True)
        assert sub.count() > 0.9 * sub.size
        assert float(sub.mean()) == pytest.approx(float(ref.mean()), rel=0.05)  # resampled


def test_download_without_login_or_with_wrong_password(run_alg, trusted, authcfg, tmp_path):
    from qgis.core import QgsProcessingException

    layer = _two_scenes(run_alg, trusted, tmp_path / "scenes.gpkg")
    _scene_files(trusted, layer)
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException) as err:
        run_alg("download_landsat", _download_params(trusted, layer, tmp_path / "dl", BAD_CFG),
                feedback)
    assert "refused the user name and password" in str(err.value)
    _no_secret(err.value, repr(err.value), *feedback.text)
    assert not list((tmp_path / "dl").glob("*")) if (tmp_path / "dl").exists() else True
    # no login given: the server redirects to the ERS login page -> a clear message, no file
    with pytest.raises(QgsProcessingException, match="needs a login for this file"):
        run_alg("download_landsat", _download_params(trusted, layer, tmp_path / "dl2", None))
    assert not (tmp_path / "dl2").exists() or not any(
        p.suffix.upper() == ".TIF" for p in (tmp_path / "dl2").iterdir())


def test_download_refuses_hosts_outside_usgs_and_missing_bands(run_alg, trusted, authcfg,
                                                               tmp_path):
    from qgis.core import QgsProcessingException
    from shapely.geometry import box

    layer = write_vector(tmp_path / "fp.gpkg", [box(0, 0, 1, 1)] * 2, "EPSG:4326", [
        {"scene_id": "LT05_X", "assets": json.dumps({"red": "https://example.com/x_B3.TIF"})},
        {"scene_id": "LC08_Y", "assets": json.dumps({"blue": "https://example.com/y_B2.TIF"})}])
    logins = len(trusted.recorded("/login"))
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException, match="not a USGS host"):
        run_alg("download_landsat", _download_params(trusted, layer, tmp_path / "dl"), feedback)
    assert len(trusted.recorded("/login")) == logins  # no login was even attempted
    # pan falls back to red on TM; a scene without the bands is reported
    assert any("LC08_Y: no pan, qa_pixel band" in t for t in feedback.text)
    assert any("LT05_X: no qa_pixel band" in t for t in feedback.text)
    with pytest.raises(QgsProcessingException, match="None of the scenes has the bands"):
        run_alg("download_landsat", _download_params(trusted, layer, tmp_path / "dl",
                                                     PRESET=3, BANDS="lwir12"))


def test_engine_download_keeps_part_on_cancel_and_resumes(trusted, tmp_path):
    content = os.urandom(300_000)
    url = trusted.add_file("/data/engine/LC08_TEST_B8.TIF", content, auth=True)
    session = stac.ers_login(USER, PASSWORD, host=trusted.host)
    assert session.auth is None and session.logged_in
    calls = []
    with pytest.raises(Cancelled):
        stac.download(session, url, tmp_path, chunk=40_000, is_canceled=lambda: len(calls) > 2,
                      progress=calls.append)
    part = tmp_path / "LC08_TEST_B8.TIF.part"
    kept = part.stat().st_size
    assert 0 < kept < len(content)
    result = stac.download(session, url, tmp_path)
    assert result.status == "resumed" and (tmp_path / "LC08_TEST_B8.TIF").read_bytes() == content
    ranges = [r[2].get("Range") for r in trusted.recorded("/data/engine/LC08_TEST_B8.TIF")]
    assert ranges[-1] == f"bytes={kept}-"
    with pytest.raises(stac.AuthError) as err:
        stac.ers_login(USER, WRONG, host=trusted.host)
    assert WRONG not in str(err.value)


# --------------------------------------------------- download (qgis_process)

def test_download_through_qgis_process(run_alg, qgis_process, trusted, headless_auth, monkeypatch,
                                       tmp_path):
    folder, password_file = headless_auth
    layer = _two_scenes(run_alg, trusted, tmp_path / "scenes.gpkg")
    served = _scene_files(trusted, layer)
    monkeypatch.setenv("QGIS_AUTH_DB_DIR_PATH", str(folder))
    monkeypatch.setenv("QGIS_AUTH_PASSWORD_FILE", str(password_file))
    params = _download_params(trusted, layer.source(), tmp_path / "dl",
                              OUTPUT=str(tmp_path / "report.csv"))
    proc = qgis_cli.call(*qgis_cli.run_args("download_landsat", params))
    _no_secret(proc.stdout, proc.stderr)
    result = json.loads(proc.stdout[proc.stdout.find("{"):])
    assert result["results"]["DOWNLOADED"] == 4
    for scene, (b8, qa, _) in served.items():
        assert (tmp_path / "dl" / f"{scene}_B8.TIF").read_bytes() == b8
    proc = qgis_process("download_landsat", dict(params, AUTH=BAD_CFG, FOLDER=str(tmp_path / "x")),
                        expect_failure=True)
    assert "refused the user name and password" in proc.stdout + proc.stderr
    _no_secret(proc.stdout, proc.stderr)
