"""Never lose a user's data: each case runs through the real qgis_process.

Each test asserts the exit code, the message, and the files on disk before and
after: inputs keep their checksums, and a refused or failed run leaves no file,
GeoPackage or folder behind. Permission cases run qgis_process as an
unprivileged user (root may write anywhere).
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import fiona
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import LineString, box

import qgis_cli
from rasters import write_tif, write_vector

UTM22 = CRS.from_epsg(32622)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(folder):
    """Every file and folder under ``folder`` (relative), hidden ones included."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def failure(proc):
    assert proc.returncode != 0, f"expected a refusal, got exit 0:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def grey_scene(path, crs=UTM22, x0=500000.0, y0=7680000.0, size=300, pixel=50.0):
    rng = np.random.default_rng(0)
    data = (rng.random((size, size)) * 200 + 20).astype(np.uint8)
    return write_tif(path, data, crs=crs, transform=from_origin(x0, y0, pixel, pixel), nodata=0)


@pytest.fixture
def scenes(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    paths = [grey_scene(folder / f"LC08_L1TP_010011_2016070{i}_20170323_01_T1_B8.TIF") for i in (1, 2)]
    domain = write_vector(tmp_path / "domain.gpkg", [box(503000, 7670000, 510000, 7677000)], UTM22)
    return folder, paths, domain


def test_subset_into_the_scene_folder_is_refused(qgis_process, scenes, tmp_path):
    folder, paths, domain = scenes
    before = {p: digest(p) for p in paths}
    listing = tree(folder)
    text = failure(qgis_process("subset_scenes", {
        "FOLDER": str(folder), "DOMAIN": domain, "OUTPUT_FOLDER": str(folder),
        "OUTPUT_TABLE": str(tmp_path / "report.csv")}, expect_failure=True))
    assert "holds the input" in text and "choose another output folder" in text
    assert {p: digest(p) for p in paths} == before
    assert tree(folder) == listing
    assert not (tmp_path / "report.csv").exists()


def test_raster_output_over_its_input_is_refused_and_reruns_drop_stale_sidecars(qgis_process, scenes, tmp_path):
    _, paths, _ = scenes
    src = paths[0]
    before = digest(src)
    text = failure(qgis_process("layer_calfin_input", {"INPUT": src, "OUTPUT": src}, expect_failure=True))
    assert "is one of this run's inputs" in text
    assert digest(src) == before
    # A plain rerun to the same output path: the old file's statistics sidecar goes with it.
    out = tmp_path / "layered.tif"
    qgis_process("layer_calfin_input", {"INPUT": src, "OUTPUT": str(out)})
    Path(str(out) + ".aux.xml").write_text("<PAMDataset>stale statistics</PAMDataset>")
    qgis_process("layer_calfin_input", {"INPUT": src, "OUTPUT": str(out)})
    assert not Path(str(out) + ".aux.xml").exists()
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.read(1).max() > 0


def fronts_gpkg(path):
    schema = {"geometry": "LineString", "properties": {"scene_id": "str", "quality": "str"}}
    with fiona.open(path, "w", driver="GPKG", layer="calving_fronts", crs=UTM22.to_string(), schema=schema) as dst:
        for i in range(3):
            dst.write({"geometry": LineString([(503000 + i * 100, 7672000), (509000, 7673000)]).__geo_interface__,
                       "properties": {"scene_id": f"old_scene_{i}", "quality": "good"}})
    return str(path)


def test_fronts_into_the_append_geopackage_are_refused(qgis_process, scenes, tmp_path):
    _, paths, _ = scenes
    gpkg = fronts_gpkg(tmp_path / "glacier.gpkg")
    before = digest(gpkg)
    text = failure(qgis_process("detect_calving_fronts", {
        "INPUT": paths[0], "APPEND_GPKG": gpkg, "OUTPUT": gpkg}, expect_failure=True))
    assert "is one of this run's inputs" in text
    assert digest(gpkg) == before
    with fiona.open(gpkg, layer="calving_fronts") as src:
        assert len(src) == 3


def test_a_failed_fronts_run_leaves_no_geopackage_or_folder(qgis_process, tmp_path):
    # A 4-band raster is refused by the front pipeline after the outputs were set up.
    bad = write_tif(tmp_path / "four_bands.tif", np.ones((4, 64, 64), np.uint8), crs=UTM22,
                    transform=from_origin(500000, 7680000, 50, 50))
    out = tmp_path / "out"
    text = failure(qgis_process("detect_calving_fronts", {
        "INPUT": bad, "OUTPUT": str(out / "fronts.gpkg"), "OUTPUT_ICE": str(out / "ice.gpkg"),
        "PROB_FOLDER": str(out / "prob"), "QA_FOLDER": str(out / "qa")}, expect_failure=True))
    assert "has 4 bands" in text
    assert "readonly database" not in text  # the open sinks were closed before their files went
    assert not out.exists() or tree(out) == []


def test_a_failed_water_run_leaves_none_of_its_outputs(qgis_process, tmp_path):
    # A stack with VV and VH runs the model; the polygon output then cannot be written (a folder
    # stands where the file should go), so probability and mask must not stay behind either.
    rng = np.random.default_rng(1)
    stack = write_tif(tmp_path / "stack.tif", (rng.random((2, 256, 256)) * -20).astype(np.float32), crs=UTM22,
                      transform=from_origin(500000, 7680000, 10, 10), descriptions=["VV", "VH"])
    (tmp_path / "polygons.gpkg").mkdir()
    failure(qgis_process("detect_water", {
        "INPUT": stack, "OUTPUT_PROB": str(tmp_path / "prob.tif"), "OUTPUT_MASK": str(tmp_path / "mask.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "polygons.gpkg")}, expect_failure=True))
    # QGIS may cache the input's statistics beside it (stack.tif.aux.xml); nothing of the run's own stays.
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "stack.tif.aux.xml")
    assert left == ["polygons.gpkg", "stack.tif"]
    assert list((tmp_path / "polygons.gpkg").iterdir()) == []


def test_a_domain_in_degrees_over_utm_scenes_gives_square_metre_subsets(qgis_process, scenes, tmp_path):
    from rasterio.warp import transform_geom

    folder, _, _ = scenes
    degrees = transform_geom(UTM22, "EPSG:4326", box(503000, 7670000, 510000, 7677000).__geo_interface__)
    from shapely.geometry import shape

    domain = write_vector(tmp_path / "domain_4326.gpkg", [shape(degrees)], CRS.from_epsg(4326))
    result = qgis_process("subset_scenes", {
        "FOLDER": str(folder), "DOMAIN": domain, "OUTPUT_FOLDER": str(tmp_path / "subsets"),
        "OUTPUT_TABLE": str(tmp_path / "report.csv")})
    assert int(result["results"]["ACCEPTED"]) == 2
    with rasterio.open(result["results"]["FIRST_SUBSET"]) as ds:
        assert ds.crs == UTM22
        assert ds.res == (50.0, 50.0)


def test_utm_coordinates_labelled_as_degrees_are_named(qgis_process, scenes, tmp_path):
    folder, _, _ = scenes
    wrong = write_vector(tmp_path / "mislabelled.gpkg", [box(503000, 7670000, 510000, 7677000)],
                         CRS.from_epsg(4326))
    text = failure(qgis_process("subset_scenes", {
        "FOLDER": str(folder), "DOMAIN": wrong, "OUTPUT_FOLDER": str(tmp_path / "subsets"),
        "OUTPUT_TABLE": str(tmp_path / "report.csv")}, expect_failure=True))
    assert "do not look like degrees" in text
    assert not (tmp_path / "subsets").exists() and not (tmp_path / "report.csv").exists()


def test_a_damaged_file_is_named_as_damaged(qgis_process, scenes, tmp_path):
    _, paths, _ = scenes
    damaged = tmp_path / "damaged.tif"
    with rasterio.open(paths[0]) as src:
        profile = dict(src.profile, tiled=False, compress=None)
        data = src.read()
    with rasterio.open(damaged, "w", **profile) as dst:
        dst.write(data)
    size = damaged.stat().st_size
    with open(damaged, "r+b") as fh:
        fh.truncate(size // 2)
    text = failure(qgis_process("layer_calfin_input", {"INPUT": str(damaged), "OUTPUT": str(tmp_path / "l.tif")},
                               expect_failure=True))
    assert "damaged" in text and "all nodata" not in text
    assert not (tmp_path / "l.tif").exists()


def test_enum_values_that_help_suggests_are_accepted(qgis_process, scenes, tmp_path):
    _, paths, _ = scenes
    # qgis_process help lists MODEL and DEVICE as numbered options: the numbers must work.
    result = qgis_process("run_model", {"INPUT": paths[0], "MODEL": "0", "DEVICE": "1", "BAND_MAP": "1,1,1",
                                        "OUTPUT_PROB": str(tmp_path / "p.tif"),
                                        "OUTPUT_CLASS": str(tmp_path / "c.tif")})
    assert int(result["results"]["TILES_RUN"]) > 0


# ---------------------------------------------------------------- as an unprivileged user

NOBODY = 65534


def run_as_nobody(name, params):
    """qgis_process as user nobody, in a copy of the test profile that user may write."""
    home = Path(tempfile.mkdtemp(prefix="waterline-nobody-"))
    shutil.copytree(qgis_cli.PROFILE, home / "profile", symlinks=True,
                    ignore=shutil.ignore_patterns("asf-auth", "*.partial*"))
    (home / "xdg").mkdir(mode=0o700)
    for path in [home, *home.rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home / "xdg"),
               QGIS_CUSTOM_CONFIG_PATH=str(home / "profile"), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=qgis_cli.venv_path())
    args = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            qgis_cli.QGIS_PROCESS, *qgis_cli.run_args(name, params)]
    try:
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def locked(qgis_process_enabled):
    """A folder user nobody may read but not write, and inputs nobody may read."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run qgis_process as another user")
    base = Path(tempfile.mkdtemp(prefix="waterline-locked-"))
    base.chmod(0o755)
    (base / "locked").mkdir(mode=0o555)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_table_output_in_a_folder_the_user_cannot_write(locked):
    pred = write_tif(locked / "pred.tif", np.ones((40, 40), np.uint8), crs=UTM22,
                     transform=from_origin(500000, 7680000, 10, 10))
    proc = run_as_nobody("compare_water_maps", {"INPUT": pred, "REFERENCE": pred,
                                                "OUTPUT": str(locked / "locked" / "scores.csv")})
    text = failure(proc)
    assert "is not writable" in text and "Traceback" not in text
    assert os.listdir(locked / "locked") == []


def test_folder_output_in_a_folder_the_user_cannot_write(locked):
    folder = locked / "scenes"
    folder.mkdir()
    grey_scene(folder / "LC08_L1TP_010011_20160701_20170323_01_T1_B8.TIF")
    domain = write_vector(locked / "domain.gpkg", [box(503000, 7670000, 510000, 7677000)], UTM22)
    for path in locked.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (locked / "locked").chmod(0o555)
    proc = run_as_nobody("subset_scenes", {"FOLDER": str(folder), "DOMAIN": domain,
                                           "OUTPUT_FOLDER": str(locked / "locked" / "subsets"),
                                           "OUTPUT_TABLE": "TEMPORARY_OUTPUT"})
    text = failure(proc)
    assert "is not writable" in text and "Traceback" not in text and "PermissionError" not in text
    assert os.listdir(locked / "locked") == []
