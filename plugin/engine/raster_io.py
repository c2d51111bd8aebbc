"""The one place where rasters are read and written (rasterio, windowed).

Everything here works window by window so memory stays bounded however large
the scene. Outputs are written to a temporary file next to the destination and
renamed only when complete, so a failed or cancelled run leaves nothing behind.
"""

import contextlib
import math
import os
import uuid

import numpy as np
import rasterio
from rasterio.windows import Window

GTIFF_OPTIONS = dict(
    driver="GTiff", tiled=True, blockxsize=256, blockysize=256,
    compress="deflate", BIGTIFF="IF_SAFER",
)


class Cancelled(Exception):
    """Raised by engine loops when the caller asks to stop."""


def check_cancel(is_canceled):
    if is_canceled is not None and is_canceled():
        raise Cancelled()


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
    bands = list(bands or range(1, src.count + 1))
    data = src.read(bands, window=window, masked=True)
    mask = ~np.ma.getmaskarray(data).any(axis=0)
    if np.issubdtype(data.dtype, np.floating):
        mask &= np.isfinite(data.filled(0)).all(axis=0)
    return mask


def decimated_sample(src, band, max_pixels=4_000_000):
    """Valid values of one band read at reduced resolution (for scene statistics)."""
    factor = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
    shape = (max(1, src.height // factor), max(1, src.width // factor))
    data = src.read(band, out_shape=shape, masked=True,
                    resampling=rasterio.enums.Resampling.nearest)
    values = data.compressed()
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    return values


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
def atomic_output(path):
    """Yield a temporary path; move it to ``path`` only if the block succeeds."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.partial{ext}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".aux.xml", tmp + ".ovr"):
            if os.path.exists(leftover):
                os.remove(leftover)


@contextlib.contextmanager
def open_output(path, profile, descriptions=None):
    """Open a GeoTIFF for writing atomically; band descriptions optional."""
    with atomic_output(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            if descriptions:
                for i, name in enumerate(descriptions, start=1):
                    dst.set_band_description(i, name)
            yield dst


def read_window(src, bands, window):
    """Bands of one window as float32 plus its valid mask (see ``valid_mask``).

    One read serves both, so windowed engines do not read every pixel twice.
    """
    data = src.read(list(bands), window=window, masked=True)
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    values = data.filled(0).astype(np.float32, copy=False)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(values).all(axis=0)
    return values, valid


def decimated_samples(src, bands, max_pixels=4_000_000):
    """``decimated_sample`` for several bands with one read.

    Pixel-interleaved files store all bands in each block, so reading the
    bands together decodes the file once instead of once per band.
    """
    factor = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
    shape = (len(bands), max(1, src.height // factor), max(1, src.width // factor))
    data = src.read(list(bands), out_shape=shape, masked=True,
                    resampling=rasterio.enums.Resampling.nearest)
    samples = []
    for band in data:
        values = band.compressed()
        if np.issubdtype(values.dtype, np.floating):
            values = values[np.isfinite(values)]
        samples.append(values)
    return samples
