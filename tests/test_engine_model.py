"""Model loading, contract validation, execution providers, normalisation."""

import json

import numpy as np
import pytest

from onnx_factory import conv_net, default_meta
from plugin.engine.core import normalize
from plugin.engine.core.contract import ContractError
from plugin.engine.core.model import find_models, load_model
from rasters import write_tif


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return conv_net(tmp_path_factory.mktemp("m") / "net.onnx")


def test_load_valid_model(model_path):
    model = load_model(model_path, device="cpu", threads=1)
    assert model.channels == ["VV", "VH"]
    assert model.outputs == ["water"]
    assert model.meta["task"] == "water"
    assert model.meta["tile_size"] == 64 and model.meta["overlap"] == 16
    assert model.providers_used == ["CPUExecutionProvider"]
    out = model.predict(np.random.default_rng(0).random((3, 2, 20, 24), dtype=np.float32))
    assert out.shape == (3, 1, 20, 24) and out.dtype == np.float32
    assert ((out > 0) & (out < 1)).all()


def test_auto_device_uses_what_onnxruntime_has(model_path):
    import onnxruntime as ort

    model = load_model(model_path, device="auto")
    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() \
        else "CPUExecutionProvider"
    assert model.providers_used[0] == expected


def test_cuda_refused_without_gpu_runtime(model_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        load_model(model_path, device="cuda")


def test_log_receives_provider(model_path):
    lines = []
    load_model(model_path, device="cpu", log=lines.append)
    assert any("CPUExecutionProvider" in line for line in lines)


def test_missing_key_refused(tmp_path):
    props = default_meta()
    del props["tile_size"]
    path = conv_net(tmp_path / "m.onnx", props=props)
    with pytest.raises(ContractError, match="tile_size"):
        load_model(path)


def test_no_metadata_refused(tmp_path):
    path = conv_net(tmp_path / "bare.onnx", props={})
    with pytest.raises(ContractError, match="no Waterline metadata") as err:
        load_model(path)
    assert "bare.onnx" in str(err.value)


def test_input_scale_is_optional_and_checked(tmp_path):
    assert load_model(conv_net(tmp_path / "plain.onnx")).meta["input_scale"] == "any"
    assert load_model(conv_net(tmp_path / "r8.onnx", meta={"input_scale": "render8"})).meta["input_scale"] == "render8"
    with pytest.raises(ContractError, match="input_scale 'bytes' is not one of any, calibrated, render8"):
        load_model(conv_net(tmp_path / "bad.onnx", meta={"input_scale": "bytes"}))


def test_sensors_is_optional_and_checked(tmp_path):
    assert load_model(conv_net(tmp_path / "plain.onnx")).meta["sensors"] == "any"
    assert load_model(conv_net(tmp_path / "opt.onnx", meta={"sensors": "optical"})).meta["sensors"] == "optical"
    with pytest.raises(ContractError, match="sensors 'radar' is not one of any, optical, sar"):
        load_model(conv_net(tmp_path / "bad.onnx", meta={"sensors": "radar"}))


def test_bad_json_refused(tmp_path):
    path = conv_net(tmp_path / "m.onnx", meta={"normalization": "[{'method': 'none'"})
    with pytest.raises(ContractError, match="normalization is not valid JSON"):
        load_model(path)


def test_channel_mismatch_refused(tmp_path):
    norm = json.dumps([{"method": "none"}] * 3)
    path = conv_net(tmp_path / "m.onnx", meta={"channels": "VV,VH,HAND", "normalization": norm})
    with pytest.raises(ContractError, match=r"declares 3 channels \(VV, VH, HAND\) but the input tensor has 2"):
        load_model(path)


def test_output_count_mismatch_refused(tmp_path):
    outputs = json.dumps([{"name": "water"}, {"name": "flood"}])
    path = conv_net(tmp_path / "m.onnx", meta={"outputs": outputs})
    with pytest.raises(ContractError, match="declares 2 outputs but the output tensor has 1"):
        load_model(path)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "absent.onnx")


def test_find_models_skips_invalid(tmp_path):
    conv_net(tmp_path / "a_good.onnx")
    conv_net(tmp_path / "b_bad.onnx", props={"task": "water"})
    (tmp_path / "notes.md").write_text("not a model")
    skipped = []
    found = find_models(tmp_path, skipped=skipped)
    assert [p.name for p, _ in found] == ["a_good.onnx"]
    assert found[0][1]["channels"] == ["VV", "VH"]
    assert [p.name for p, _ in skipped] == ["b_bad.onnx"]
    assert "tile_size" in skipped[0][1]


def test_find_models_missing_folder(tmp_path):
    assert find_models(tmp_path / "nothing") == []


# ---------------------------------------------------------------- normalisation

def test_percentile_stats_and_apply():
    rng = np.random.default_rng(1)
    band = rng.uniform(100, 200, (50, 60)).astype(np.float32)
    valid = np.ones(band.shape, bool)
    valid[:5] = False
    band[:5] = -9999  # nodata must not enter the statistics
    norm = [{"method": "percentile", "low": 2, "high": 98}]
    stats = normalize.array_stats(band[None], valid, norm)
    lo, hi = np.percentile(band[valid], [2, 98])
    assert stats[0]["low"] == pytest.approx(lo) and stats[0]["high"] == pytest.approx(hi)
    assert stats[0]["db"] is False
    out = normalize.apply(band[None], valid, norm, stats)
    assert out.dtype == np.float32
    assert out[0][valid].min() == 0.0 and out[0][valid].max() == 1.0
    assert (out[0][~valid] == 0).all()
    np.testing.assert_allclose(out[0, 20, 30], np.clip((band[20, 30] - lo) / (hi - lo), 0, 1), rtol=1e-5)


def test_db_auto_detects_linear_power():
    rng = np.random.default_rng(2)
    power = rng.gamma(1.0, 0.05, (40, 40)).astype(np.float32)  # linear sigma0, mostly < 1
    valid = np.ones(power.shape, bool)
    norm = [{"method": "percentile", "low": 1, "high": 99, "db": "auto"}]
    stats = normalize.array_stats(power[None], valid, norm)
    assert stats[0]["db"] is True
    db = 10 * np.log10(np.maximum(power, 1e-6))
    assert stats[0]["low"] == pytest.approx(np.percentile(db, 1), rel=1e-4)
    # already in dB (negative values): no conversion
    stats_db = normalize.array_stats(db[None].astype(np.float32), valid, norm)
    assert stats_db[0]["db"] is False
    # integer bands are never auto-converted
    counts = rng.integers(0, 5, (40, 40)).astype(np.uint16)
    assert normalize.array_stats(counts[None], valid, norm)[0]["db"] is False
    # "always" forces it
    forced = [{"method": "scale", "scale": 0.1, "offset": 2.0, "db": "always"}]
    st = normalize.array_stats(db[None].clip(0.01), valid, forced)
    assert st[0]["db"] is True


def test_scale_is_what_the_model_declares_not_255():
    band = np.array([[0, 100, 255]], dtype=np.uint8)[None]
    valid = np.ones((1, 3), bool)
    norm = [{"method": "scale", "scale": 0.5, "offset": -1.0}]
    out = normalize.apply(band, valid, norm, normalize.array_stats(band, valid, norm))
    np.testing.assert_allclose(out[0, 0], [-1.0, 49.0, 126.5])
    none = [{"method": "none"}]
    out = normalize.apply(band, valid, none, normalize.array_stats(band, valid, none))
    np.testing.assert_allclose(out[0, 0], [0, 100, 255])


def test_fixed_scaling_needs_no_statistics_pass(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    # all nodata: a read pass would fail
    path = write_tif(tmp_path / "r.tif", np.full((2, 8, 8), -1, np.float32), crs="EPSG:32633",
                     transform=from_origin(0, 80, 10, 10), nodata=-1)
    norms = [{"method": "scale", "scale": 2.0, "offset": 0.0, "db": "always"}, {"method": "none"}]
    with rasterio.open(path) as src:
        assert normalize.scene_stats(src, [1, 2], norms) == [{"db": True}, {"db": False}]
        with pytest.raises(ValueError, match="no valid pixels"):
            normalize.scene_stats(src, [1, 2], [{"method": "percentile", "low": 1, "high": 99}] * 2)
