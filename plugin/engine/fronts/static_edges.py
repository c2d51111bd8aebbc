"""Static edges from a stack of front-model outputs on one grid (Qt-free).

A calving front moves between scenes; rock walls and coast do not. Where the
network's front output fires at the same place in most scenes of one domain,
the edge is static: front extraction (``extraction.extract_fronts(static=...)``)
keeps only part of the evidence there: a line that lies wholly on a static
edge (the coast, a fjord wall) falls below the minimum confidence, a line
that runs on from the front along one is cut back at the front's end, and a
front that stayed put along a stretch keeps its line. The same idea, on image gradients, makes the starter
fjord mask in ``fjord.starter_mask_from_stack``.

``static_edge_mask`` works on arrays; ``static_edge_mask_from_rasters`` on the
probability rasters that ``scene.predict_scene`` writes (band 1 front,
-1 nodata), one at a time, so memory stays at a few grids whatever the stack.
``grid_groups`` sorts scenes into groups that share one grid.
"""

import contextlib
import os
from collections import OrderedDict

import numpy as np
from scipy import ndimage

MIN_SCENES = 3  # fewer scenes cannot tell a static edge from a front that stayed put twice


def _hits(edge, threshold, reach_px):
    edge = np.asarray(edge, np.float32)
    valid = np.isfinite(edge) & (edge >= 0)
    e = np.where(valid, edge, 0.0)
    if reach_px:
        e = ndimage.maximum_filter(e, size=2 * int(reach_px) + 1)  # one-pixel shifts between scenes
    return e >= threshold, valid


def static_edge_mask(edges, valids=None, threshold=0.5, fraction=0.8, reach_px=1, min_scenes=MIN_SCENES):
    """Bool mask: pixels where the front output reaches ``threshold`` (within ``reach_px``) in at
    least ``fraction`` of the scenes that hold data there, and at least ``min_scenes`` scenes do.

    ``edges``: iterable of (H, W) front probabilities of one domain on one grid (NaN or negative =
    nodata); ``valids``: optional matching iterable of bool masks. Fewer than ``min_scenes`` scenes
    give an all-False mask.
    """
    count = seen = None
    n = 0
    valids = iter(valids) if valids is not None else None
    for edge in edges:
        hit, valid = _hits(edge, threshold, reach_px)
        if valids is not None:
            valid &= np.asarray(next(valids), bool)
        if count is None:
            count = np.zeros(hit.shape, np.int32)
            seen = np.zeros(hit.shape, np.int32)
        elif hit.shape != count.shape:
            raise ValueError(f"the scenes are not on one grid: shapes {count.shape} and {hit.shape}")
        count += hit & valid
        seen += valid
        n += 1
    if count is None:
        raise ValueError("give the front probabilities of at least one scene")
    if n < min_scenes:
        return np.zeros(count.shape, bool)
    return (seen >= min_scenes) & (count >= fraction * np.maximum(seen, 1))


def grid_key(src):
    """What makes two open rasterio datasets share one grid."""
    return (src.crs.to_wkt() if src.crs else None, tuple(src.transform)[:6], src.width, src.height)


def grid_groups(paths):
    """Groups (lists of indices into ``paths``) of rasters that share one grid, in input order."""
    import rasterio

    groups = OrderedDict()
    for k, path in enumerate(paths):
        with rasterio.open(path) as src:
            groups.setdefault(grid_key(src), []).append(k)
    return list(groups.values())


def static_edge_mask_from_rasters(prob_paths, band=1, **options):
    """``static_edge_mask`` over probability rasters on one grid (band ``band`` = front, nodata
    -1 or the raster's nodata). Raises ``ValueError`` when they are not on one grid."""
    import rasterio

    prob_paths = list(prob_paths)
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(rasterio.open(p)) for p in prob_paths]
        first = sources[0]
        for src, path in zip(sources[1:], prob_paths[1:]):
            if grid_key(src) != grid_key(first):
                raise ValueError(f"{os.path.basename(str(path))} is not on the grid of "
                                 f"{os.path.basename(str(prob_paths[0]))}: static edges need scenes on one grid")

        def edges():
            for src in sources:
                e = src.read(band).astype(np.float32)
                if src.nodata is not None:
                    e[e == src.nodata] = np.nan
                yield e

        return static_edge_mask(edges(), **options)
