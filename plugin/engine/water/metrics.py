"""Compare a water map with a reference water map on a different grid.

Both rasters are brought onto one common grid: the grid of the coarser of the
two (pixel area), cut to the intersection of their extents. The raster that
already has that grid is read as is; the other is warped with rasterio's
WarpedVRT, by majority (mode) when it is finer, nearest neighbour otherwise,
so class codes are never blended. Work is done window by window.

Each raster's codes are mapped to water / not water through value lists
(e.g. DSWx WTR: water 1, 2; not water 0; 252 snow, 253 cloud, 255 fill are
left out). A pixel counts only where both maps say water or not water.
"""

import math

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import from_bounds

from ..core import raster_io
from ..core.cancel import check_cancel


def _pixel_area(src):
    factor = 1.0 if src.crs is None or src.crs.is_geographic else src.crs.linear_units_factor[1]
    return raster_io.pixel_area(src.transform) * factor * factor


def _class_map(data, water_values, land_values):
    """0 not water, 1 water, 2 not compared."""
    out = np.full(data.shape, 2, np.uint8)
    out[np.isin(data, list(land_values))] = 0
    out[np.isin(data, list(water_values))] = 1
    return out


def common_grid(pred, ref):
    """(crs, transform, width, height, warped) on the coarser raster's grid over the intersection.

    ``warped`` says which input ("prediction" or "reference") is resampled.
    """
    if pred.crs is None or ref.crs is None:
        raise ValueError("both water maps need a coordinate reference system")
    coarse, fine, warped = (pred, ref, "reference") if _pixel_area(pred) >= _pixel_area(ref) \
        else (ref, pred, "prediction")
    fb = raster_io.bounds_in(fine, coarse.crs)
    cb = coarse.bounds
    if not raster_io.bounds_overlap(cb, fb):
        raise ValueError(
            "the two water maps do not overlap: their extents do not intersect in "
            f"{coarse.crs.to_string()}; check that they cover the same place"
        )
    left, bottom = max(cb.left, fb[0]), max(cb.bottom, fb[1])
    right, top = min(cb.right, fb[2]), min(cb.top, fb[3])
    win = from_bounds(left, bottom, right, top, coarse.transform)
    win = win.round_offsets(op="floor").round_lengths(op="ceil")
    win = win.intersection(rasterio.windows.Window(0, 0, coarse.width, coarse.height))
    if win.width < 1 or win.height < 1:
        raise ValueError("the two water maps overlap by less than one pixel")
    transform = rasterio.windows.transform(win, coarse.transform)
    return coarse.crs, transform, int(win.width), int(win.height), warped, win


def compare(pred_path, ref_path, pred_water=(1,), pred_land=(0,), ref_water=(1,), ref_land=(0,),
            block=1024, progress=None, is_canceled=None, log=None):
    """Confusion matrix and scores of ``pred_path`` against ``ref_path``.

    Returns a dict: tp, fp, fn, tn, iou, f1, precision, recall, accuracy,
    compared_pixels, grid (crs, pixel size, width, height, which input was resampled).
    """
    with rasterio.open(pred_path) as pred, rasterio.open(ref_path) as ref:
        crs, transform, width, height, warped, coarse_win = common_grid(pred, ref)
        coarse, fine = (pred, ref) if warped == "reference" else (ref, pred)
        resampling = Resampling.mode if _pixel_area(fine) < _pixel_area(coarse) else Resampling.nearest
        fill = fine.nodata if fine.nodata is not None else 255
        vrt = WarpedVRT(fine, crs=crs, transform=transform, width=width, height=height,
                        resampling=resampling, nodata=fill, src_nodata=fine.nodata)
        counts = np.zeros((2, 2), np.int64)  # [pred][ref]
        total = raster_io.count_windows(width, height, block)
        try:
            for i, (core, _) in enumerate(raster_io.windows(width, height, block)):
                check_cancel(is_canceled)
                own = rasterio.windows.Window(coarse_win.col_off + core.col_off,
                                              coarse_win.row_off + core.row_off, core.width, core.height)
                a = coarse.read(1, window=own)
                b = vrt.read(1, window=core)
                a_cls = _class_map(a, *((pred_water, pred_land) if coarse is pred else (ref_water, ref_land)))
                b_cls = _class_map(b, *((pred_water, pred_land) if fine is pred else (ref_water, ref_land)))
                # Nodata and fill never count, whatever the value lists say.
                if coarse.nodata is not None:
                    a_cls[a == coarse.nodata] = 2
                b_cls[b == fill] = 2
                p, r = (a_cls, b_cls) if coarse is pred else (b_cls, a_cls)
                both = (p < 2) & (r < 2)
                idx = p[both].astype(np.int64) * 2 + r[both]
                counts += np.bincount(idx, minlength=4).reshape(2, 2)
                if progress:
                    progress((i + 1) / total)
        finally:
            vrt.close()
        size = math.sqrt(_pixel_area(coarse))
    tn, fn = int(counts[0, 0]), int(counts[0, 1])
    fp, tp = int(counts[1, 0]), int(counts[1, 1])
    n = tp + fp + fn + tn
    if n == 0:
        raise ValueError(
            "no pixel is classified as water or not water in both maps where they overlap "
            "(all nodata, cloud or fill); check the water / not-water value lists"
        )
    result = dict(tp=tp, fp=fp, fn=fn, tn=tn, compared_pixels=n,
                  iou=_ratio(tp, tp + fp + fn), f1=_ratio(2 * tp, 2 * tp + fp + fn),
                  precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn),
                  accuracy=_ratio(tp + tn, n),
                  grid=dict(crs=crs.to_string(), pixel_size=size, width=width, height=height,
                            resampled=warped, resampling=resampling.name))
    if log:
        log(f"compared {n} pixels on a {width} x {height} grid of {size:g} units "
            f"({warped} resampled by {resampling.name}): IoU {result['iou']:.4f}, F1 {result['f1']:.4f}")
    return result


def _ratio(a, b):
    return float(a / b) if b else float("nan")
