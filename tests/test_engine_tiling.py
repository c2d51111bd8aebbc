"""Tile grid, blending weights and the strip accumulator."""

import numpy as np
import pytest

from plugin.engine import tiling


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 32), (256, 256, 32), (257, 256, 32),
                                                  (100, 256, 32), (513, 128, 0)])
def test_starts_cover_scene_inside(length, tile, overlap):
    starts = tiling.starts(length, tile, overlap)
    assert starts[0] == 0
    covered = np.zeros(length, bool)
    for s in starts:
        assert s >= 0
        if length >= tile:
            assert s + tile <= length  # edge tiles shifted inside, not padded
        covered[s:s + tile] = True
    assert covered.all()
    # consecutive tiles overlap by at least the requested overlap
    for a, b in zip(starts, starts[1:]):
        assert a + tile - b >= overlap


def test_starts_reject_bad_overlap():
    with pytest.raises(ValueError, match="smaller than the tile size"):
        tiling.starts(100, 32, 32)


def test_weights_smooth_positive():
    w = tiling.weights(64, 64, 16)
    assert w.min() > 0
    assert w[32, 32] == 1.0
    assert np.allclose(w, w[::-1, ::-1])
    r = tiling.ramp(64, 16)
    assert (np.diff(r[:16]) >= 0).all() and (np.diff(r[-16:]) <= 0).all()
    assert r[0] == pytest.approx(tiling.WEIGHT_FLOOR)
    # no overlap: flat weights
    assert (tiling.ramp(32, 0) == 1).all()


def test_pad_to_reflects():
    a = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    p = tiling.pad_to(a, 5, 6)
    assert p.shape == (1, 5, 6)
    np.testing.assert_array_equal(p[0, :3, :4], a[0])
    np.testing.assert_array_equal(p[0, 3], a[0, 1].tolist() + [a[0, 1, 2], a[0, 1, 1]])
    one = np.ones((1, 1, 1), np.float32)
    assert tiling.pad_to(one, 4, 4).shape == (1, 4, 4)


def test_strip_blender_reproduces_a_smooth_field():
    # Tiles cut from one field blend back into that field exactly.
    h, w, tile, ovl = 150, 170, 64, 16
    field = np.sin(np.arange(h)[:, None] / 9.0) + np.cos(np.arange(w)[None] / 7.0)
    field = field[None].astype(np.float32)
    rows, cols = tiling.grid(w, h, tile, ovl)
    blender = tiling.StripBlender(1, w, tile, ovl)
    out = np.full((1, h, w), np.nan, np.float32)
    for i, r in enumerate(rows):
        for c in cols:
            blender.add(r, c, field[:, r:r + tile, c:c + tile])
        nxt = rows[i + 1] if i + 1 < len(rows) else h
        r0, probs = blender.finish_rows(nxt)
        out[:, r0:r0 + probs.shape[1]] = probs
    np.testing.assert_allclose(out, field, atol=1e-5)
    assert blender.acc.shape[1] == tile  # bounded: one tile height of buffer
