"""Export a trained network to ONNX with the Waterline model contract.

The exported graph ends in a sigmoid (probabilities), takes float32
(N, C, H, W) with dynamic N, H, W, and carries the contract metadata
(``plugin.engine.core.contract``) so the plugin needs no per-model code.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from plugin.engine.core.contract import write_metadata


class WithSigmoid(nn.Module):
    """Wrap a logits network so the exported graph outputs probabilities."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.sigmoid(self.net(x))


def export_onnx(net, path, meta, sample_size=256):
    """Write ``net`` (logits, N x K x H x W) to ``path`` with ``meta``; check it runs."""
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = WithSigmoid(net).eval().cpu()
    channels = meta["channels"]
    n_in = len(channels.split(",")) if isinstance(channels, str) else len(channels)
    dummy = torch.zeros(1, n_in, sample_size, sample_size)
    torch.onnx.export(
        model, dummy, str(path), input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "h", 3: "w"}},
        opset_version=17, dynamo=False,
    )
    write_metadata(path, meta)
    # The exported graph must agree with torch.
    x = torch.rand(2, n_in, sample_size, sample_size)
    with torch.no_grad():
        expected = model(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    if not np.allclose(expected, got, atol=1e-4):
        raise RuntimeError(f"ONNX export of {path} disagrees with torch (max diff {np.abs(expected - got).max()})")
    return path
