"""Tile grid with overlap, smooth blending weights and the strip accumulator.

- ``spans``: tiles along one axis at stride ``tile - overlap`` from both
  scene edges towards the middle, and where a gap is left one smaller tile in
  the middle (never padded past the scene, so every prediction comes from real
  pixels, and no more compute than tiling from one edge). The layout is its own
  mirror image, so a scene turned or flipped gets the same tiles, turned; with
  ``symmetry.Symmetric`` the whole prediction then turns with the scene
  (exactly, unless the middle tile sits half a pixel off, see ``spans``). An
  axis shorter than a tile is covered by one tile reflection-padded to the tile
  size (``pad_to``; ``Symmetric`` has it padded after and before the data in
  turn).
- ``weights``: a separable raised-cosine (Hann) ramp over the overlap on each
  side (after a floor-weight margin of a quarter of the overlap), 1 in the
  middle and never exactly 0, so predictions near a tile's border (where the
  network sees zero padding) count little and the sum of weights is always
  positive. Blended output = sum(w * p) / sum(w).
- ``StripBlender``: accumulates one horizontal strip of tiles at a time and
  hands back the rows that no later strip can touch. Memory is one tile
  height times the scene width, however tall the scene.
"""

import numpy as np

SIZE_MULTIPLE = 32  # a middle tile is cut to a multiple of this (the usual encoder stride)
WEIGHT_FLOOR = 1e-6  # smallest blending weight: never zero, so any covered pixel has a weight


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def spans(length, tile, overlap, multiple=SIZE_MULTIPLE):
    """(start, size) of the tiles covering ``[0, length)`` along one axis: a layout that is its own
    mirror image, and as cheap as tiling from one end.

    Full tiles at stride ``tile - overlap`` from both ends towards the middle, as many from each end
    as fit; where a gap is left, one tile in the middle covers it with the overlap on both sides,
    only as large as needed (a multiple of ``multiple``, so encoders with stride 32 accept it). It is
    centred, so the layout mirrors exactly unless ``length`` and the middle tile's size differ in
    parity (then it sits half a pixel off). An axis no longer than a tile is one span of the whole axis
    (``pad_to`` reflection-pads it to a tile).
    """
    if tile <= 0:
        raise ValueError("tile size must be positive")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap ({overlap}) must be at least 0 and smaller than the tile size ({tile})")
    if length <= tile:
        return [(0, length)]
    stride = tile - overlap
    full = (length - tile) // stride + 1  # full tiles that fit when tiling from one end
    per_side = (full + 1) // 2 if full % 2 else full // 2
    left = [(i * stride, tile) for i in range(per_side)]
    right = [(length - tile - i * stride, tile) for i in reversed(range(per_side))]
    gap = right[0][0] - (left[-1][0] + tile)  # uncovered between the two halves (negative: overlap)
    middle = []
    if gap > -overlap:
        size = min(tile, _round_up(gap + 2 * overlap, multiple))
        middle = [((length - size) // 2, size)]
    return sorted(set(left + middle + right))


def starts(length, tile, overlap):
    """Tile origins along one axis (see ``spans``)."""
    return [s for s, _ in spans(length, tile, overlap)]


def grid(width, height, tile, overlap):
    """(row spans, column spans) of the tile grid over a width x height scene."""
    return spans(height, tile, overlap), spans(width, tile, overlap)


def ramp(size, overlap):
    """1-D blending weights: Hann ramps of length ``overlap`` at both ends."""
    w = np.ones(size, dtype=np.float64)
    n = min(overlap, size // 2)
    if n > 0:
        # The outer quarter of the overlap keeps the floor weight: there the
        # network sees the tile's zero padding, and a neighbouring tile covers it.
        m = n // 4
        up = np.full(n, WEIGHT_FLOOR)
        up[m:] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n - m) + 0.5) / (n - m))
        w[:n] = up
        w[size - n:] = np.minimum(w[size - n:], up[::-1])
    return np.maximum(w, WEIGHT_FLOOR).astype(np.float32)


def weights(tile_h, tile_w, overlap):
    """2-D separable blending weights for a tile."""
    return np.outer(ramp(tile_h, overlap), ramp(tile_w, overlap)).astype(np.float32)


def pad_to(array, height, width, before=(False, False)):
    """Reflection-pad the last two axes of ``array`` up to (height, width), after the data, or before
    it along an axis whose ``before`` flag (rows, columns) is set (measured on the training glaciers'
    fronts: padding half on each side did worse)."""
    h, w = array.shape[-2:]
    ph, pw = max(0, height - h), max(0, width - w)
    if ph == 0 and pw == 0:
        return array
    rows = (ph, 0) if before[0] else (0, ph)
    cols = (pw, 0) if before[1] else (0, pw)
    pad = [(0, 0)] * (array.ndim - 2) + [rows, cols]
    mode = "reflect" if min(h, w) > 1 else "edge"  # reflect needs 2 pixels
    return np.pad(array, pad, mode=mode)


class StripBlender:
    """Weighted accumulation of tile predictions, one strip of tiles at a time.

    Use: for each strip (row start ``r``) ``add`` its tile predictions, then
    ``finish_rows(next_r)`` returns ``(row0, probs)`` for the rows above
    ``next_r`` (final: no later tile covers them) and shifts the buffer.
    ``probs`` is (K, rows, width) float32, NaN where no tile contributed.
    """

    def __init__(self, n_out, width, tile_h, overlap):
        self.width = width
        self.tile_h = tile_h
        self.acc = np.zeros((n_out, tile_h, width), dtype=np.float32)
        self.wsum = np.zeros((tile_h, width), dtype=np.float32)
        self.top = 0  # scene row of buffer row 0
        self.w_cache = {}
        self.overlap = overlap

    def _weights(self, h, w):
        key = (h, w)
        if key not in self.w_cache:
            self.w_cache[key] = weights(h, w, self.overlap)
        return self.w_cache[key]

    def add(self, row, col, pred):
        """Accumulate a (K, h, w) prediction whose top-left is scene (row, col)."""
        h, w = pred.shape[-2:]
        r = row - self.top
        if r < 0 or r + h > self.tile_h:
            raise ValueError("tile outside the current strip buffer")
        wt = self._weights(h, w)
        weighted = np.multiply(pred, wt, dtype=np.float32)
        self.acc[:, r:r + h, col:col + w] += weighted
        self.wsum[r:r + h, col:col + w] += wt

    def finish_rows(self, next_top):
        """Return (first row, blended rows) above ``next_top`` and shift the buffer."""
        n = next_top - self.top
        if n <= 0:
            return self.top, None
        acc, wsum = self.acc[:, :n], self.wsum[:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(wsum > 0, acc / np.where(wsum > 0, wsum, 1), np.nan).astype(np.float32)
        row0 = self.top
        # shift the partial rows up, clear the rest
        keep = self.tile_h - n
        if keep > 0:
            self.acc[:, :keep] = self.acc[:, n:].copy()
            self.wsum[:keep] = self.wsum[n:].copy()
        self.acc[:, max(keep, 0):] = 0
        self.wsum[max(keep, 0):] = 0
        self.top = next_top
        return row0, out
