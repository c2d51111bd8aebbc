"""Calving-front lines from a front model's output (Qt-free).

Inputs are the model's two probability maps for one scene: ``edge`` (the
front line) and ``ice`` (glacier ice and land versus ocean and melange), plus
an optional fjord mask (1 inside the fjord, 0 on and outside its walls).

Steps (CALFIN's post-processing idea, in closed form):

1. candidates: pixels whose edge probability reaches ``edge_threshold``; the
   boundary of the ice mask (ice pixels next to ocean) is a second cue and
   adds pixels whose edge probability reaches the lower
   ``boundary_threshold``, which bridges faint stretches of the front;
2. the fjord mask removes everything on or outside the walls, and nothing
   within ``border_px`` of the scene edge or of nodata is kept (the network
   sees padding there and its front output fires at that artificial edge);
3. a 3x3 closing bridges one-pixel gaps and the result is thinned to a
   one-pixel skeleton;
4. skeleton pixels become a graph (8-neighbours, plus jumps of at most
   ``max_gap`` px between end points of different pieces), and each
   connected part is ordered by its longest path (double Dijkstra);
5. each line gets a mean edge confidence and a quality flag:
   ``good``, ``partial`` (with a fjord mask: does not reach both walls),
   ``short`` or ``low_confidence``; by default only the best line is kept
   (one front per glacier subset, as in CALFIN).

Coordinates are pixel coordinates ``(x, y) = (column + 0.5, row + 0.5)``,
i.e. pixel centres in the raster's own grid, so an affine geotransform maps
them straight to map coordinates.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

QUALITY_GOOD = "good"
QUALITY_PARTIAL = "partial"
QUALITY_SHORT = "short"
QUALITY_LOW_CONFIDENCE = "low_confidence"

_EIGHT = np.ones((3, 3), bool)


@dataclass
class Front:
    """One front line: ``xy`` (N, 2) pixel coordinates in order along the line."""

    xy: np.ndarray
    confidence: float
    length_px: float
    quality: str
    spans_fjord: bool = None

    @property
    def good(self):
        return self.quality == QUALITY_GOOD


@dataclass
class Extraction:
    fronts: list = field(default_factory=list)  # longest first
    candidates: np.ndarray = None  # bool mask the lines were traced from

    @property
    def accepted(self):
        """Fronts flagged ``good`` or ``partial`` (``partial`` only arises with a fjord mask)."""
        return [f for f in self.fronts if f.quality in (QUALITY_GOOD, QUALITY_PARTIAL)]


def ice_boundary(ice, region):
    """Ice pixels 8-adjacent to ocean pixels, both inside ``region``."""
    ocean = ~ice & region
    return ice & region & ndimage.binary_dilation(ocean, _EIGHT)


def candidate_mask(edge, ice=None, fjord=None, valid=None, edge_threshold=0.5, ice_threshold=0.5,
                   boundary_threshold=0.25, border_px=3):
    edge = np.asarray(edge, np.float32)
    region = np.ones(edge.shape, bool) if valid is None else np.asarray(valid, bool).copy()
    region &= np.isfinite(edge)
    if border_px:
        # The network sees padding beyond the scene edge and nodata, and its front output fires at that
        # artificial edge: nothing within ``border_px`` of the scene edge or of nodata can be a front.
        region = ndimage.binary_erosion(region, _EIGHT, iterations=border_px, border_value=0)
    if fjord is not None:
        region &= np.asarray(fjord) > 0.5
    cand = (edge >= edge_threshold) & region
    if ice is not None:
        ice_mask = np.asarray(ice) >= ice_threshold
        # Boundary on both sides of the ice/ocean limit so a one-pixel shift of the mask still meets the edge.
        boundary = ice_boundary(ice_mask, region) | ice_boundary(~ice_mask & region, region)
        cand |= boundary & (edge >= boundary_threshold)
    return cand


def _skeleton(mask):
    from skimage.morphology import skeletonize

    closed = ndimage.binary_closing(mask, _EIGHT) | mask
    return skeletonize(closed)


def _pixel_graph(rows, cols, max_gap):
    """Sparse symmetric graph over skeleton pixels: 8-neighbours, plus gap jumps between pieces."""
    pts = np.column_stack([rows, cols]).astype(np.float64)
    tree = cKDTree(pts)
    pairs = tree.query_pairs(1.5, output_type="ndarray")
    n = len(pts)
    i, j = pairs[:, 0], pairs[:, 1]
    w = np.hypot(*(pts[i] - pts[j]).T)
    if max_gap and max_gap > 1.5 and n > 1:
        base = coo_matrix((w, (i, j)), shape=(n, n))
        _, piece = connected_components(base, directed=False)
        degree = np.bincount(np.concatenate([i, j]), minlength=n)
        ends = np.flatnonzero(degree <= 1)
        if len(ends) > 1:
            end_pairs = cKDTree(pts[ends]).query_pairs(max_gap, output_type="ndarray")
            if len(end_pairs):
                a, b = ends[end_pairs[:, 0]], ends[end_pairs[:, 1]]
                keep = piece[a] != piece[b]
                a, b = a[keep], b[keep]
                i = np.concatenate([i, a])
                j = np.concatenate([j, b])
                w = np.concatenate([w, np.hypot(*(pts[a] - pts[b]).T)])
    return coo_matrix((w, (i, j)), shape=(n, n)).tocsr()


def _longest_path(graph, nodes):
    """Approximate longest shortest-path in a connected set of nodes (two Dijkstra sweeps)."""
    sub = graph[nodes][:, nodes]
    d0 = dijkstra(sub, directed=False, indices=0)
    a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
    da, pred = dijkstra(sub, directed=False, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(da), da, -1)))
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    return nodes[np.array(path[::-1])], float(da[b])


def _spans_fjord(xy, fjord, reach):
    """True when both ends of the line are within ``reach`` px of a fjord wall (mask 0)."""
    wall_distance = ndimage.distance_transform_edt(np.asarray(fjord) > 0.5)
    h, w = wall_distance.shape
    ends = []
    for x, y in (xy[0], xy[-1]):
        r = min(max(int(y), 0), h - 1)
        c = min(max(int(x), 0), w - 1)
        ends.append(wall_distance[r, c] <= reach)
    return bool(all(ends))


def extract_fronts(edge, ice=None, fjord=None, valid=None, edge_threshold=0.5, ice_threshold=0.5,
                   boundary_threshold=0.25, min_length_px=20.0, min_confidence=0.5, max_gap=8.0,
                   min_piece_px=5.0, wall_reach_px=6.0, max_fronts=1, border_px=3):
    """Front lines from probability maps; see the module docstring. Returns an ``Extraction``.

    ``min_length_px``/``min_confidence`` decide the quality flag; pieces shorter
    than ``min_piece_px`` are dropped as noise. At most ``max_fronts`` lines:
    good ones first, longest first. The default keeps one, as CALFIN extracts
    one front per glacier domain: the longest well-supported line is the front
    and shorter pieces are mostly melange edges and fjord walls.
    """
    edge = np.asarray(edge, np.float32)
    if edge.ndim != 2:
        raise ValueError(f"edge probability must be 2-D, got shape {edge.shape}")
    for name, arr in (("ice", ice), ("fjord", fjord), ("valid", valid)):
        if arr is not None and np.shape(arr) != edge.shape:
            raise ValueError(f"{name} has shape {np.shape(arr)} but the edge probability has {edge.shape}")
    cand = candidate_mask(edge, ice, fjord, valid, edge_threshold, ice_threshold, boundary_threshold, border_px)
    if fjord is not None:
        cand &= np.asarray(fjord) > 0.5  # the closing must not creep back onto the walls
    skel = _skeleton(cand)
    if fjord is not None:
        skel &= np.asarray(fjord) > 0.5
    result = Extraction(candidates=cand)
    rows, cols = np.nonzero(skel)
    if len(rows) < 2:
        return result
    graph = _pixel_graph(rows, cols, max_gap)
    n_parts, part = connected_components(graph, directed=False)
    fronts = []
    for k in range(n_parts):
        nodes = np.flatnonzero(part == k)
        if len(nodes) < 2:
            continue
        path, length = _longest_path(graph, nodes)
        if length < min_piece_px:
            continue
        r, c = rows[path], cols[path]
        xy = np.column_stack([c + 0.5, r + 0.5]).astype(np.float64)
        confidence = float(np.nanmean(edge[r, c]))
        spans = _spans_fjord(xy, fjord, wall_reach_px) if fjord is not None else None
        if length < min_length_px:
            quality = QUALITY_SHORT
        elif confidence < min_confidence:
            quality = QUALITY_LOW_CONFIDENCE
        elif spans is False:
            quality = QUALITY_PARTIAL
        else:
            quality = QUALITY_GOOD
        fronts.append(Front(xy, confidence, length, quality, spans))
    fronts.sort(key=lambda f: (f.quality != QUALITY_GOOD, -f.length_px))
    result.fronts = fronts[:max_fronts]
    return result


def ice_classes(ice, valid=None, threshold=0.5, nodata=255):
    """uint8 classes from the ice probability: 1 ice/land, 0 ocean/melange, ``nodata`` outside."""
    ice = np.asarray(ice, np.float32)
    out = (ice >= threshold).astype(np.uint8)
    bad = ~np.isfinite(ice) | (ice < 0)
    if valid is not None:
        bad |= ~np.asarray(valid, bool)
    out[bad] = nodata
    return out
