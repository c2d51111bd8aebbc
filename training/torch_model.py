"""A torch network dressed as the engine's ``Model``, so training runs the plugin's own inference.

``plugin.engine.core.inference.predict_array`` needs only ``channels``,
``outputs``, ``meta["normalization"]``, ``tile_size``, ``overlap`` and
``predict``; with this adapter, validation during training and checkpoint
selection go through exactly the engine's normalisation, tiling and blending
that the exported ONNX model meets in QGIS.
"""

import numpy as np
import torch

from plugin.engine.core.contract import parse_metadata, to_props


class TorchModel:
    def __init__(self, net, meta):
        self.net = net
        # Through the contract's own parser: the metadata checked on the way in is what export writes.
        self.meta = parse_metadata(to_props(meta))
        self.channels = self.meta["channels"]
        self.outputs = [o["name"] for o in self.meta["outputs"]]
        self.tile_size = self.meta["tile_size"]
        self.overlap = self.meta["overlap"]

    def predict(self, batch):
        """(N, C, H, W) float32 -> (N, K, H, W) probabilities, the net in eval mode."""
        self.net.eval()
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with torch.no_grad():
            return torch.sigmoid(self.net(x)).numpy()
