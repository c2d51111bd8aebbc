"""The training package: what its wheel holds, its command line, the torch model seen by the engine."""

import numpy as np
import pytest
import torch

from conftest import ROOT


def _packages_on_disk(folder):
    return {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / folder).rglob("__init__.py")
            if "__pycache__" not in p.parts}


def test_pyproject_packages_every_training_and_engine_package():
    """The wheel of training/pyproject.toml must import training.water and plugin.engine (not the QGIS shell)."""
    from setuptools.config.pyprojecttoml import read_configuration

    config = read_configuration(ROOT / "training" / "pyproject.toml", expand=True)["tool"]["setuptools"]
    packages = set(config["packages"])
    assert {"training.water", "training.fronts", "plugin.engine.core"} <= packages
    assert packages == _packages_on_disk("training") | _packages_on_disk("plugin/engine") | {"plugin"}
    assert not any(p.startswith("plugin.shell") for p in packages)


def test_a_job_that_does_not_import_stops_the_command_line(monkeypatch):
    import training.__main__ as cli

    monkeypatch.setitem(cli.JOBS, "ghost", "training.no_such_job")
    with pytest.raises(ModuleNotFoundError, match="training.no_such_job"):
        cli.main(["fronts", "--help"])


def test_torch_model_gives_the_engine_the_exported_models_numbers(tmp_path):
    """Validation in training (TorchModel) and the plugin (ONNX) run the same tiled, blended inference."""
    from plugin.engine.core.inference import predict_array
    from plugin.engine.core.model import load_model
    from training.export import export_onnx
    from training.fronts import model_metadata
    from training.nets.deeplab import DeepLabV3Plus
    from training.torch_model import TorchModel

    torch.manual_seed(0)
    net = DeepLabV3Plus(widths=(8, 8, 16, 16), aspp_channels=8, low_channels=8, decoder_channels=8).eval()
    meta = model_metadata(tile_size=128, overlap=32)
    onnx_model = load_model(export_onnx(net, tmp_path / "m.onnx", meta, sample_size=128), device="cpu", threads=1)
    torch_model = TorchModel(net, meta)
    assert torch_model.meta == onnx_model.meta
    # 300 x 200: several overlapping tiles, a short edge tile and blending.
    image = np.random.default_rng(1).integers(0, 256, (3, 300, 200)).astype(np.uint8)
    valid = np.ones(image.shape[1:], bool)
    valid[:40, :50] = False
    want = predict_array(onnx_model, image, valid)
    got = predict_array(torch_model, image, valid)
    assert got.shape == (2, 300, 200) and (got[:, ~valid] == -1).all()
    assert np.abs(got - want).max() < 1e-4
