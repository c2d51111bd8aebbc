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


def test_tiles_from_both_ends_a_middle_tile_and_their_own_mirror_image():
    # 300 px, tile 128, overlap 16: full tiles at 0 and 172 (flush with both ends); the 44 px between
    # them plus 16 px overlap on each side, rounded up to 32 -> one 96 px tile in the middle, at 102.
    assert tiling.spans(300, 128, 16) == [(0, 128), (102, 96), (172, 128)]
    assert tiling.spans(240, 128, 16) == [(0, 128), (112, 128)]
    assert tiling.spans(90, 128, 16) == [(0, 90)]
    for length, tile, overlap in [(300, 256, 64), (1000, 256, 32), (3072, 512, 32), (12032, 512, 64),
                                  (776, 128, 16), (166, 64, 16)]:
        spans = tiling.spans(length, tile, overlap)
        mirrored = sorted((length - s - size, size) for s, size in spans)
        assert mirrored == spans, (length, tile, overlap)
    # no more pixels to run than tiling from one end: 6 full tiles and one of 192 px on 3072 px
    assert sum(size for _, size in tiling.spans(3072, 512, 32)) == 6 * 512 + 192
    # an odd length with an even middle tile: only the middle tile sits half a pixel off
    assert tiling.spans(513, 128, 0) == [(0, 128), (128, 128), (240, 32), (257, 128), (385, 128)]


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
    # before the data along the columns: the data at the right end, its reflection on the left
    b = tiling.pad_to(a, 3, 6, before=(False, True))
    np.testing.assert_array_equal(b[0, :, 2:], a[0])
    np.testing.assert_array_equal(b[0, :, :2], a[0][:, [2, 1]])
