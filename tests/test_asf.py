"""ASF search and download against a local HTTPS replay server (no internet).

The server (tests/asf_server.py) answers asf_search's CMR queries with real
recorded responses from asf_search's own test resources, plays Earthdata
Login, and serves small files (drop mid-file, wrong size, wrong md5, 401).
"""

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import qgis_cli
from asf_server import TOKEN, ReplayServer
from replay_server import RecordingFeedback, login_fixtures
from plugin.engine.fetch import asf as asf_client
from plugin.engine.core.cancel import Cancelled
from rasters import write_vector

USER = "waterline-tester"
PASSWORD = "Pw-never-LEAK-9f3c1e"  # appears nowhere but the auth database
WRONG = "Wrong-pw-NOLEAK-77aa"
GOOD_CFG, BAD_CFG = "wlasf01", "wlasf02"
REPLAY = json.loads((Path(__file__).with_name("data") / "asf_replay.json").read_text())


server, trusted, authcfg, headless_auth, _no_secret = login_fixtures(
    ReplayServer, USER, PASSWORD, WRONG, (GOOD_CFG, BAD_CFG), "Earthdata", "asf-auth")


def _expected(group, file_id):
    return next(g for g in REPLAY["granules"][group] if g["umm"]["GranuleUR"] == file_id)


def _iso(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _check_footprint_attributes(feature, group, file_id, host):
    exp = _expected(group, file_id)["expected"]
    assert feature["file_id"] == file_id
    assert feature["granule"] == exp["sceneName"]
    assert feature["platform"] == exp["platform"]
    assert feature["beam_mode"] == exp["beamModeType"]
    assert feature["polarization"] == exp["polarization"]
    assert _iso(feature["start_time"]) == _iso(exp["startTime"])
    assert _iso(feature["end_time"]) == _iso(exp["stopTime"])
    assert feature["path"] == exp["pathNumber"]
    assert feature["frame"] == int(exp["frameNumber"])
    assert feature["processing_level"] == exp["processingLevel"]
    assert feature["size_bytes"] == exp["bytes"]
    assert feature["md5"] == exp["md5sum"]
    assert feature["url"] == exp["url"].replace(
        "https://datapool.asf.alaska.edu/", f"https://{host}/datapool/")
    assert feature["file_name"] == exp["fileName"]


def _check_geometry(geom, group, file_id):
    umm = _expected(group, file_id)["umm"]
    points = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0][
        "Boundary"]["Points"]
    box = geom.boundingBox()
    assert box.xMinimum() == pytest.approx(min(p["Longitude"] for p in points), abs=1e-6)
    assert box.xMaximum() == pytest.approx(max(p["Longitude"] for p in points), abs=1e-6)
    assert box.yMinimum() == pytest.approx(min(p["Latitude"] for p in points), abs=1e-6)
    assert box.yMaximum() == pytest.approx(max(p["Latitude"] for p in points), abs=1e-6)


def _features(path_or_layer):
    from qgis.core import QgsVectorLayer

    layer = path_or_layer if isinstance(path_or_layer, QgsVectorLayer) else QgsVectorLayer(
        str(path_or_layer), "out", "ogr")
    assert layer.isValid()
    return layer, {f["file_id"] if "file_id" in f.fields().names() else f["granule"]: f
                   for f in layer.getFeatures()}


# ------------------------------------------------------------------ search

def test_search_alos_footprints_from_recorded_responses(run_alg, trusted, tmp_path):
    out = tmp_path / "alos.gpkg"
    result = run_alg("search_asf", {
        "EXTENT": "-146,-145,46.5,50 [EPSG:4326]", "START": "2011-04-01", "END": "2011-04-30",
        "DATASET": 0, "PROCESSING_LEVEL": "L1.0", "MAX_RESULTS": 10,
        "CMR_HOST": trusted.host, "OUTPUT": str(out),
    })
    layer, feats = _features(result["OUTPUT"])
    assert layer.crs().authid() == "EPSG:4326"
    assert sorted(feats) == ["ALPSRS279162600-L1.0", "ALPSRS279162650-L1.0"]  # not the L1.5
    for file_id, feature in feats.items():
        _check_footprint_attributes(feature, "ALOS", file_id, trusted.host)
        _check_geometry(feature.geometry(), "ALOS", file_id)
    # what asf_search sent to CMR: the ALOS L1.0 collection, the dates, the AOI
    form = trusted.recorded("/search")[-1][3]
    keys = dict(form)
    assert keys["temporal"].startswith("2011-04-01T00:00:00Z,2011-04-30T23:59:59Z")
    assert "bounding_box" in keys or "polygon" in keys


def test_search_filters_like_cmr(run_alg, trusted):
    # a smaller AOI misses the northern frame; L1.5 selects the other collection
    result = run_alg("search_asf", {
        "EXTENT": "-146,-145,46.5,47 [EPSG:4326]", "DATASET": 0,
        "PROCESSING_LEVEL": "L1.0,L1.5", "CMR_HOST": trusted.host, "OUTPUT": "memory:",
    })
    _, feats = _features(result["OUTPUT"])
    assert sorted(feats) == ["ALPSRS279162650-L1.0", "ALPSRS279162650-L1.5"]
    # Sentinel-1 GRD_HD, newest first, limited by MAX_RESULTS
    result = run_alg("search_asf", {
        "EXTENT": "-148,-147,64.5,65 [EPSG:4326]", "DATASET": 1, "PROCESSING_LEVEL": "GRD_HD",
        "BEAM_MODE": "IW", "POLARIZATION": "VV+VH", "MAX_RESULTS": 2,
        "CMR_HOST": trusted.host, "OUTPUT": "memory:",
    })
    layer, feats = _features(result["OUTPUT"])
    assert layer.featureCount() == 2
    names = [f["granule"] for f in layer.getFeatures()]
    assert names == ["S1B_IW_GRDH_1SDV_20211216T032038_20211216T032103_030045_039655_2335",
                     "S1B_IW_GRDH_1SDV_20211204T032038_20211204T032103_029870_0390CC_FC88"]
    for file_id, feature in feats.items():
        _check_footprint_attributes(feature, "SENTINEL-1", file_id, trusted.host)
    form = trusted.recorded("/search")[-1][3]
    assert ("attribute[]", "string,BEAM_MODE,IW") in form
    assert ("attribute[]", "string,POLARIZATION,VV+VH") in form
    # nothing over Africa
    result = run_alg("search_asf", {
        "EXTENT": "10,11,0,1 [EPSG:4326]", "DATASET": 1, "PROCESSING_LEVEL": "GRD_HD",
        "CMR_HOST": trusted.host, "OUTPUT": "memory:",
    })
    assert result["OUTPUT"].featureCount() == 0


def test_search_needs_an_area(run_alg, trusted):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="area of interest"):
        run_alg("search_asf", {"DATASET": 0, "CMR_HOST": trusted.host, "OUTPUT": "memory:"})


def test_search_through_qgis_process(qgis_process, trusted, monkeypatch, tmp_path):
    out = tmp_path / "s1.gpkg"
    result = qgis_process("search_asf", {
        "EXTENT": "-148,-147,64.5,65 [EPSG:4326]", "START": "2021-11-15", "END": "2021-12-10",
        "DATASET": 1, "PROCESSING_LEVEL": "GRD_HD", "CMR_HOST": trusted.host,
        "OUTPUT": str(out),
    })
    layer, feats = _features(result["results"]["OUTPUT"])
    assert layer.crs().authid() == "EPSG:4326"
    assert sorted(feats) == [
        "S1B_IW_GRDH_1SDV_20211122T032039_20211122T032104_029695_038B4D_706D-GRD_HD",
        "S1B_IW_GRDH_1SDV_20211204T032038_20211204T032103_029870_0390CC_FC88-GRD_HD",
    ]
    for file_id, feature in feats.items():
        _check_footprint_attributes(feature, "SENTINEL-1", file_id, trusted.host)
        _check_geometry(feature.geometry(), "SENTINEL-1", file_id)


# ------------------------------------------------------- download (engine)

@pytest.fixture
def session(trusted):
    return asf_client.login(USER, PASSWORD, edl_host=trusted.host, asf_auth_host=trusted.host)


def test_login_gets_token_and_refuses_wrong_password(trusted, session):
    assert session.headers["Authorization"] == f"Bearer {TOKEN}"
    assert session.auth is None
    with pytest.raises(asf_client.AuthError) as err:
        asf_client.login(USER, WRONG, edl_host=trusted.host, asf_auth_host=trusted.host)
    assert "401" in str(err.value) and WRONG not in str(err.value)


def test_download_resumes_a_partial_file_and_keeps_it_on_cancel(trusted, session, tmp_path):
    content = os.urandom(400_000)
    md5 = hashlib.md5(content).hexdigest()
    url = trusted.add_file("/datapool/engine/resume.bin", content)
    # a cancelled run keeps the .part file...
    calls = []
    with pytest.raises(Cancelled):
        asf_client.download_file(session, url, tmp_path, size=len(content), md5=md5,
                                 chunk=50_000, is_canceled=lambda: len(calls) > 2,
                                 progress=calls.append)
    part = tmp_path / "resume.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(content) and part.read_bytes() == content[:kept]
    # ...and the next run asks only for the rest
    result = asf_client.download_file(session, url, tmp_path, size=len(content), md5=md5)
    assert result.status == "resumed"
    assert (tmp_path / "resume.bin").read_bytes() == content and not part.exists()
    ranges = [r[2].get("Range") for r in trusted.recorded("/datapool/engine/resume.bin")]
    assert ranges[-1] == f"bytes={kept}-"


def test_download_replaces_a_corrupt_existing_file(trusted, session, tmp_path):
    content = os.urandom(30_000)
    url = trusted.add_file("/datapool/engine/replace.bin", content)
    (tmp_path / "replace.bin").write_bytes(b"x" * len(content))  # right size, wrong bytes
    messages = []
    result = asf_client.download_file(session, url, tmp_path, size=len(content),
                                      md5=hashlib.md5(content).hexdigest(), info=messages.append)
    assert result.status == "downloaded"
    assert (tmp_path / "replace.bin").read_bytes() == content
    assert "incomplete or corrupt (md5 is" in messages[0]


def test_unpack_refuses_paths_outside_the_folder(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../evil.tif", b"x")
    with pytest.raises(asf_client.AsfError, match="unsafe path"):
        asf_client.unpack_zip(str(path))
    assert not (tmp_path / "evil.tif").exists() and not (tmp_path / "evil").exists()
    assert os.listdir(tmp_path) == ["evil.zip"]


def test_download_refuses_untrusted_host_and_http():
    with pytest.raises(asf_client.AsfError, match="not an ASF/Earthdata host"):
        asf_client.check_url("https://example.com/x.zip", extra_hosts=("127.0.0.1:1",))
    with pytest.raises(asf_client.AsfError, match="not an https URL"):
        asf_client.check_url("http://datapool.asf.alaska.edu/x.zip")
    assert asf_client.check_url("https://datapool.asf.alaska.edu/A3/x.zip").netloc


# ------------------------------------------------------ download (QGIS)

def _geotiff_bytes(value):
    buf = io.BytesIO()
    data = np.full((1, 8, 8), value, dtype="float32")
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=8, height=8, count=1, dtype="float32",
                      crs="EPSG:32606", transform=from_origin(500000, 7200000, 30, 30)) as dst:
            dst.write(data)
        buf.write(mem.read())
    return buf.getvalue()


def _rtc_zip(name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(f"{name}/{name}_HH.tif", _geotiff_bytes(0.1))
        archive.writestr(f"{name}/{name}_HV.tif", _geotiff_bytes(0.02))
        archive.writestr(f"{name}/{name}.iso.xml", "<xml/>")
    return buf.getvalue()


def _footprint_gpkg(path, rows):
    """A footprint layer like Search ASF's: granule, url, size_bytes (int), md5."""
    from shapely.geometry import Polygon

    footprint = Polygon([(-147, 64), (-146, 64), (-146, 65), (-147, 65), (-147, 64)])
    return write_vector(path, [footprint] * len(rows), "EPSG:4326",
                        [{"granule": g, "url": u, "size_bytes": s, "md5": m} for g, u, s, m in rows])


def _download_params(trusted, layer, folder, cfg=GOOD_CFG, **extra):
    return dict({"INPUT": layer, "AUTH": cfg, "FOLDER": str(folder), "UNZIP": True,
                 "EDL_HOST": trusted.host, "ASF_AUTH_HOST": trusted.host,
                 "OUTPUT": "memory:"}, **extra)


def test_download_completes_resumes_unpacks_and_skips(run_alg, trusted, authcfg, tmp_path):
    name = "AP_26510_FBD_F0960_RT1"
    rtc = _rtc_zip(name)
    other = os.urandom(120_000)
    rows = [
        (name, trusted.add_file(f"/datapool/RTC/{name}.zip", rtc, drop_once=True),
         len(rtc), hashlib.md5(rtc).hexdigest()),
        ("plain", trusted.add_file("/datapool/RTC/plain.bin", other), len(other), None),
    ]
    layer = _footprint_gpkg(tmp_path / "fp.gpkg", rows)
    folder = tmp_path / "downloads"
    feedback = RecordingFeedback()
    result = run_alg("download_asf", _download_params(trusted, layer, folder), feedback)

    assert (folder / f"{name}.zip").read_bytes() == rtc
    assert (folder / "plain.bin").read_bytes() == other
    assert not list(folder.glob("*.part"))
    ranges = [r[2].get("Range") for r in trusted.recorded(f"/datapool/RTC/{name}.zip")]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    tifs = sorted(result["GEOTIFFS"])
    assert [Path(t).name for t in tifs] == [f"{name}_HH.tif", f"{name}_HV.tif"]
    with rasterio.open(tifs[0]) as src:
        assert src.read(1)[0, 0] == pytest.approx(0.1)
    statuses = {f["granule"]: f["status"] for f in result["OUTPUT"].getFeatures()}
    assert statuses == {name: "resumed", "plain": "downloaded"}
    assert result["DOWNLOADED"] == 2
    assert any("connection dropped" in t for t in feedback.text)
    _no_secret(*feedback.text, result)

    # second run: everything is already complete
    before = len(trusted.recorded("/datapool/RTC/"))
    again = run_alg("download_asf", _download_params(trusted, layer, folder))
    assert {f["status"] for f in again["OUTPUT"].getFeatures()} == {"skipped"}
    assert again["DOWNLOADED"] == 0 and len(trusted.recorded("/datapool/RTC/")) == before
    assert sorted(again["GEOTIFFS"]) == tifs


def test_download_refuses_wrong_size_and_wrong_md5(run_alg, trusted, authcfg, tmp_path):
    from qgis.core import QgsProcessingException

    content = os.urandom(50_000)
    url_size = trusted.add_file("/datapool/bad/size.bin", content)
    url_md5 = trusted.add_file("/datapool/bad/md5.bin", content)
    layer = _footprint_gpkg(tmp_path / "fp.gpkg", [
        ("wrong-size", url_size, len(content) + 10, None),
        ("wrong-md5", url_md5, len(content), "0" * 32),
    ])
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException, match="2 of 2 granule"):
        run_alg("download_asf", _download_params(trusted, layer, tmp_path / "dl"), feedback)
    text = "\n".join(feedback.text)
    assert f"offers {len(content)} bytes but the record says {len(content) + 10}" in text
    assert "md5 is " + hashlib.md5(content).hexdigest() in text
    assert sorted(os.listdir(tmp_path / "dl")) == []  # nothing kept, not even .part
    _no_secret(text)


def test_download_wrong_password_is_a_clear_401_without_leak(run_alg, trusted, authcfg,
                                                            tmp_path):
    from qgis.core import QgsProcessingException

    url = trusted.add_file("/datapool/auth/x.bin", b"x" * 1000)
    layer = _footprint_gpkg(tmp_path / "fp.gpkg", [("x", url, 1000, None)])
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException) as err:
        run_alg("download_asf", _download_params(trusted, layer, tmp_path / "dl", BAD_CFG),
                feedback)
    assert "HTTP 401" in str(err.value) and "refused the user name and password" in str(err.value)
    _no_secret(err.value, repr(err.value), *feedback.text)
    assert not (tmp_path / "dl" / "x.bin").exists()
    # and a file that needs the login is refused without a token (401 from the pool)
    import requests

    assert requests.get(url, verify=trusted.cert, timeout=10).status_code == 401


def test_download_refuses_a_url_outside_asf(run_alg, trusted, authcfg, tmp_path):
    from qgis.core import QgsProcessingException

    layer = _footprint_gpkg(tmp_path / "fp.gpkg", [("x", "https://example.com/x.zip", 1, None)])
    logins = len(trusted.recorded("/api/users"))
    with pytest.raises(QgsProcessingException, match="not an ASF/Earthdata host"):
        run_alg("download_asf", _download_params(trusted, layer, tmp_path / "dl"))
    assert len(trusted.recorded("/api/users")) == logins  # no login was even attempted


# --------------------------------------------------- download (qgis_process)

def test_download_through_qgis_process(qgis_process, trusted, headless_auth, monkeypatch,
                                       tmp_path):
    folder, password_file = headless_auth
    content = os.urandom(80_000)
    url = trusted.add_file("/datapool/qp/granule.bin", content, drop_once=True)
    layer = _footprint_gpkg(tmp_path / "fp.gpkg", [
        ("granule", url, len(content), hashlib.md5(content).hexdigest())])
    monkeypatch.setenv("QGIS_AUTH_DB_DIR_PATH", str(folder))
    monkeypatch.setenv("QGIS_AUTH_PASSWORD_FILE", str(password_file))
    params = _download_params(trusted, layer, tmp_path / "dl", OUTPUT=str(tmp_path / "r.csv"))

    # the raw runner, to see stdout and stderr of a successful run too
    proc = qgis_cli.call(*qgis_cli.run_args("download_asf", params))
    _no_secret(proc.stdout, proc.stderr)
    result = json.loads(proc.stdout[proc.stdout.find("{"):])
    assert (tmp_path / "dl" / "granule.bin").read_bytes() == content
    assert result["results"]["DOWNLOADED"] == 1
    ranges = [r[2].get("Range") for r in trusted.recorded("/datapool/qp/granule.bin")]
    assert ranges == [None, f"bytes={len(content) // 2}-"]
    _no_secret(json.dumps(result))

    proc = qgis_process("download_asf", dict(params, AUTH=BAD_CFG), expect_failure=True)
    assert "HTTP 401" in proc.stdout + proc.stderr
    _no_secret(proc.stdout, proc.stderr)

    # without the master password file the database stays locked: a clear error, no prompt
    monkeypatch.delenv("QGIS_AUTH_PASSWORD_FILE")
    proc = qgis_process("download_asf", params, expect_failure=True)
    assert "QGIS_AUTH_PASSWORD_FILE" in proc.stdout + proc.stderr


def test_search_with_a_polygon_layer_in_another_crs(run_alg, trusted):
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeature,
                           QgsGeometry, QgsProject, QgsVectorLayer)

    layer = QgsVectorLayer("Polygon?crs=EPSG:32606", "aoi", "memory")
    wgs84 = QgsGeometry.fromWkt("POLYGON((-147.6 64.6,-147.4 64.6,-147.4 64.8,-147.6 64.8,"
                                "-147.6 64.6))")
    wgs84.transform(QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"),
                                           layer.crs(), QgsProject.instance()))
    feature = QgsFeature()
    feature.setGeometry(wgs84)
    layer.dataProvider().addFeatures([feature])
    result = run_alg("search_asf", {
        "AOI": layer, "DATASET": 1, "PROCESSING_LEVEL": "GRD_HD", "START": "2021-12-01",
        "CMR_HOST": trusted.host, "OUTPUT": "memory:",
    })
    _, feats = _features(result["OUTPUT"])
    assert sorted(feats) == [
        "S1B_IW_GRDH_1SDV_20211204T032038_20211204T032103_029870_0390CC_FC88-GRD_HD",
        "S1B_IW_GRDH_1SDV_20211216T032038_20211216T032103_030045_039655_2335-GRD_HD",
    ]
    form = dict(trusted.recorded("/search")[-1][3])
    lon_lat = [float(v) for v in (form.get("polygon") or form["bounding_box"]).split(",")]
    assert min(lon_lat[0::2]) == pytest.approx(-147.6, abs=1e-3)
    assert max(lon_lat[1::2]) == pytest.approx(64.8, abs=1e-3)
