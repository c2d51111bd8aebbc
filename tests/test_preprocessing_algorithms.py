"""Preprocessing algorithms through processing.run and the real qgis_process."""

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from shapely.geometry import LineString, box

from conftest import shared_path
from rasters import POLAR, png_to_tif, profile, read, write_tif, write_vector

UTM18 = CRS.from_epsg(32618)
JAKOBSHAVN = "LE07_L1TP_010011"  # one Landsat path/row: co-registered subsets of one glacier


@pytest.fixture
def landsat_domain(tmp_path):
    """The real Landsat 7 raster, and two named domains inside it (UTM 18N)."""
    src = str(shared_path("misc", "landsat7_RGB.byte.tif"))
    with rasterio.open(src) as ds:
        b = ds.bounds
    inner = box(b.left + 50000, b.bottom + 50000, b.left + 110000, b.bottom + 100000)
    outside = box(b.right + 1000, b.bottom, b.right + 20000, b.bottom + 20000)
    domains = write_vector(tmp_path / "domains.gpkg", [inner, outside], UTM18,
                           [{"glacier": "inner"}, {"glacier": "outside"}])
    return src, domains, inner


def test_subset_scenes_writes_grid_and_report(run_alg, landsat_domain, tmp_path):
    src, domains, inner = landsat_domain
    result = run_alg("subset_scenes", {
        "INPUTS": [src], "DOMAIN": domains, "DOMAIN_FIELD": "glacier", "DOMAIN_VALUE": "inner",
        "PIXEL_SIZE": 600.0, "OUTPUT_FOLDER": str(tmp_path / "subsets"),
        "OUTPUT_TABLE": str(tmp_path / "report.csv"),
    })
    assert result["ACCEPTED"] == 1
    with rasterio.open(result["FIRST_SUBSET"]) as ds:
        assert ds.crs == UTM18 and ds.res == (600.0, 600.0)
        # 60 km x 50 km at 600 m, snapped outward to multiples of the pixel size
        assert ds.transform.c % 600 == 0 and ds.transform.f % 600 == 0
        assert (ds.width, ds.height) == (101, 85)
        assert ds.bounds.left <= inner.bounds[0] and ds.bounds.right >= inner.bounds[2]
        assert ds.bounds.bottom <= inner.bounds[1] and ds.bounds.top >= inner.bounds[3]
        assert ds.count == 3
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["scene", "status", "reason"]
    assert rows[1].startswith("landsat7_RGB.byte,accepted")


def test_subset_scenes_refuses_domain_without_overlap(run_alg, landsat_domain, tmp_path):
    from qgis.core import QgsProcessingException

    src, domains, _ = landsat_domain
    with pytest.raises(QgsProcessingException, match="does not overlap the domain"):
        run_alg("subset_scenes", {
            "INPUTS": [src], "DOMAIN": domains, "DOMAIN_FIELD": "glacier", "DOMAIN_VALUE": "outside",
            "OUTPUT_FOLDER": str(tmp_path / "subsets"), "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
        })
    with pytest.raises(QgsProcessingException, match="No domain feature has glacier = nowhere"):
        run_alg("subset_scenes", {
            "INPUTS": [src], "DOMAIN": domains, "DOMAIN_FIELD": "glacier", "DOMAIN_VALUE": "nowhere",
            "OUTPUT_FOLDER": str(tmp_path / "subsets"), "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
        })


def test_subset_scenes_cancelled_run_leaves_no_subsets(run_alg, landsat_domain, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    src, domains, _ = landsat_domain
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda _: feedback.cancel())
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg("subset_scenes", {
            "INPUTS": [src, src], "DOMAIN": domains, "PIXEL_SIZE": 30.0,
            "OUTPUT_FOLDER": str(tmp_path / "subsets"), "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
        }, feedback=feedback)
    assert not list((tmp_path / "subsets").glob("*"))


def test_layer_calfin_input(run_alg, tmp_path):
    png = sorted(shared_path("fronts-landsat", "images").glob(JAKOBSHAVN + "_*"))[0]
    tif = png_to_tif(png, tmp_path / "scene.tif")
    out = tmp_path / "layered.tif"
    run_alg("layer_calfin_input", {"INPUT": tif, "BAND": 1, "OUTPUT": str(out)})
    prof, names = profile(out)
    assert prof["count"] == 3 and prof["dtype"] == "uint8" and prof["nodata"] == 0
    assert prof["crs"] == POLAR
    assert names == ["RAW", "LOCAL_CONTRAST", "SHADOWS_HIGHLIGHTS"]
    assert read(out).min() >= 1  # no nodata in this scene


def test_layer_calfin_input_refuses_all_nodata(run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    tif = write_tif(tmp_path / "empty.tif", np.zeros((40, 40), np.uint8), nodata=0)
    with pytest.raises(QgsProcessingException, match="all nodata"):
        run_alg("layer_calfin_input", {"INPUT": tif, "OUTPUT": str(tmp_path / "o.tif")})
    assert not (tmp_path / "o.tif").exists()


def test_layer_stack_bands_names_and_reference_grid(run_alg, tmp_path):
    src = str(shared_path("misc", "landsat7_RGB.byte.tif"))
    dem = str(shared_path("misc", "hydrosheds_dem_dallas.tif"))
    out = tmp_path / "stack.tif"
    run_alg("layer_stack_bands", {"INPUTS": [src], "NAMES": "RED,GREEN,BLUE", "OUTPUT": str(out)})
    prof, names = profile(out)
    assert names == ["RED", "GREEN", "BLUE"] and prof["dtype"] == "float32"
    np.testing.assert_array_equal(read(out, 1)[300, 300], read(src, 1)[300, 300])
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="does not overlap"):
        run_alg("layer_stack_bands", {"INPUTS": [dem], "REFERENCE": src, "OUTPUT": str(tmp_path / "x.tif")})
    with pytest.raises(QgsProcessingException, match="2 band names were given but the inputs have 3"):
        run_alg("layer_stack_bands", {"INPUTS": [src], "NAMES": "A,B", "OUTPUT": str(tmp_path / "y.tif")})


def test_fjord_mask_reprojects_boundaries(run_alg, tmp_path):
    ref = write_tif(tmp_path / "ref.tif", np.ones((100, 100), np.uint8))
    with rasterio.open(ref) as ds:
        b = ds.bounds
    fjord_poly = box(b.left + 1000, b.bottom + 1000, b.right - 1000, b.top - 1000)
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape
    wgs84 = shape(transform_geom(POLAR, CRS.from_epsg(4326), mapping(fjord_poly)))
    layer = write_vector(tmp_path / "fjord.gpkg", [wgs84], CRS.from_epsg(4326))
    out = tmp_path / "mask.tif"
    run_alg("fjord_mask", {"REFERENCE": ref, "BOUNDARIES": layer, "OUTPUT": str(out)})
    mask = read(out, 1)
    assert mask[50, 50] == 1 and mask[2, 2] == 0 and mask[50, 20] == 0  # wall at ~20 px
    assert 0.25 < mask.mean() < 0.36  # 60 x 60 px interior minus its walls


def test_fjord_mask_refuses_empty_layer(run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    ref = write_tif(tmp_path / "ref.tif", np.ones((20, 20), np.uint8))
    empty = tmp_path / "empty.gpkg"
    import fiona
    with fiona.open(empty, "w", driver="GPKG", crs="EPSG:3413",
                    schema={"geometry": "LineString", "properties": {}}):
        pass
    with pytest.raises(QgsProcessingException, match="no features"):
        run_alg("fjord_mask", {"REFERENCE": ref, "BOUNDARIES": str(empty), "OUTPUT": str(tmp_path / "m.tif")})


def _jakobshavn_folder(tmp_path, count=4):
    folder = tmp_path / "scenes"
    folder.mkdir()
    pngs = sorted(shared_path("fronts-landsat", "images").glob(JAKOBSHAVN + "_*"))[:count]
    for p in pngs:
        png_to_tif(p, folder / (p.stem + ".tif"))
    return folder


def test_fjord_mask_from_stack_on_real_subsets(run_alg, tmp_path):
    folder = _jakobshavn_folder(tmp_path)
    out = tmp_path / "starter.tif"
    run_alg("fjord_mask_from_stack", {"FOLDER": str(folder), "OUTPUT": str(out)})
    mask = read(out, 1)
    assert mask.shape == (300, 200) and set(np.unique(mask)) <= {0, 1}
    assert 0.02 < (mask == 0).mean() < 0.6


# --- the real command line ---------------------------------------------------

def test_qgis_process_runs_each_preprocessing_algorithm(qgis_process, landsat_domain, tmp_path):
    src, domains, _ = landsat_domain
    res = qgis_process("subset_scenes", {
        "INPUTS": src, "DOMAIN": domains, "PIXEL_SIZE": 300, "OUTPUT_FOLDER": tmp_path / "subsets",
        "OUTPUT_TABLE": tmp_path / "report.csv"})
    subset_path = res["results"]["FIRST_SUBSET"]
    assert res["results"]["ACCEPTED"] == 1
    with rasterio.open(subset_path) as ds:
        assert ds.crs == UTM18 and ds.res == (300.0, 300.0)

    res = qgis_process("layer_calfin_input", {"INPUT": subset_path, "BAND": 1, "OUTPUT": tmp_path / "layered.tif"})
    assert read(res["results"]["OUTPUT"]).shape[0] == 3

    res = qgis_process("layer_stack_bands", {"INPUTS": subset_path, "NAMES": "HH,HV,DEM",
                                             "OUTPUT": tmp_path / "stack.tif"})
    assert profile(res["results"]["OUTPUT"])[1] == ["HH", "HV", "DEM"]

    with rasterio.open(subset_path) as ds:
        b = ds.bounds
    walls = write_vector(tmp_path / "walls.gpkg",
                         [LineString([(b.left + 3000, b.bottom), (b.left + 3000, b.top)])], UTM18)
    res = qgis_process("fjord_mask", {"REFERENCE": subset_path, "BOUNDARIES": walls,
                                      "OUTPUT": tmp_path / "mask.tif"})
    mask = read(res["results"]["OUTPUT"], 1)
    assert mask[:, 10].max() == 0 and mask[:, 50].min() == 1

    res = qgis_process("fjord_mask_from_stack", {"INPUTS": [subset_path, tmp_path / "layered.tif"],
                                                 "OUTPUT": tmp_path / "starter.tif"})
    assert read(res["results"]["OUTPUT"], 1).shape == mask.shape


def test_qgis_process_reports_bad_input_clearly(qgis_process, tmp_path):
    tif = write_tif(tmp_path / "empty.tif", np.zeros((40, 40), np.uint8), nodata=0)
    proc = qgis_process("layer_calfin_input", {"INPUT": tif, "OUTPUT": tmp_path / "o.tif"},
                        expect_failure=True)
    assert "holds no valid pixels (all nodata)" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "o.tif").exists()


def test_calfin_preprocessing_model_chains_the_three_steps(qgis_process, tmp_path):
    folder = _jakobshavn_folder(tmp_path, 3)
    with rasterio.open(next(folder.glob("*.tif"))) as ds:
        b = ds.bounds
    domain = write_vector(tmp_path / "domain.gpkg",
                          [box(b.left + 490, b.bottom + 490, b.right - 490, b.top - 490)], POLAR)
    walls = write_vector(tmp_path / "walls.gpkg",
                         [LineString([(b.left + 2000, b.bottom), (b.left + 2000, b.top)]),
                          LineString([(b.right - 2000, b.bottom), (b.right - 2000, b.top)])], POLAR)
    res = qgis_process("Prepare calving-front inputs", {
        "scenes": folder, "domain": domain, "boundaries": walls,
        "subset:Subsets": tmp_path / "subsets", "subset:Subset report": tmp_path / "report.csv",
        "layer:Layered input": tmp_path / "layered.tif", "fjord:Fjord mask": tmp_path / "mask.tif"})
    assert len(list((tmp_path / "subsets").glob("*.tif"))) == 3
    layered = read(tmp_path / "layered.tif")
    mask = read(tmp_path / "mask.tif", 1)
    # the domain (10 px inside the scene on each side) snapped outward to multiples of 49 m
    assert layered.shape == (3, 281, 181)
    assert mask.shape == (281, 181)
    assert mask[:, 31].max() == 0 and mask[:, 60].min() == 1  # west wall ~2 km from the scene edge
    assert "fjord:Fjord mask" in res["results"]
