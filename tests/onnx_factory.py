"""Small fully-convolutional ONNX models with Waterline metadata, for tests.

Built with ``onnx.helper`` (no torch needed, fast): ``layers`` 3x3 convolutions
with ReLU, a 1x1 convolution to the outputs and a sigmoid. Receptive-field
radius = ``layers`` pixels, so tiled and whole-image predictions must agree
away from tile borders.
"""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from plugin.engine.core.contract import CONTRACT_VERSION


def default_meta(channels=("VV", "VH"), outputs=("water",), tile=64, overlap=16,
                 normalization=None, pixel_size_m=10.0, task="water"):
    if normalization is None:
        normalization = [{"method": "scale", "scale": 1.0, "offset": 0.0}] * len(channels)
    return {
        "waterline_contract": CONTRACT_VERSION,
        "task": task,
        "channels": ",".join(channels),
        "normalization": json.dumps(normalization),
        "tile_size": str(tile),
        "overlap": str(overlap),
        "outputs": json.dumps([{"name": o, "description": f"probability of {o}"} for o in outputs]),
        "pixel_size_m": str(pixel_size_m),
        "version": "test-1",
        "training_data": "none (random weights, unit tests)",
        "license": "CC0-1.0",
    }


def conv_net(path, channels=("VV", "VH"), outputs=("water",), layers=3, width=8, seed=0,
             meta=None, declared_in=None, declared_out=None, props=None, **meta_kw):
    """Write a conv net to ``path``; ``props`` (str -> str) replaces the metadata entirely.

    ``declared_in`` / ``declared_out`` set the static channel dims of the
    graph's input/output tensors (to build mismatching models).
    """
    rng = np.random.default_rng(seed)
    n_in, n_out = len(channels), len(outputs)
    nodes, inits = [], []
    prev, prev_c = "input", n_in
    for i in range(layers):
        w = rng.normal(0, 1.0 / np.sqrt(9 * prev_c), (width, prev_c, 3, 3)).astype(np.float32)
        b = rng.normal(0, 0.1, width).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev, prev_c = f"r{i}", width
    w = rng.normal(0, 2.0 / np.sqrt(prev_c), (n_out, prev_c, 1, 1)).astype(np.float32)
    b = np.zeros(n_out, np.float32)
    inits += [numpy_helper.from_array(w, "wo"), numpy_helper.from_array(b, "bo")]
    nodes.append(helper.make_node("Conv", [prev, "wo", "bo"], ["logits"]))
    nodes.append(helper.make_node("Sigmoid", ["logits"], ["output"]))
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", declared_in or n_in, "h", "w"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", declared_out or n_out, "h", "w"])
    graph = helper.make_graph(nodes, "testnet", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if props is None:
        props = default_meta(channels, outputs, **meta_kw)
        props.update(meta or {})
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    if declared_in is None and declared_out is None:
        onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
