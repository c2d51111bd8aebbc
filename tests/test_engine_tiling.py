"""Tile grid, blending weights and the strip accumulator."""

import numpy as np
import pytest

from plugin.engine.core import tiling


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 32), (256, 256, 32), (257, 256, 32),
                                                  (100, 256, 32), (513, 128, 0), (300, 128, 16),
                                                  (130, 100, 70)])
def test_spans_cover_scene_inside(length, tile, overlap):
    spans = tiling.spans(length, tile, overlap)
    assert spans[0][0] == 0
    covered = np.zeros(length, bool)
    for s, size in spans:
        assert s >= 0 and s + size <= length  # edge tiles end at the edge, never past it
        assert size <= tile
        covered[s:s + size] = True
    assert covered.all()
    # consecutive tiles overlap by at least the requested overlap
    for (a, sa), (b, _) in zip(spans, spans[1:]):
        assert a + sa - b >= overlap and b > a


def test_edge_tile_only_as_large_as_needed():
    # 300 px, tile 128, overlap 16: full tiles at 0 and 112 end at 240; the
    # remaining 60 px plus 16 overlap rounded up to 32 -> one 96 px tile at 204.
    assert tiling.spans(300, 128, 16) == [(0, 128), (112, 128), (204, 96)]
    assert tiling.spans(240, 128, 16) == [(0, 128), (112, 128)]
    assert tiling.spans(90, 128, 16) == [(0, 90)]


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
    for i, (r, th) in enumerate(rows):
        for c, tw in cols:
            blender.add(r, c, field[:, r:r + th, c:c + tw])
        nxt = rows[i + 1][0] if i + 1 < len(rows) else h
        r0, probs = blender.finish_rows(nxt)
        out[:, r0:r0 + probs.shape[1]] = probs
    np.testing.assert_allclose(out, field, atol=1e-5)
    assert blender.acc.shape[1] == tile  # bounded: one tile height of buffer
