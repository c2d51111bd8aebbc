"""Calving-front lines from a front model's output (Qt-free).

Inputs are the model's probability maps for one scene: ``edge`` (the
front line), ``ice`` (glacier ice and land versus ocean and melange) and, from
a model with a third output, ``rock`` (land that is not glacier), plus
an optional fjord mask (1 inside the fjord, 0 on and outside its walls), an
optional valid mask and an optional static-edge mask (``static_edges``).

A calving front is where ice meets ocean **and** the edge output agrees, so
every step weighs both outputs rather than the length of a line alone:

1. ice bodies: the ice output at ``ice_threshold``; an ice body that touches
   neither the scene edge nor nodata and is not the largest one (an iceberg
   or a rock in the melange) becomes ocean, so nothing curls around it;
2. evidence per pixel: the edge support (the largest edge probability within
   ``SUPPORT_PX``) where the pixel is within ``boundary_reach_px`` of the
   ice/ocean boundary, or where the ice output is unsure (most pixels around
   it within ``unsure_margin`` of 0.5: there the edge output alone decides);
   zero where the ice output is sure and no ice/ocean boundary is near (a line
   with ocean on both sides, a crack inside the ice, a line around an
   isolated object); nothing within ``border_px`` of the scene edge or of
   nodata (the network sees padding there and fires at that artificial
   edge), nothing on or outside the walls of a fjord mask; static edges
   (``static``, e.g. from ``static_edges.static_edge_mask`` over a stack of
   scenes) keep ``static_weight`` of their evidence; with a rock output, the
   evidence is multiplied by 1 - the largest rock probability within
   ``rock_reach_px``, so a boundary between ocean and rock (a coast, a
   nunatak) is not a front while ice meeting ocean is;
3. candidates: edge pixels (``edge_threshold``) with evidence, and ice/ocean
   boundary pixels whose evidence reaches ``boundary_threshold`` (this
   bridges stretches where the edge output is faint but the ice output
   separates ice from ocean);
4. a 3x3 closing bridges one-pixel gaps and the result is thinned to a
   one-pixel skeleton (the same skeleton in every quarter turn of the scene);
   skeleton pixels become a graph (8-neighbours, plus jumps of at most
   ``max_gap`` px between end points of different pieces), and each connected
   part is ordered by its longest path (two Dijkstra sweeps whose start and
   tie-breaks depend on the evidence, not on the raster order); its ends are
   cut back to the stretch whose evidence exceeds ``trim_below`` the most, so
   a line does not run on along a wall, a static coast or the ice boundary
   past the front's end, while a faint gap inside the front stays;
5. each line gets a **confidence**, its mean evidence (mean edge support over
   the share of the line that lies on the ice/ocean boundary or where the ice
   output is unsure), and a quality flag: ``good``, ``partial`` (with a fjord
   mask: does not reach both walls), ``short``, ``low_confidence`` or
   ``weaker`` (passes on its own, but its supported length, length x
   confidence, is under ``companion_ratio`` of the best line's: a melange
   edge, a coast or wall piece rather than a second glacier's front). Lines
   are ranked by supported length, accepted ones first, and ``max_fronts``
   are kept (default one, as CALFIN extracts one front per glacier subset).

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
QUALITY_WEAKER = "weaker"  # passes on its own, but its supported length is under half the best line's

_EIGHT = np.ones((3, 3), bool)
SUPPORT_PX = 2  # edge support: the largest edge probability within this many pixels (square window)


@dataclass
class Front:
    """One front line: ``xy`` (N, 2) pixel coordinates in order along the line.

    ``confidence``: mean evidence along the line (edge support where the line
    lies on the ice/ocean boundary or the ice output is unsure, 0 elsewhere).
    ``boundary_fraction``: share of the line on the ice/ocean boundary
    (``None`` without an ice output). ``supported_length_px``: length x confidence,
    what lines are ranked by.
    """

    xy: np.ndarray
    confidence: float
    length_px: float
    quality: str
    spans_fjord: bool = None
    boundary_fraction: float = None
    supported_length_px: float = None

    @property
    def good(self):
        return self.quality == QUALITY_GOOD


@dataclass
class Extraction:
    fronts: list = field(default_factory=list)  # best first
    candidates: np.ndarray = None  # bool mask the lines were traced from
    evidence: np.ndarray = None  # float per-pixel evidence (see the module docstring)

    @property
    def accepted(self):
        """Fronts flagged ``good`` or ``partial`` (``partial`` only arises with a fjord mask)."""
        return [f for f in self.fronts if f.quality in (QUALITY_GOOD, QUALITY_PARTIAL)]


def ice_boundary(ice, region):
    """Ice pixels 8-adjacent to ocean pixels, both inside ``region``."""
    ocean = ~ice & region
    return ice & region & ndimage.binary_dilation(ocean, _EIGHT)


def _touches_border(labels, n, valid):
    """Per label 1..n: does the component reach the scene edge or nodata?"""
    outside = ~valid
    rim = ndimage.binary_dilation(outside, _EIGHT) if outside.any() else np.zeros_like(valid)
    rim[0, :] = rim[-1, :] = rim[:, 0] = rim[:, -1] = True
    touch = np.zeros(n + 1, bool)
    touch[np.unique(labels[rim & (labels > 0)])] = True
    return touch


def _drop_isolated(mask, valid):
    """``mask`` without its components that touch no border and are not the largest one."""
    labels, n = ndimage.label(mask, _EIGHT)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = _touches_border(labels, n, valid)
    sizes[0] = 0
    keep[int(np.argmax(sizes))] = True
    keep[0] = False
    return keep[labels]


def ice_bodies(ice, valid, ice_threshold=0.5):
    """Ice mask (``valid`` pixels only) without isolated objects: an ice body that touches neither the
    scene edge nor nodata and is not the largest one (an iceberg, a rock in the melange) becomes ocean.

    Ocean enclosed by ice is left alone: where the network takes melange for ice, the water right at
    the front can be such a pocket, and filling it would erase the front.
    """
    return _drop_isolated((np.asarray(ice) >= ice_threshold) & valid, valid)


def evidence_map(edge, ice=None, valid=None, ice_threshold=0.5, boundary_reach_px=2, unsure_margin=0.2,
                 unsure_window_px=9):
    """Per-pixel front evidence (see the module docstring).

    Returns ``(evidence, boundary, near)``: float (H, W) evidence; the ice/ocean boundary between the
    ice bodies and the ocean (pixels on both sides of it) and where it is within ``boundary_reach_px``
    (both ``None`` without ``ice``). Without ``ice`` the evidence is the edge support alone.
    """
    edge = np.nan_to_num(np.asarray(edge, np.float32), nan=0.0)
    valid = np.ones(edge.shape, bool) if valid is None else np.asarray(valid, bool)
    support = ndimage.maximum_filter(np.where(valid, edge, 0.0), size=2 * SUPPORT_PX + 1)
    if ice is None:
        return np.where(valid, support, 0.0), None, None
    ice = np.nan_to_num(np.asarray(ice, np.float32), nan=0.5)
    body = ice_bodies(ice, valid, ice_threshold)
    boundary = ice_boundary(body, valid) | ice_boundary(~body & valid, valid)
    near = ndimage.binary_dilation(boundary, _EIGHT, iterations=boundary_reach_px) if boundary.any() \
        else np.zeros_like(boundary)
    # "Unsure" is a property of an area, not of the one-pixel transition every sharp boundary has.
    unsure = (np.abs(ice - 0.5) < unsure_margin) & valid
    unsure_zone = ndimage.uniform_filter(unsure.astype(np.float32), size=unsure_window_px) >= 0.5
    return np.where((near | unsure_zone) & valid, support, 0.0), boundary, near


def _candidates(edge, ice, fjord, valid, edge_threshold, ice_threshold, boundary_threshold, border_px,
                static, static_weight, boundary_reach_px, unsure_margin, rock=None, rock_reach_px=2):
    """(candidate pixels, evidence, near-boundary or None); see the module docstring."""
    edge = np.asarray(edge, np.float32)
    valid = np.ones(edge.shape, bool) if valid is None else np.asarray(valid, bool).copy()
    valid &= np.isfinite(edge)
    region = valid
    if border_px:
        # The network sees padding beyond the scene edge and nodata, and its front output fires at that
        # artificial edge: nothing within ``border_px`` of the scene edge or of nodata can be a front.
        region = ndimage.binary_erosion(valid, _EIGHT, iterations=border_px, border_value=0)
    if fjord is not None:
        region = region & (np.asarray(fjord) > 0.5)
    evidence, boundary, near = evidence_map(edge, ice, valid, ice_threshold, boundary_reach_px, unsure_margin)
    evidence = np.where(region, evidence, 0.0)
    if static is not None:
        # Static edges (rock walls, coast) keep part of their evidence: a line wholly on them falls below
        # the minimum confidence, a front pinned along a stretch is not cut in two.
        evidence = np.where(np.asarray(static, bool), static_weight * evidence, evidence)
    if rock is not None:
        # both sides of a coast: the ocean pixels next to rock lose their evidence too
        rock = np.where(valid, np.nan_to_num(np.asarray(rock, np.float32)), 0.0).clip(0.0, 1.0)
        evidence = evidence * (1.0 - ndimage.maximum_filter(rock, size=2 * rock_reach_px + 1))
    cand = (np.nan_to_num(edge) >= edge_threshold) & (evidence > 0)
    if boundary is not None:
        # the ice/ocean boundary bridges faint stretches of the front where the edge output is weak
        cand |= boundary & (evidence >= boundary_threshold)
    return cand, evidence, near


def candidate_mask(edge, ice=None, fjord=None, valid=None, edge_threshold=0.5, ice_threshold=0.5,
                   boundary_threshold=0.25, border_px=3, static=None, static_weight=0.5, boundary_reach_px=2,
                   unsure_margin=0.2, rock=None, rock_reach_px=2):
    """The pixels front lines are traced from (bool (H, W)); see the module docstring."""
    return _candidates(edge, ice, fjord, valid, edge_threshold, ice_threshold, boundary_threshold, border_px,
                       static, static_weight, boundary_reach_px, unsure_margin, rock, rock_reach_px)[0]


def _skeleton(mask):
    """One-pixel skeleton of the closed mask, the same however the scene is turned.

    Thinning is not rotation-symmetric (it peels some sides before others), so the skeleton of a turned
    mask can end a pixel earlier or sit a pixel aside; a gap or a tie then breaks differently. The
    skeletons of the mask in its four quarter turns, turned back, are united and thinned again.
    """
    from skimage.morphology import skeletonize

    out = np.zeros(mask.shape, bool)
    if not mask.any():
        return out
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - 2, 0), min(rows.max() + 3, mask.shape[0])
    c0, c1 = max(cols.min() - 2, 0), min(cols.max() + 3, mask.shape[1])
    crop = mask[r0:r1, c0:c1]
    closed = ndimage.binary_closing(crop, _EIGHT) | crop
    union = np.zeros_like(closed)
    for k in range(4):
        union |= np.rot90(skeletonize(np.ascontiguousarray(np.rot90(closed, k))), -k)
    out[r0:r1, c0:c1] = skeletonize(union)
    return out


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


def _farthest(dist, key):
    """Index of the largest finite distance; ties go to the largest ``key`` (not to raster order)."""
    d = np.where(np.isfinite(dist), dist, -1.0)
    top = np.flatnonzero(d >= d.max() - 1e-9)
    return int(top[np.argmax(key[top])]) if len(top) > 1 else int(top[0])


def _longest_path(graph, nodes, key):
    """Approximate longest shortest-path in a connected set of nodes (two Dijkstra sweeps).

    The first sweep starts at the node with the largest ``key`` (the evidence, with a tie-break that
    does not depend on the raster order), so the result does not change when the scene is turned.
    """
    sub = graph[nodes][:, nodes]
    k = key[nodes]
    d0 = dijkstra(sub, directed=False, indices=int(np.argmax(k)))
    a = _farthest(d0, k)
    da, pred = dijkstra(sub, directed=False, indices=a, return_predecessors=True)
    b = _farthest(da, k)
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    return nodes[np.array(path[::-1])], float(da[b])


def _trim(path, ev, below):
    """The stretch of ``path`` whose evidence exceeds ``below`` the most in sum (a maximum-sum run of
    ``ev - below``): weak ends (a line running on along a wall, a static coast, the ice boundary past
    the front's end) go, weak gaps between well-supported stretches stay."""
    gain = ev - below
    best, best_i, best_j = -np.inf, 0, len(path) - 1
    run, start = 0.0, 0
    for k, g in enumerate(gain):
        if run <= 0.0:
            run, start = 0.0, k
        run += g
        if run > best:
            best, best_i, best_j = run, start, k
    if best <= 0.0:
        return path
    return path[best_i: best_j + 1]


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


def _tie_key(rows, cols, evidence, shape):
    """Evidence plus a tiny term that is the same for a pixel however the scene is turned or flipped
    (distance from the scene centre), so equal-evidence ties are broken the same way in every turn."""
    h, w = shape
    r = (rows + 0.5 - h / 2.0) ** 2 + (cols + 0.5 - w / 2.0) ** 2
    return evidence[rows, cols].astype(np.float64) + 1e-6 * r / (h * h + w * w)


def extract_fronts(edge, ice=None, fjord=None, valid=None, edge_threshold=0.5, ice_threshold=0.5,
                   boundary_threshold=0.25, min_length_px=20.0, min_confidence=0.5, max_gap=8.0,
                   min_piece_px=5.0, wall_reach_px=6.0, max_fronts=1, border_px=3, static=None,
                   static_weight=0.5, boundary_reach_px=2, unsure_margin=0.2, companion_ratio=0.5,
                   trim_below=0.5, rock=None, rock_reach_px=2):
    """Front lines from probability maps; see the module docstring. Returns an ``Extraction``.

    ``static``: optional bool mask of static edges (rock walls, coast), e.g. from
    ``static_edges.static_edge_mask`` over a stack of scenes of one domain; their evidence is
    multiplied by ``static_weight``. ``trim_below``: each line's ends are cut back to the stretch
    whose evidence exceeds it the most (0 keeps whole lines). ``companion_ratio``: see ``weaker``
    in the module docstring. ``rock``: optional rock probability (a model's third output).
    ``min_length_px``/``min_confidence`` decide the quality flag; pieces shorter
    than ``min_piece_px`` are dropped as noise. At most ``max_fronts`` lines
    (``None``: all): good ones first, then by supported length.
    """
    edge = np.asarray(edge, np.float32)
    if edge.ndim != 2:
        raise ValueError(f"edge probability must be 2-D, got shape {edge.shape}")
    for name, arr in (("ice", ice), ("fjord", fjord), ("valid", valid), ("static", static), ("rock", rock)):
        if arr is not None and np.shape(arr) != edge.shape:
            raise ValueError(f"{name} has shape {np.shape(arr)} but the edge probability has {edge.shape}")
    cand, evidence, near = _candidates(edge, ice, fjord, valid, edge_threshold, ice_threshold, boundary_threshold,
                                       border_px, static, static_weight, boundary_reach_px, unsure_margin, rock,
                                       rock_reach_px)
    skel = _skeleton(cand)
    # the closing must not creep back onto walls, static edges, the scene border or evidence-free ground
    skel &= (evidence > 0) | cand
    result = Extraction(candidates=cand, evidence=evidence)
    rows, cols = np.nonzero(skel)
    if len(rows) < 2:
        return result
    graph = _pixel_graph(rows, cols, max_gap)
    key = _tie_key(rows, cols, evidence, edge.shape)
    n_parts, part = connected_components(graph, directed=False)
    fronts = []
    for k in range(n_parts):
        nodes = np.flatnonzero(part == k)
        if len(nodes) < 2:
            continue
        path, _ = _longest_path(graph, nodes, key)
        r, c = rows[path], cols[path]
        if trim_below:
            path = _trim(path, evidence[r, c].astype(np.float64), trim_below)
            r, c = rows[path], cols[path]
        xy = np.column_stack([c + 0.5, r + 0.5]).astype(np.float64)
        steps = np.hypot(*np.diff(xy, axis=0).T)
        length = float(steps.sum())
        if length < min_piece_px:
            continue
        ev = evidence[r, c].astype(np.float64)
        weights = np.concatenate([[0.0], steps]) + np.concatenate([steps, [0.0]])  # length per vertex
        confidence = float(np.sum(ev * weights) / max(np.sum(weights), 1e-9))
        on_boundary = float(np.sum(near[r, c] * weights) / max(np.sum(weights), 1e-9)) if near is not None \
            else None
        spans = _spans_fjord(xy, fjord, wall_reach_px) if fjord is not None else None
        if length < min_length_px:
            quality = QUALITY_SHORT
        elif confidence < min_confidence:
            quality = QUALITY_LOW_CONFIDENCE
        elif spans is False:
            quality = QUALITY_PARTIAL
        else:
            quality = QUALITY_GOOD
        fronts.append(Front(xy, confidence, length, quality, spans, on_boundary, length * confidence))
    accepted = (QUALITY_GOOD, QUALITY_PARTIAL)
    fronts.sort(key=lambda f: (f.quality not in accepted, -f.supported_length_px, -f.length_px))
    if fronts and fronts[0].quality in accepted:
        # A second glacier's front is about as well supported as the first; melange edges, coast and
        # fjord-wall pieces that also pass are much weaker than the front (training glaciers: of the further
        # lines with at least half the best line's supported length, about 98 % lay on a labelled front,
        # of those with less, under half did).
        for f in fronts[1:]:
            if f.quality in accepted and f.supported_length_px < companion_ratio * fronts[0].supported_length_px:
                f.quality = QUALITY_WEAKER
        fronts.sort(key=lambda f: (f.quality not in accepted, -f.supported_length_px, -f.length_px))
    result.fronts = fronts if max_fronts is None else fronts[:max_fronts]
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
