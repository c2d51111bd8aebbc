"""Test-time averaging over the eight flips and quarter turns of each tile.

A network trained with every flip and quarter turn still answers a little
differently for a scene turned by 90 or 180 degrees (measured in
``weights/calving_front.md``). ``Symmetric(model)`` runs the network on the
eight transforms of each tile batch, turns each answer back and averages, so
the output is the same, pixel for pixel, however the tile is flipped or turned.
The engine's tiles are laid out as their own mirror image (``tiling.spans``), so
a whole scene turned or flipped gives the turned prediction. A side shorter
than a tile is reflection-padded to a tile; turning the scene moves that padding
to the other side of the data, and the network answers differently near it
(every Landsat subset in ``../shared/data`` is such a scene). So a ``Symmetric``
model asks the engine (``pad_both_sides``) to run such tiles padded after the
data and padded before it and to average the two, which makes the output the
same for every flip and turn of the scene (unless a long side's middle tile sits
half a pixel off, ``tiling.spans``). (Padding each transform on its own side, or
centring the data, measured worse on the training glaciers' fronts.) It costs
eight network runs per tile, sixteen with one short side, 32 with two.
"""

import numpy as np

# (quarter turns, mirror) of the dihedral group of the square
TRANSFORMS = tuple((k, flip) for flip in (False, True) for k in range(4))


def _forward(batch, k, flip):
    out = batch[..., ::-1] if flip else batch
    return np.rot90(out, k, axes=(-2, -1))


def _backward(batch, k, flip):
    out = np.rot90(batch, -k, axes=(-2, -1))
    return out[..., ::-1] if flip else out


class Symmetric:
    """A model (the engine's ``Model`` or training's ``TorchModel``) whose ``predict`` averages over
    ``TRANSFORMS``; every other attribute is the wrapped model's."""

    pad_both_sides = True  # read by ``inference``: see the module docstring

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict(self, batch):
        batch = np.asarray(batch, np.float32)
        total = None
        for k, flip in TRANSFORMS:
            pred = self.model.predict(np.ascontiguousarray(_forward(batch, k, flip)))
            pred = _backward(np.asarray(pred, np.float32), k, flip)
            total = pred.copy() if total is None else total + pred
        return total / len(TRANSFORMS)
