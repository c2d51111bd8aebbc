"""Subset scenes to a glacier (or any) domain on one shared grid.

Every accepted subset of a domain is written on the same grid (CRS, extent,
pixel size, shape), so a time series stacks pixel for pixel. Scenes are warped
window by window through a GDAL warped VRT, so memory stays bounded.
"""

import contextlib
import math
import os
import re
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio import features
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.windows import transform as window_transform

from ..core import raster_io
from ..core.cancel import check_cancel

RESAMPLING = ("nearest", "bilinear", "cubic", "average")
CLOUD_KINDS = ("mask", "landsat_c2_qa_pixel", "landsat_c1_bqa")
WINDOW = 512


@dataclass(frozen=True)
class Grid:
    crs: object
    transform: object
    width: int
    height: int

    @property
    def profile(self):
        return {"crs": self.crs, "transform": self.transform,
                "width": self.width, "height": self.height}


class Rejected(Exception):
    """A scene that does not pass the filters; its output is discarded."""


def native_pixel_size(path, crs):
    """The pixel size of ``path`` expressed in the units of ``crs``."""
    with rasterio.open(path) as src:
        _require_crs(src, path)
        if src.crs == crs:
            return raster_io.pixel_size(src.transform)
        transform, _, _ = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
        return raster_io.pixel_size(transform)


def working_crs(domain_crs, domain_bounds, scene_crs):
    """(CRS the subsets are written in, why) for a domain and the first scene.

    The domain's own CRS, unless it is geographic (degrees, which would give
    non-square pixels in metres): then the scene's projected CRS, else the
    local UTM zone of the domain's centre. ``why`` is None when the domain's
    CRS is kept, else a sentence for the log.
    """
    raster_io.check_degrees(domain_bounds, domain_crs, "the domain layer")
    if not domain_crs.is_geographic:
        return domain_crs, None
    if scene_crs is not None and not scene_crs.is_geographic:
        return scene_crs, (f"the domain is in geographic coordinates ({domain_crs.to_string()}); "
                           f"subsets are written in the scenes' CRS {scene_crs.to_string()} with square pixels")
    from rasterio.warp import transform as transform_points

    left, bottom, right, top = domain_bounds
    xs, ys = transform_points(domain_crs, "EPSG:4326", [(left + right) / 2], [(bottom + top) / 2])
    utm = raster_io.utm_crs(xs[0], ys[0])
    return utm, (f"the domain and the scenes are in geographic coordinates; subsets are written in "
                 f"{utm.to_string()} (the domain's UTM zone) with square pixels")


def working_domain(geometry, domain_crs, scene_path):
    """(domain geometry in the subsets' CRS, that CRS, why or None) for a shapely domain and the first scene."""
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    with rasterio.open(scene_path) as src:
        scene_crs = src.crs
    crs, why = working_crs(domain_crs, geometry.bounds, scene_crs)
    if crs != domain_crs:
        geometry = shape(transform_geom(domain_crs, crs, mapping(geometry)))
    return geometry, crs, why


def domain_grid(bounds, crs, pixel_size):
    """A grid covering ``bounds`` (minx, miny, maxx, maxy) snapped outward to the pixel size."""
    if not pixel_size or pixel_size <= 0 or not math.isfinite(pixel_size):
        raise ValueError(f"the pixel size must be a positive number (got {pixel_size})")
    minx, miny, maxx, maxy = bounds
    x0 = math.floor(minx / pixel_size) * pixel_size
    y1 = math.ceil(maxy / pixel_size) * pixel_size
    width = max(1, math.ceil((maxx - x0) / pixel_size - 1e-9))
    height = max(1, math.ceil((y1 - miny) / pixel_size - 1e-9))
    if width * height > 2_000_000_000:
        raise ValueError(
            f"the domain would be {width} x {height} pixels at {pixel_size} units per pixel; "
            "choose a larger pixel size or a smaller domain"
        )
    return Grid(crs, from_origin(x0, y1, pixel_size, pixel_size), width, height)


def find_landsat_qa(path):
    """The Landsat QA band beside a band file (``..._B8.TIF`` -> ``..._BQA.TIF`` / ``_QA_PIXEL.TIF``)."""
    folder, name = os.path.split(path)
    stem, _ = os.path.splitext(name)
    m = re.match(r"^(.*)_B\d+[A-Z]?$", stem, re.I)
    if not m:
        return None, None
    for suffix, kind in (("_QA_PIXEL", "landsat_c2_qa_pixel"), ("_BQA", "landsat_c1_bqa")):
        for ext in (".TIF", ".tif"):
            candidate = os.path.join(folder, m.group(1) + suffix + ext)
            if os.path.exists(candidate):
                return candidate, kind
    return None, None


def find_qa_suffix(path):
    """Whether a file is itself a Landsat QA band (so not a scene)."""
    stem = os.path.splitext(os.path.basename(path))[0].upper()
    return stem.endswith("_BQA") or stem.endswith("_QA_PIXEL")


def cloud_pixels(qa, kind):
    """True where a cloud mask / Landsat QA value marks cloud."""
    qa = np.asarray(qa)
    if kind == "mask":
        return qa != 0
    qa = qa.astype(np.int64)
    if kind == "landsat_c2_qa_pixel":  # bit 1 dilated cloud, bit 3 cloud
        return (qa & ((1 << 1) | (1 << 3))) != 0
    if kind == "landsat_c1_bqa":  # bit 4 cloud, bits 5-6 cloud confidence == high
        return ((qa & (1 << 4)) != 0) | (((qa >> 5) & 3) == 3)
    raise ValueError(f"unknown cloud mask kind {kind!r}; use one of {', '.join(CLOUD_KINDS)}")


def default_nodata(dtype):
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return float("nan")
    if np.issubdtype(dtype, np.unsignedinteger):
        return 0
    return int(np.iinfo(dtype).min)


def overlaps(path, grid, domain):
    """Whether the raster's footprint meets the domain geometry's bounds."""
    with rasterio.open(path) as src:
        _require_crs(src, path)
        return raster_io.overlaps(src, grid.crs, features.bounds(domain))


def subset_scene(path, dst_path, grid, domain, resampling="bilinear", max_nodata_pct=25.0,
                 max_cloud_pct=15.0, cloud_path=None, cloud_kind="mask",
                 progress=None, is_canceled=None):
    """Warp, clip and filter one scene. Returns a dict describing the outcome.

    ``domain`` is a GeoJSON-like geometry in ``grid.crs``. The result has
    ``status`` ('accepted' or 'rejected'), ``reason``, ``nodata_pct``,
    ``cloud_pct`` and ``path`` (None when rejected). Raises ValueError for
    input the user must fix (no CRS).
    """
    result = {"status": "rejected", "reason": "", "nodata_pct": None, "cloud_pct": None, "path": None}
    if not overlaps(path, grid, domain):
        result["reason"] = "does not overlap the domain"
        return result
    try:
        with contextlib.ExitStack() as stack:
            src = stack.enter_context(rasterio.open(path))
            _require_crs(src, path)
            nodata = src.nodata if src.nodata is not None else default_nodata(src.dtypes[0])
            vrt = stack.enter_context(WarpedVRT(
                src, resampling=Resampling[resampling], src_nodata=src.nodata, nodata=nodata,
                **grid.profile))
            cloud_vrt = None
            if cloud_path:
                cloud_src = stack.enter_context(rasterio.open(cloud_path))
                _require_crs(cloud_src, cloud_path)
                cloud_vrt = stack.enter_context(
                    WarpedVRT(cloud_src, resampling=Resampling.nearest, **grid.profile))
            profile = raster_io.output_profile(grid.profile, src.count, src.dtypes[0], nodata)
            descriptions = list(src.descriptions) if any(src.descriptions) else None
            dst = stack.enter_context(raster_io.open_output(dst_path, profile, descriptions))
            counts = _copy_windows(vrt, dst, grid, domain, nodata, cloud_vrt, cloud_kind,
                                   progress, is_canceled)
            result.update(_fractions(*counts))
            if result["nodata_pct"] > max_nodata_pct:
                raise Rejected(f"nodata {result['nodata_pct']:.1f} % > {max_nodata_pct:g} %")
            if result["cloud_pct"] is not None and result["cloud_pct"] > max_cloud_pct:
                raise Rejected(f"cloud {result['cloud_pct']:.1f} % > {max_cloud_pct:g} %")
    except Rejected as why:
        result["reason"] = str(why)
        return result
    result.update(status="accepted", path=str(dst_path))
    return result


def _copy_windows(vrt, dst, grid, domain, nodata, cloud_vrt, cloud_kind, progress, is_canceled):
    inside_n = valid_n = cloud_n = 0
    total = raster_io.count_windows(grid.width, grid.height, WINDOW)
    for i, (win, _) in enumerate(raster_io.windows(grid.width, grid.height, WINDOW)):
        check_cancel(is_canceled)
        inside = features.geometry_mask(
            [domain], out_shape=(win.height, win.width),
            transform=window_transform(win, grid.transform), invert=True, all_touched=False,
        )
        data = vrt.read(window=win)
        valid = _valid(data, nodata) & inside
        data[:, ~valid] = nodata
        dst.write(data, window=win)
        inside_n += int(inside.sum())
        valid_n += int(valid.sum())
        if cloud_vrt is not None:
            cloud_n += int((cloud_pixels(cloud_vrt.read(1, window=win), cloud_kind) & valid).sum())
        if progress:
            progress((i + 1) / total)
    return inside_n, valid_n, (cloud_n if cloud_vrt is not None else None)


def _valid(data, nodata):
    if isinstance(nodata, float) and math.isnan(nodata):
        return np.isfinite(data).all(axis=0)
    valid = (data != nodata).all(axis=0)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data).all(axis=0)
    return valid


def _fractions(inside_n, valid_n, cloud_n):
    if inside_n == 0:
        raise Rejected("the domain covers no whole pixel of the grid")
    nodata_pct = 100.0 * (inside_n - valid_n) / inside_n
    cloud_pct = None
    if cloud_n is not None:
        cloud_pct = 100.0 * cloud_n / valid_n if valid_n else 0.0
    return {"nodata_pct": round(nodata_pct, 3),
            "cloud_pct": None if cloud_pct is None else round(cloud_pct, 3)}


def _require_crs(src, path):
    if src.crs is None:
        raise ValueError(f"{os.path.basename(str(path))} has no coordinate reference system; assign one first")
