"""Test-time averaging over flips and quarter turns (``core.symmetry``)."""

import numpy as np

from plugin.engine.core.inference import predict_array
from plugin.engine.core.symmetry import TRANSFORMS, Symmetric


class Lopsided:
    """A 'network' that is anything but symmetric: each output is a weighted sum of the input and its
    running sums down the rows and along the columns, so turning the input changes the answer."""

    channels = ["A", "B"]
    outputs = ["first", "second"]
    meta = {"normalization": [{"method": "none"}, {"method": "none"}]}
    tile_size = 64
    overlap = 16

    def __init__(self):
        self.calls = []

    def predict(self, batch):
        self.calls.append(batch.shape)
        down = np.cumsum(batch, axis=2) / batch.shape[2]
        across = np.cumsum(batch, axis=3) / batch.shape[3]
        first = 0.5 * batch[:, 0] + down[:, 1] + 0.25 * across[:, 0]
        second = across[:, 1] - 0.3 * down[:, 0]
        return np.stack([first, second], axis=1).astype(np.float32)


def test_average_is_the_same_however_a_tile_is_turned_or_flipped():
    rng = np.random.default_rng(3)
    batch = rng.random((2, 2, 32, 48), dtype=np.float32)  # non-square, as the last tiles of a row can be
    plain, sym = Lopsided(), Symmetric(Lopsided())
    upright = sym.predict(batch)
    assert upright.shape == batch.shape
    assert not np.allclose(plain.predict(np.rot90(batch, 1, axes=(2, 3)).copy()),
                           np.rot90(plain.predict(batch), 1, axes=(2, 3)), atol=1e-3)
    for k in range(4):
        for flip in (False, True):
            turned = np.rot90(batch[..., ::-1] if flip else batch, k, axes=(2, 3)).copy()
            expected = np.rot90(upright[..., ::-1] if flip else upright, k, axes=(2, 3))
            np.testing.assert_allclose(sym.predict(turned), expected, atol=1e-5)
    assert len(sym.model.calls) == 9 * len(TRANSFORMS)
    assert sorted({s[2:] for s in sym.model.calls}) == [(32, 48), (48, 32)]


def test_the_average_of_the_eight_answers_turned_back():
    rng = np.random.default_rng(4)
    batch = rng.random((1, 2, 16, 16), dtype=np.float32)
    plain = Lopsided()
    answers = []
    for k in range(4):
        for flip in (False, True):
            x = np.rot90(batch[..., ::-1] if flip else batch, k, axes=(2, 3)).copy()
            y = np.rot90(plain.predict(x), -k, axes=(2, 3))
            answers.append(y[..., ::-1] if flip else y)
    np.testing.assert_allclose(Symmetric(Lopsided()).predict(batch), np.mean(answers, axis=0), atol=1e-6)


def test_tiled_scene_through_the_engine():
    """The wrapper keeps the model's attributes, so the engine's tiling runs it like any model; a scene
    turned by 180 degrees gives the turned answer (the tile grid is symmetric for this size)."""
    rng = np.random.default_rng(5)
    scene = rng.random((2, 112, 112), dtype=np.float32)
    model = Symmetric(Lopsided())
    assert model.channels == ["A", "B"] and model.tile_size == 64
    upright = predict_array(model, scene)
    turned = predict_array(model, np.ascontiguousarray(np.rot90(scene, 2, axes=(1, 2))))
    np.testing.assert_allclose(np.rot90(turned, 2, axes=(1, 2)), upright, atol=1e-4)


def test_a_turned_or_flipped_scene_gives_the_turned_answer():
    """Mirror-symmetric tiles and the eight transforms per tile: the whole prediction of a non-square
    scene, tiled (150 x 110 px in 64 px tiles; 166 x 64 px, one tile across; 150 x 40 px and 40 x 50 px,
    narrower than a tile and so padded on both sides in turn; 40 x 114 px, short rows and tiles of 64 and
    32 px along the row), turns and flips with it."""
    rng = np.random.default_rng(6)
    for shape in ((2, 150, 110), (2, 166, 64), (2, 150, 40), (2, 40, 50), (2, 40, 114)):
        scene = rng.random(shape, dtype=np.float32)
        model = Symmetric(Lopsided())
        upright = predict_array(model, scene)
        for k in (1, 2, 3):
            turned = predict_array(model, np.ascontiguousarray(np.rot90(scene, k, axes=(1, 2))))
            np.testing.assert_allclose(np.rot90(turned, -k, axes=(1, 2)), upright, atol=1e-4)
        flipped = predict_array(model, np.ascontiguousarray(scene[:, :, ::-1]))
        np.testing.assert_allclose(flipped[:, :, ::-1], upright, atol=1e-4)


def test_a_short_side_is_padded_on_both_sides_in_turn():
    """A scene narrower than a tile: a plain model runs once per tile, padded after the data; a
    ``Symmetric`` one also padded before it, and the answer is the mean of the two, cropped back."""
    rng = np.random.default_rng(7)
    scene = rng.random((2, 40, 100), dtype=np.float32)  # 40 rows: shorter than the 64 px tile
    plain = Lopsided()
    out = predict_array(plain, scene)
    assert {c[2:] for c in plain.calls} == {(64, 64)} and out.shape == (2, 40, 100)
    sym = Symmetric(Lopsided())
    predict_array(sym, scene)
    assert len(sym.model.calls) == 2 * len(plain.calls) * len(TRANSFORMS)
    # one tile, by hand: the mean of the answers for the data at the top and at the bottom of the tile
    tile = scene[:, :, :64][None]
    after = Symmetric(Lopsided()).predict(np.pad(tile, [(0, 0), (0, 0), (0, 24), (0, 0)], mode="reflect"))
    before = Symmetric(Lopsided()).predict(np.pad(tile, [(0, 0), (0, 0), (24, 0), (0, 0)], mode="reflect"))
    np.testing.assert_allclose(predict_array(Symmetric(Lopsided()), scene[:, :, :64]),
                               (after[0, :, :40] + before[0, :, 24:]) / 2, atol=1e-5)
