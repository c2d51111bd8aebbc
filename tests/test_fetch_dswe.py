"""Fetch DSWE tiles for SAR footprints (USGS STAC, landsat-c2l3-dswe) and pair them,
against the local HTTPS replay server (tests/fetch_server.py, no internet).

The DSWE items are constructed (no recorded DSWE answer exists here; see
tools/derive_stac_replay.py); the INWAM / MASK tiles served are stand-ins cut
from the real OPERA DSWx-HLS raster in ../shared/data/misc (DSWx codes recoded
to DSWE's: cloud and snow 252/253 -> 9).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from shapely.geometry import Polygon

from fetch_server import (  # noqa: F401 (fixtures)
    DSWE_TILES, GOOD_CFG, RecordingFeedback, authcfg, dswe_arrays, dswe_file_name, dswe_standin,
    dswe_url_path, headless_auth, no_secret, server, shared_path_or_skip, trusted,
)
from plugin.engine.fetch import dswe as dswe_pairing
from rasters import write_vector

SAR_DATE = "2021-10-12T12:03:11Z"
# crosses the boundary between the two stand-in tiles of 2021-10-11
FOOTPRINT = Polygon([(-90.6, 16.8), (-90.25, 16.8), (-90.25, 17.05), (-90.6, 17.05)])
FAR = Polygon([(10, 0), (11, 0), (11, 1), (10, 1)])  # no DSWE there


@pytest.fixture(scope="module")
def tiles(server):
    """Register every stand-in INWAM and MASK tile (login needed); {(id, layer): bytes}."""
    shared_path_or_skip()
    served = {}
    for i, tile in enumerate(DSWE_TILES):
        for layer in ("INWAM", "MASK"):
            content = dswe_standin(tile, layer)
            server.add_file(dswe_url_path(tile, layer), content, auth=True,
                            drop_once=(i == 0 and layer == "INWAM"))
            served[(tile["id"], layer)] = content
    return served


def _sar_layer(path, footprints=((FOOTPRINT, "S1A_TEST_20211012"),), date=SAR_DATE):
    return write_vector(path, [g for g, _ in footprints], "EPSG:4326",
                        [{"granule": name, "start_time": date} for _, name in footprints])


def _params(server, layer, folder, **extra):
    return dict({"INPUT": layer, "MAX_DAYS": 1, "AUTH": GOOD_CFG, "FOLDER": str(folder),
                 "STAC_URL": server.stac_url, "ERS_HOST": server.host, "OUTPUT": "memory:"},
                **extra)


def test_fetch_dswe_then_pair(run_alg, trusted, authcfg, tiles, tmp_path):
    layer = _sar_layer(tmp_path / "sar.gpkg", [(FOOTPRINT, "S1A_TEST_20211012"),
                                               (FAR, "S1A_FAR_20211012")])
    folder = tmp_path / "dswe"
    feedback = RecordingFeedback()
    result = run_alg("fetch_dswe_tiles", _params(trusted, layer, folder), feedback)

    near = [t for t in DSWE_TILES if t["datetime"].startswith("2021-10-11")]
    assert sorted(p.name for p in folder.glob("*.TIF")) == sorted(
        dswe_file_name(t, "INWAM") for t in near)
    for tile in near:
        assert (folder / dswe_file_name(tile, "INWAM")).read_bytes() == tiles[(tile["id"], "INWAM")]
        assert (folder / "MASK" / dswe_file_name(tile, "MASK")).read_bytes() == \
            tiles[(tile["id"], "MASK")]
    assert not list(folder.rglob("*.part"))
    assert any("connection dropped" in t for t in feedback.text)
    no_secret(*feedback.text, result)
    feats = {f["dswe_id"]: f for f in result["OUTPUT"].getFeatures()}
    assert sorted(feats) == sorted(t["id"] for t in near)
    for tile in near:
        f = feats[tile["id"]]
        assert f["sar_granules"] == "S1A_TEST_20211012" and f["days_apart"] == 1
        assert f["date"] == "2021-10-11" and f["platform"] == "LANDSAT_8"
        assert f["tile"] == tile["id"].split("_")[2]
        assert json.loads(f["assets"])["inwam"].endswith(dswe_file_name(tile, "INWAM"))
        assert len(f["files"].split(";")) == 2
    assert sorted(Path(p).name for p in result["INWAM"]) == sorted(
        dswe_file_name(t, "INWAM") for t in near)
    assert result["DOWNLOADED"] == 4
    # the search asked for the DSWE collection within +/- 1 day of the SAR date
    bodies = [r[3] for r in trusted.recorded("/stac-server/search", "POST")][-2:]
    assert {b["datetime"] for b in bodies} == {"2021-10-11T00:00:00Z/2021-10-13T23:59:59Z"}
    assert all(b["collections"] == ["landsat-c2l3-dswe"] for b in bodies)

    # pair_sar_dswe runs straight on the download folder (the MASK subfolder stays out)
    pairs = run_alg("pair_sar_dswe", {
        "INPUT": layer, "DSWE_FOLDER": str(folder), "MAX_DAYS": 1, "MIN_WATER": 0.5,
        "MAX_CLOUD": 100, "MAX_NODATA": 100, "KEEP_REJECTED": True, "OUTPUT": "memory:"})
    rows = sorted(pairs["OUTPUT"].getFeatures(), key=lambda f: f["granule"])
    assert [(r["granule"], r["dswe_date"], r["days_apart"], r["passed"]) for r in rows] == [
        ("S1A_FAR_20211012", "2021-10-11", -1, False),  # no tile there: all no data
        ("S1A_TEST_20211012", "2021-10-11", -1, True)]
    assert rows[0]["nodata_fraction"] == 1.0
    rows = rows[1:]
    assert sorted(rows[0]["dswe_files"].split(";")) == sorted(
        dswe_file_name(t, "INWAM") for t in near)
    # the fractions are those of the fetched tiles inside the footprint
    expected = dswe_pairing.measure(FOOTPRINT.__geo_interface__,
                                    sorted(str(p) for p in folder.glob("*.TIF")))
    assert rows[0]["water_fraction"] == pytest.approx(expected["water"])
    assert rows[0]["cloud_fraction"] == pytest.approx(expected["cloud"])
    assert 0 < rows[0]["water_fraction"] < 0.2 and rows[0]["nodata_fraction"] < 0.05
    # ...and the water share matches the stand-in arrays (codes 1, 2) roughly
    inwam = np.concatenate([dswe_arrays(t)[0].ravel() for t in near])
    assert np.isin(inwam, (1, 2)).mean() == pytest.approx(rows[0]["water_fraction"], abs=0.02)

    # a second run downloads nothing
    again = run_alg("fetch_dswe_tiles", _params(trusted, layer, folder))
    assert again["DOWNLOADED"] == 0


def test_fetch_dswe_wider_window_and_no_tile(run_alg, trusted, authcfg, tiles, tmp_path):
    from qgis.core import QgsProcessingException

    layer = _sar_layer(tmp_path / "sar.gpkg")
    result = run_alg("fetch_dswe_tiles", _params(trusted, layer, tmp_path / "wide", MAX_DAYS=8,
                                                 LAYERS="INWAM"))
    assert sorted(f["dswe_id"] for f in result["OUTPUT"].getFeatures()) == sorted(
        t["id"] for t in DSWE_TILES)
    assert {f["days_apart"] for f in result["OUTPUT"].getFeatures()} == {1, 7}
    assert not (tmp_path / "wide" / "MASK").exists()

    far = _sar_layer(tmp_path / "far.gpkg", [(FAR, "S1A_FAR")])
    with pytest.raises(QgsProcessingException, match="No DSWE tile was found within 1 day"):
        run_alg("fetch_dswe_tiles", _params(trusted, far, tmp_path / "none"))
    old = _sar_layer(tmp_path / "old.gpkg", date="2019-01-01")
    with pytest.raises(QgsProcessingException, match="No DSWE tile"):
        run_alg("fetch_dswe_tiles", _params(trusted, old, tmp_path / "none"))


def test_fetch_dswe_needs_the_login(run_alg, trusted, authcfg, tiles, tmp_path):
    from qgis.core import QgsProcessingException

    layer = _sar_layer(tmp_path / "sar.gpkg")
    with pytest.raises(QgsProcessingException, match="needs a login"):
        run_alg("fetch_dswe_tiles", _params(trusted, layer, tmp_path / "anon", AUTH=None))
    with pytest.raises(QgsProcessingException, match="refused the user name and password"):
        run_alg("fetch_dswe_tiles", _params(trusted, layer, tmp_path / "bad", AUTH="wlusgs2"))


def test_fetch_dswe_through_qgis_process(qgis_process, trusted, headless_auth, tiles, monkeypatch,
                                         tmp_path):
    folder, password_file = headless_auth
    monkeypatch.setenv("QGIS_AUTH_DB_DIR_PATH", str(folder))
    monkeypatch.setenv("QGIS_AUTH_PASSWORD_FILE", str(password_file))
    layer = _sar_layer(tmp_path / "sar.gpkg")
    out = tmp_path / "dswe"
    result = qgis_process("fetch_dswe_tiles", _params(
        trusted, layer, out, OUTPUT=str(tmp_path / "tiles.gpkg")))
    assert result["results"]["DOWNLOADED"] == 4
    assert len(list(out.glob("*_INWAM.TIF"))) == 2
    pairs = qgis_process("pair_sar_dswe", {
        "INPUT": layer, "DSWE_FOLDER": str(out), "MIN_WATER": 0.5, "MAX_CLOUD": 100,
        "OUTPUT": str(tmp_path / "pairs.csv")})
    text = Path(pairs["results"]["OUTPUT"]).read_text()
    assert "S1A_TEST_20211012" in text and "2021-10-11" in text
    with rasterio.open(next(out.glob("*_INWAM.TIF"))) as src:
        assert src.crs.to_epsg() == 32615 and src.nodata == 255
