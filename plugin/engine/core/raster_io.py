"""The one place where rasters are read and written (rasterio, windowed).

Everything here works window by window so memory stays bounded however large
the scene. Outputs are written to a temporary file next to the destination and
renamed only when complete, so a failed or cancelled run leaves nothing behind.
"""

import contextlib
import math
import os

import numpy as np
import rasterio
import rasterio.errors
from rasterio.windows import Window

from . import outputs

GTIFF_OPTIONS = dict(
    driver="GTiff", tiled=True, blockxsize=256, blockysize=256,
    compress="deflate", BIGTIFF="IF_SAFER",
)


def windows(width, height, size, halo=0):
    """Yield (core, padded) window pairs covering the raster.

    ``core`` tiles the raster without overlap; ``padded`` is ``core`` grown by
    ``halo`` pixels on each side and clipped to the raster, for neighbourhood
    operations that must not see a seam at window edges.
    """
    for row in range(0, height, size):
        for col in range(0, width, size):
            core = Window(col, row, min(size, width - col), min(size, height - row))
            c0, r0 = max(0, col - halo), max(0, row - halo)
            c1 = min(width, col + core.width + halo)
            r1 = min(height, row + core.height + halo)
            yield core, Window(c0, r0, c1 - c0, r1 - r0)


def count_windows(width, height, size):
    return math.ceil(width / size) * math.ceil(height / size)


def crop_to_core(array, core, padded):
    """Cut the ``core`` part out of an array read for ``padded``."""
    r = core.row_off - padded.row_off
    c = core.col_off - padded.col_off
    return array[..., r:r + core.height, c:c + core.width]


def band_descriptions(path):
    """Each band's description ('' where unset)."""
    with rasterio.open(path) as src:
        return [d or "" for d in src.descriptions]


def valid_mask(src, window=None, bands=None):
    """True where every requested band holds data (nodata and NaN excluded)."""
    return read_window(src, bands or range(1, src.count + 1), window)[1]


def output_profile(src_or_profile, count, dtype, nodata=None, **overrides):
    """A tiled, compressed GeoTIFF profile on the grid of ``src_or_profile``."""
    base = src_or_profile.profile if hasattr(src_or_profile, "profile") else src_or_profile
    profile = {k: base[k] for k in ("width", "height", "crs", "transform")}
    profile.update(GTIFF_OPTIONS, count=count, dtype=dtype, nodata=nodata)
    if profile["width"] < 256 or profile["height"] < 256:
        profile["tiled"] = False
        profile.pop("blockxsize")
        profile.pop("blockysize")
    profile.update(overrides)
    return profile


@contextlib.contextmanager
def open_output(path, profile, descriptions=None):
    """Open a GeoTIFF for writing atomically (``outputs.atomic_output``); band descriptions optional."""
    with outputs.atomic_output(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            if descriptions:
                for i, name in enumerate(descriptions, start=1):
                    dst.set_band_description(i, name)
            yield dst


class DamagedRaster(ValueError):
    """GDAL cannot read a raster's pixels: the file is truncated or corrupt."""


def _read(src, *args, **kwargs):
    """``src.read`` that names a damaged file as damaged (not as nodata, not as a GDAL trace)."""
    try:
        return src.read(*args, **kwargs)
    except rasterio.errors.RasterioIOError as exc:
        name = os.path.basename(str(src.name))
        raise DamagedRaster(
            f"{name} is damaged (truncated or corrupt): GDAL cannot read its pixels ({exc}); "
            "download or export it again") from None


def read_window(src, bands, window=None):
    """Bands of one window (None: the whole raster) as float32 plus its valid mask.

    Valid means every band holds data: not nodata (or masked by a warped
    dataset) and finite. One read serves both, so windowed engines do not
    read every pixel twice.
    """
    data = _read(src, list(bands), window=window, masked=True)
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    values = data.filled(0).astype(np.float32, copy=False)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(values).all(axis=0)
    return values, valid


def decimated_samples(src, bands, max_pixels=4_000_000, progress=None, steps=20):
    """Valid values of each band, read at reduced resolution (for scene statistics).

    Every ``factor``-th pixel (nearest) of the largest block of whole ``factor`` x ``factor`` cells,
    read in up to ``steps`` strips so ``progress(fraction)`` can report on a large scene; the exact
    ratio makes the strips pick the same pixels as one read would. All bands come from each read:
    pixel-interleaved files store all bands in each block, so reading them together decodes the file once.
    """
    factor = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
    out_h, out_w = max(1, src.height // factor), max(1, src.width // factor)
    used_w = min(src.width, out_w * factor)
    rows = max(1, math.ceil(out_h / max(1, steps)))
    parts = [[] for _ in bands]
    for r0 in range(0, out_h, rows):
        n = min(rows, out_h - r0)
        window = Window(0, r0 * factor, used_w, min(src.height - r0 * factor, n * factor))
        data = _read(src, list(bands), window=window, out_shape=(len(bands), n, out_w), masked=True,
                     resampling=rasterio.enums.Resampling.nearest)
        for values, band in zip(parts, data):
            v = band.compressed()
            values.append(v[np.isfinite(v)] if np.issubdtype(v.dtype, np.floating) else v)
        if progress is not None:
            progress(min(1.0, (r0 + n) / out_h))
    return [np.concatenate(values) for values in parts]


# ---------------------------------------------------------------- geometry of grids

def pixel_size(transform):
    """Edge of a square pixel of equal area (map units): sqrt |det| of the affine."""
    return math.sqrt(pixel_area(transform))


def pixel_area(transform):
    """Area of one pixel in map units squared (|det| of the affine, rotation included)."""
    return abs(transform.a * transform.e - transform.b * transform.d)


def bounds_in(src, crs):
    """(left, bottom, right, top) of an open raster in ``crs`` (edges densified, so curved edges count)."""
    from rasterio.warp import transform_bounds

    if src.crs == crs:
        return tuple(src.bounds)
    return transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)


def bounds_overlap(a, b):
    """Whether two (left, bottom, right, top) boxes share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def overlaps(src, crs, bounds):
    """Whether the open raster ``src`` meets ``bounds`` given in ``crs``."""
    return bounds_overlap(bounds_in(src, crs), tuple(bounds))


def check_degrees(bounds, crs, what="the layer"):
    """Refuse bounds in a geographic CRS that cannot be degrees (a layer with the wrong CRS label)."""
    if crs is None or not crs.is_geographic:
        return
    left, bottom, right, top = bounds
    if left < -360 or right > 360 or bottom < -90.5 or top > 90.5:
        raise ValueError(
            f"{what} is labelled {crs.to_string()} (degrees) but its coordinates "
            f"(x {left:.6g} to {right:.6g}, y {bottom:.6g} to {top:.6g}) do not look like degrees: "
            "its CRS is probably wrong; set the layer's real CRS (Layer Properties > Source)")


def utm_crs(lon, lat):
    """The WGS 84 UTM zone (EPSG:326xx north, 327xx south) of a point in degrees."""
    from rasterio.crs import CRS

    zone = min(60, max(1, int((lon + 180.0) // 6.0) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


# ---------------------------------------------------------------- SAR units

DB_FLOOR = 1e-6  # linear power floor before 10 log10: -60 dB, so zeros do not give -inf
POWER_P99_MAX = 10.0


def looks_like_power(values, is_float=True):
    """The linear-power rule: floating-point values, all >= 0, 99th percentile <= 10.

    dB backscatter is mostly negative and 8-bit renderings are integers, so
    neither passes; linear power (sigma0, gamma0) of natural scenes does.
    """
    values = np.asarray(values)
    if not is_float or values.size == 0:
        return False
    return bool(values.min() >= 0 and np.percentile(values, 99) <= POWER_P99_MAX)


def to_db(x):
    """10 log10 of linear power, floored at ``DB_FLOOR`` (float32)."""
    return (10.0 * np.log10(np.maximum(x, DB_FLOOR))).astype(np.float32)
