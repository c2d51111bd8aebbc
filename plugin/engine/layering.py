"""Windowed raster versions of the layering operations.

``layer_calfin_raster``: one grey band -> the 3-band CALFIN model input.
``stack_bands``: several single-band rasters -> one multi-band raster on a
reference grid, band descriptions set to channel names (the water stack).
"""

import contextlib
import os

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from . import enhance, raster_io

WINDOW = 1024


def layer_calfin_raster(src_path, dst_path, band=1, sigma=enhance.DEFAULT_SIGMA,
                        progress=None, is_canceled=None):
    """Write the 3-band CALFIN input (uint8, 0 = nodata) for one band of ``src_path``."""
    with rasterio.open(src_path) as src:
        if not 1 <= band <= src.count:
            raise ValueError(
                f"{os.path.basename(src_path)} has {src.count} band(s); band {band} does not exist"
            )
        sample = raster_io.decimated_sample(src, band)
        if sample.size == 0:
            raise ValueError(f"{os.path.basename(src_path)} holds no valid pixels (all nodata)")
        limits = enhance.stretch_limits(sample)
        profile = raster_io.output_profile(src, 3, "uint8", nodata=0)
        halo = enhance.halo(sigma)
        total = raster_io.count_windows(src.width, src.height, WINDOW)
        with raster_io.open_output(dst_path, profile, [n.upper() for n in enhance.LAYER_NAMES]) as dst:
            for i, (core, padded) in enumerate(raster_io.windows(src.width, src.height, WINDOW, halo)):
                raster_io.check_cancel(is_canceled)
                data = src.read(band, window=padded, masked=True)
                valid = ~np.ma.getmaskarray(data)
                values = data.filled(0).astype(np.float32)
                valid &= np.isfinite(values)
                layers = enhance.layer_calfin(values, valid, limits, sigma)
                dst.write(raster_io.crop_to_core(layers, core, padded), window=core)
                if progress:
                    progress((i + 1) / total)
    return {"limits": limits}


def stack_bands(inputs, reference_path, dst_path, resampling="bilinear", dtype="float32",
                progress=None, is_canceled=None):
    """Stack single bands onto the grid of ``reference_path``.

    ``inputs`` is a list of ``(path, band, name)``. The output is ``dtype``
    with NaN (float) or 0 as nodata, and a pixel is nodata in every band where
    any input is nodata (nodata is the union).
    """
    if not inputs:
        raise ValueError("no input bands to stack")
    nodata = float("nan") if np.issubdtype(np.dtype(dtype), np.floating) else 0
    with rasterio.open(reference_path) as ref:
        if ref.crs is None:
            raise ValueError(f"the reference raster {os.path.basename(reference_path)} has no CRS")
        grid = dict(crs=ref.crs, transform=ref.transform, width=ref.width, height=ref.height)
        ref_bounds = ref.bounds
    with contextlib.ExitStack() as stack:
        vrts = []
        for path, band, name in inputs:
            src = stack.enter_context(rasterio.open(path))
            if src.crs is None:
                raise ValueError(f"{os.path.basename(path)} has no coordinate reference system")
            if not 1 <= band <= src.count:
                raise ValueError(f"{os.path.basename(path)} has {src.count} band(s); band {band} does not exist")
            if not _bounds_meet(src, grid["crs"], ref_bounds):
                raise ValueError(f"{os.path.basename(path)} does not overlap the reference grid")
            vrt = stack.enter_context(
                WarpedVRT(src, resampling=Resampling[resampling], src_nodata=src.nodata, **grid))
            vrts.append((vrt, band))
        profile = raster_io.output_profile(grid, len(inputs), dtype, nodata)
        names = [name for _, _, name in inputs]
        dst = stack.enter_context(raster_io.open_output(dst_path, profile, names))
        total = raster_io.count_windows(grid["width"], grid["height"], WINDOW)
        any_valid = False
        for i, (win, _) in enumerate(raster_io.windows(grid["width"], grid["height"], WINDOW)):
            raster_io.check_cancel(is_canceled)
            out = np.empty((len(vrts), win.height, win.width), dtype=dtype)
            valid = np.ones((win.height, win.width), dtype=bool)
            for b, (vrt, band) in enumerate(vrts):
                data = vrt.read(band, window=win, masked=True)
                valid &= ~np.ma.getmaskarray(data)
                values = data.filled(0).astype(dtype)
                if np.issubdtype(values.dtype, np.floating):
                    valid &= np.isfinite(values)
                out[b] = values
            out[:, ~valid] = nodata
            any_valid |= bool(valid.any())
            dst.write(out, window=win)
            if progress:
                progress((i + 1) / total)
        if not any_valid:
            raise ValueError("the stacked bands have no pixel where all of them hold data")
    return {"bands": names}


def _bounds_meet(src, crs, bounds):
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)
    return left < bounds.right and right > bounds.left and bottom < bounds.top and top > bounds.bottom
