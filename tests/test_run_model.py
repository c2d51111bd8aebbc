"""waterline:run_model through processing.run and through the real qgis_process."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from qgis.core import QgsProcessingException, QgsProcessingFeedback

from conftest import shared_path
from onnx_factory import conv_net
from plugin.engine.core.inference import NODATA_CLASS, NODATA_PROB, predict_raster
from plugin.engine.core.model import load_model
from rasters import TRANSFORM, UTM, UTM_GRID, sar_like, write_tif


class Recorder(QgsProcessingFeedback):
    """A feedback that keeps what the algorithm reported."""

    def __init__(self):
        super().__init__()
        self.errors, self.warnings, self.infos = [], [], []

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning):  # noqa: N802
        self.warnings.append(warning)
        super().pushWarning(warning)

    def pushInfo(self, info):  # noqa: N802
        self.infos.append(info)
        super().pushInfo(info)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return conv_net(tmp_path_factory.mktemp("m") / "sar.onnx", tile=64, overlap=16,
                    normalization=[{"method": "percentile", "low": 1, "high": 99, "db": "auto"},
                                   {"method": "scale", "scale": 0.02, "offset": -1.0}])


def failure_text(run_alg, params):
    feedback = Recorder()
    with pytest.raises(QgsProcessingException) as err:
        run_alg("run_model", params, feedback=feedback)
    return " ".join([str(err.value)] + feedback.errors)


def test_run_model_writes_probability_and_class(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "in.tif", sar_like(), descriptions=["VV", "VH"], **UTM_GRID)
    prob, cls = tmp_path / "prob.tif", tmp_path / "class.tif"
    feedback = Recorder()
    result = run_alg("run_model", {
        "INPUT": str(src), "MODEL_FILE": str(model_file), "DEVICE": "cpu", "THREADS": 1,
        "THRESHOLD": 0.4, "OUTPUT_PROB": str(prob), "OUTPUT_CLASS": str(cls),
    }, feedback=feedback)
    assert result["OUTPUT_PROB"] == str(prob) and result["OUTPUT_CLASS"] == str(cls)
    assert result["TILES_RUN"] == 12 and result["PROVIDER"] == "CPUExecutionProvider"
    assert any("CPUExecutionProvider" in line for line in feedback.infos)
    engine_model = load_model(model_file, device="cpu")
    predict_raster(engine_model, src, tmp_path / "ref.tif")
    with rasterio.open(prob) as p, rasterio.open(cls) as c, rasterio.open(tmp_path / "ref.tif") as r:
        assert p.crs == UTM and p.transform == TRANSFORM and c.crs == UTM
        np.testing.assert_allclose(p.read(1), r.read(1), atol=1e-6)
        np.testing.assert_array_equal(c.read(1), (r.read(1) >= 0.4).astype(np.uint8))


def test_band_mapping_parameter(run_alg, model_file, tmp_path):
    array = sar_like()
    src = write_tif(tmp_path / "swapped.tif", array[::-1].copy(), **UTM_GRID)  # VH first, no descriptions
    ref = write_tif(tmp_path / "ordered.tif", array, **UTM_GRID)
    run_alg("run_model", {"INPUT": str(src), "MODEL_FILE": str(model_file), "BAND_MAP": "VV=2,VH=1",
                          "OUTPUT_PROB": str(tmp_path / "a.tif"), "OUTPUT_CLASS": None})
    run_alg("run_model", {"INPUT": str(ref), "MODEL_FILE": str(model_file),
                          "OUTPUT_PROB": str(tmp_path / "b.tif"), "OUTPUT_CLASS": None})
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=1e-6)
    assert not list(tmp_path.glob("*class*"))


def test_wrong_band_count(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "one.tif", sar_like()[:1].copy(), **UTM_GRID)
    text = failure_text(run_alg, {"INPUT": str(src), "MODEL_FILE": str(model_file),
                                  "OUTPUT_PROB": str(tmp_path / "p.tif")})
    assert "the model expects 2 bands (VV, VH) but the input has 1" in text
    assert not (tmp_path / "p.tif").exists()


def test_model_without_metadata(run_alg, tmp_path):
    bare = conv_net(tmp_path / "bare.onnx", props={})
    src = write_tif(tmp_path / "in.tif", sar_like(), **UTM_GRID)
    text = failure_text(run_alg, {"INPUT": str(src), "MODEL_FILE": str(bare),
                                  "OUTPUT_PROB": str(tmp_path / "p.tif")})
    assert "bare.onnx" in text and "no Waterline metadata" in text


def test_geographic_crs_refused(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "geo.tif", sar_like(), crs=CRS.from_epsg(4326),
                transform=from_origin(10.0, 60.0, 0.0001, 0.0001))
    text = failure_text(run_alg, {"INPUT": str(src), "MODEL_FILE": str(model_file),
                                  "OUTPUT_PROB": str(tmp_path / "p.tif")})
    assert "geographic CRS" in text and "reproject" in text


def test_pixel_size_warning(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "coarse.tif", sar_like(), crs=UTM, transform=from_origin(500000, 7000000, 40, 40))
    feedback = Recorder()
    run_alg("run_model", {"INPUT": str(src), "MODEL_FILE": str(model_file),
                          "OUTPUT_CLASS": str(tmp_path / "c.tif")}, feedback=feedback)
    assert any("40 m" in w and "10 m" in w for w in feedback.warnings)
    assert (tmp_path / "c.tif").exists()


def test_all_nodata_refused(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "empty.tif", np.full((2, 80, 80), -9999, np.float32), nodata=-9999, **UTM_GRID)
    text = failure_text(run_alg, {"INPUT": str(src), "MODEL_FILE": str(model_file),
                                  "OUTPUT_PROB": str(tmp_path / "p.tif")})
    assert "no valid pixels" in text
    assert not (tmp_path / "p.tif").exists()


@pytest.fixture
def shipped(monkeypatch):
    """Replace the weights/ listing the algorithm sees."""
    import waterline.processing_provider.algorithms.run_model as module

    def use(models):
        monkeypatch.setattr(module, "shipped_models", lambda: models)
    return use


def test_shipped_model_choice(run_alg, model_file, shipped, tmp_path):
    from plugin.engine.core.model import read_meta

    shipped([(model_file, read_meta(model_file))])
    src = write_tif(tmp_path / "in.tif", sar_like(), **UTM_GRID)
    result = run_alg("run_model", {"INPUT": str(src), "MODEL": "sar", "OUTPUT_CLASS": str(tmp_path / "c.tif"),
                                   "OUTPUT_PROB": None})
    assert result["TILES_RUN"] == 12
    with rasterio.open(tmp_path / "c.tif") as c:
        assert set(np.unique(c.read(1))) == {0, 1}


def test_no_model_given(run_alg, shipped, tmp_path):
    shipped([])
    src = write_tif(tmp_path / "in.tif", sar_like(), **UTM_GRID)
    text = failure_text(run_alg, {"INPUT": str(src), "OUTPUT_PROB": str(tmp_path / "p.tif")})
    assert "give a model file" in text


def test_no_output_chosen(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "in.tif", sar_like(), **UTM_GRID)
    text = failure_text(run_alg, {"INPUT": str(src), "MODEL_FILE": str(model_file),
                                  "OUTPUT_PROB": None, "OUTPUT_CLASS": None})
    assert "at least one output" in text


def test_cancelled_run_leaves_nothing(run_alg, model_file, tmp_path):
    src = write_tif(tmp_path / "in.tif", sar_like(200, 200), **UTM_GRID)
    out = tmp_path / "out"
    out.mkdir()
    feedback = Recorder()
    feedback.cancel()
    with pytest.raises(QgsProcessingException):
        run_alg("run_model", {"INPUT": str(src), "MODEL_FILE": str(model_file),
                              "OUTPUT_PROB": str(out / "p.tif"), "OUTPUT_CLASS": str(out / "c.tif")},
                feedback=feedback)
    assert os.listdir(out) == []


def test_qgis_process_end_to_end(qgis_process, tmp_path):
    """The real command line on a real Landsat scene (3 bands, UTM 18N, nodata collar)."""
    path = shared_path("misc", "landsat7_RGB.byte.tif")
    model = conv_net(tmp_path / "rgb.onnx", channels=("red", "green", "blue"), tile=128, overlap=32,
                     pixel_size_m=300.0, normalization=[{"method": "percentile", "low": 2, "high": 98}] * 3)
    prob, cls = tmp_path / "prob.tif", tmp_path / "class.tif"
    out = qgis_process("run_model", {
        "INPUT": str(path), "MODEL_FILE": str(model), "DEVICE": "cpu", "THREADS": 1,
        "BATCH_SIZE": 8, "OUTPUT_PROB": str(prob), "OUTPUT_CLASS": str(cls),
    })
    assert out["results"]["OUTPUT_PROB"] == str(prob)
    assert out["results"]["PROVIDER"] == "CPUExecutionProvider"
    predict_raster(load_model(model, device="cpu"), path, tmp_path / "ref.tif", batch_size=8)
    with rasterio.open(path) as src:
        valid = (np.stack([src.read_masks(b) for b in (1, 2, 3)]) > 0).all(axis=0)
    with rasterio.open(prob) as p, rasterio.open(cls) as c, rasterio.open(tmp_path / "ref.tif") as r:
        assert p.crs == CRS.from_epsg(32618) and c.crs == CRS.from_epsg(32618)
        assert p.transform == r.transform
        pr, cl = p.read(1), c.read(1)
        np.testing.assert_allclose(pr, r.read(1), atol=1e-6)
    assert (pr[~valid] == NODATA_PROB).all() and (cl[~valid] == NODATA_CLASS).all()
    assert (cl[valid] == (pr[valid] >= 0.5)).all()
    assert 0 < cl[valid].mean() < 1
