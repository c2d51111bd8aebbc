"""Front accuracy: CALFIN's symmetric mean distance between two fronts (Qt-free).

CALFIN (Cheng et al. 2021) scores a predicted front against a reference by
the mean of the nearest-neighbour distances in both directions: every
predicted front point to the nearest reference point and every reference
point to the nearest predicted point, pooled. Lines are densified to points
at most ``step`` apart first, so the result does not depend on how many
vertices a line happens to have. Raster masks (front pixels) contribute their
pixel centres.

Distances come out in the units of the coordinates given; ``pixel_size``
converts pixel distances to map units when the inputs are in pixels.
"""

import os

import numpy as np
from scipy.spatial import cKDTree


def densify(line, step=0.5):
    """Points along a polyline (N, 2) with at most ``step`` between neighbours."""
    line = np.asarray(line, np.float64)
    if len(line) < 2:
        return line.reshape(-1, 2)
    out = [line[:1]]
    for a, b in zip(line[:-1], line[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        t = np.arange(1, n + 1)[:, None] / n
        out.append(a + (b - a) * t)
    return np.concatenate(out)


def points_from_lines(lines, step=0.5):
    """Densified points of one or many polylines."""
    if isinstance(lines, np.ndarray) and lines.ndim == 2:
        lines = [lines]
    pts = [densify(line, step) for line in lines if len(line)]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def points_from_mask(mask, transform=None):
    """(x, y) of front-pixel centres of a boolean mask, in pixels or via an affine ``transform``."""
    rows, cols = np.nonzero(np.asarray(mask, bool))
    x, y = cols + 0.5, rows + 0.5
    if transform is not None:
        a, b, c, d, e, f = transform[:6]
        x, y = a * x + b * y + c, d * x + e * y + f
    return np.column_stack([x, y]).astype(np.float64)


def mask_raster_points(path, front_is_zero=False):
    """Front pixel centres of a reference mask raster (map coordinates, thinned to 1 px) and its pixel size.

    Non-zero pixels are the front, or zero pixels with ``front_is_zero`` (the
    CALFIN Landsat labels draw a black front on white); nodata is never front.
    """
    import rasterio
    from skimage.morphology import skeletonize

    from ..core import raster_io

    name = os.path.basename(str(path))
    with rasterio.open(path) as src:
        values, valid = raster_io.read_window(src, [1])
        transform = src.transform
    front = valid & ((values[0] == 0) if front_is_zero else (values[0] != 0))
    if not front.any():
        raise ValueError(f"the reference mask {name} holds no front pixels")
    if front.all():
        raise ValueError(f"every pixel of {name} is a front pixel: "
                         "choose the other 'front pixels in the masks' option")
    return points_from_mask(skeletonize(front), tuple(transform)[:6]), raster_io.pixel_size(transform)


def nearest_distances(src, dst):
    """Distance from each point of ``src`` to the nearest point of ``dst``."""
    return cKDTree(dst).query(src)[0]


def symmetric_distance(pred, ref, pixel_size=None):
    """CALFIN's symmetric distance between two point sets (N, 2).

    Returns a dict with ``mean``, ``median``, ``pred_to_ref`` and
    ``ref_to_pred`` means (in the points' units), plus ``mean_m`` /
    ``median_m`` when ``pixel_size`` is given; ``None`` values when either
    set is empty (no front to compare).
    """
    pred = np.asarray(pred, np.float64).reshape(-1, 2)
    ref = np.asarray(ref, np.float64).reshape(-1, 2)
    keys = ("mean", "median", "pred_to_ref", "ref_to_pred")
    if len(pred) == 0 or len(ref) == 0:
        out = dict.fromkeys(keys)
    else:
        d_pr = nearest_distances(pred, ref)
        d_rp = nearest_distances(ref, pred)
        both = np.concatenate([d_pr, d_rp])
        out = {"mean": float(both.mean()), "median": float(np.median(both)),
               "pred_to_ref": float(d_pr.mean()), "ref_to_pred": float(d_rp.mean())}
    if pixel_size is not None:
        for k in ("mean", "median"):
            out[k + "_m"] = None if out[k] is None else out[k] * float(pixel_size)
    return out


def line_distance(pred_lines, ref_lines, pixel_size=None, step=0.5):
    """Symmetric distance between two sets of polylines (same units, e.g. pixels)."""
    return symmetric_distance(points_from_lines(pred_lines, step), points_from_lines(ref_lines, step), pixel_size)


def summarize(values):
    """Mean and median of the non-missing values and how many there were."""
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if not len(vals):
        return {"n": 0, "mean": None, "median": None}
    return {"n": int(len(vals)), "mean": float(vals.mean()), "median": float(np.median(vals))}
