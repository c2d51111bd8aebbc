"""Load an exported ONNX model's weights back into its torch network, to continue training.

The shipped ``weights/*.onnx`` are the only copy of a trained model that the
project keeps (torch checkpoints stay in ``build/``). The exporter folds each
BatchNorm into the convolution before it, so the ONNX graph holds one weight
and bias per convolution. Here the convolutions are matched with the network's
``nn.Conv2d`` modules in the order the forward pass calls them (the order the
exporter traced them in), shapes checked, and each BatchNorm is set so that it
reproduces the folded bias exactly in eval mode *and* normalises with the
activation statistics of real inputs, so a continued run in train mode starts
from (nearly) the same function instead of a disturbed one.
"""

import numpy as np
import torch
from torch import nn


def _call_order(net, sample):
    """Conv2d and BatchNorm2d modules in the order one forward pass calls them."""
    order, hooks = [], []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
            hooks.append(m.register_forward_hook(lambda mod, _i, _o: order.append(mod)))
    try:
        with torch.no_grad():
            net(sample)
    finally:
        for h in hooks:
            h.remove()
    return order


def _onnx_convs(path):
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = []
    for node in graph.node:
        if node.op_type == "Conv":
            weight = inits[node.input[1]]
            has_bias = len(node.input) > 2 and node.input[2]
            bias = inits[node.input[2]] if has_bias else np.zeros(weight.shape[0], np.float32)
            convs.append((weight, bias))
    return convs


def load_onnx_into(net, path, calibration):
    """Copy the ONNX weights at ``path`` into ``net``; ``calibration`` is a real input batch (N, C, H, W).

    The last convolution (the heads) may have more output channels in ``net`` than in the file: the
    file's heads are copied into the first ones and the others keep their fresh initialisation (a new
    head trained on top of a trained network). Raises ValueError when the graph does not match otherwise.
    """
    net.eval()
    order = _call_order(net, calibration[:1])
    pairs = []  # (conv, bn following it or None)
    for i, m in enumerate(order):
        if isinstance(m, nn.Conv2d):
            nxt = order[i + 1] if i + 1 < len(order) else None
            pairs.append((m, nxt if isinstance(nxt, nn.BatchNorm2d) else None))
    convs = _onnx_convs(path)
    if len(convs) != len(pairs):
        raise ValueError(f"{path} has {len(convs)} convolutions, the network {len(pairs)}")
    with torch.no_grad():
        for k, ((conv, bn), (weight, bias)) in enumerate(zip(pairs, convs)):
            shape = tuple(conv.weight.shape)
            new_heads = (k == len(pairs) - 1 and bn is None and shape[1:] == weight.shape[1:]
                         and shape[0] > weight.shape[0])
            if shape != weight.shape and not new_heads:
                raise ValueError(f"{path}: convolution of shape {weight.shape} where the network has {shape}")
            n = weight.shape[0]
            conv.weight[:n].copy_(torch.from_numpy(np.array(weight)))
            if bn is None:
                if conv.bias is None:
                    raise ValueError(f"{path}: a convolution has a bias where the network has none")
                conv.bias[:n].copy_(torch.from_numpy(np.array(bias)))
            else:  # identity BatchNorm carrying the folded bias: exact in eval mode
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(np.array(bias)))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
        # Statistics of each convolution's raw output on real data, then rescale its BatchNorm so
        # (z - mean) / sqrt(var + eps) * gamma + beta still equals z + bias.
        # Biased variance: what BatchNorm divides by in train mode.
        stats, hooks = {}, []

        def record(mod, _inputs, out):
            stats[mod] = (out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False))

        for conv, bn in pairs:
            if bn is not None:
                hooks.append(conv.register_forward_hook(record))
        try:
            net(calibration)
        finally:
            for h in hooks:
                h.remove()
        for conv, bn in pairs:
            if bn is not None:
                mean, var = stats[conv]
                bn.weight.copy_(torch.sqrt(var + bn.eps))
                bn.bias.add_(mean)
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
    return net
