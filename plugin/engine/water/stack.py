"""Build a water stack: SAR (+ optical, DEM, HAND) on the SAR grid in one raster.

Every input is reprojected and resampled onto the grid of the first SAR
raster with rasterio's WarpedVRT, window by window, so memory stays bounded.
Band descriptions are the channel names (``VV,VH`` or ``HH,HV``, then
``RED,NIR,SWIR1,SWIR2``, ``DEM``, ``HAND``), which is how the inference
engine maps stack bands to model channels. A pixel is nodata (-9999) in every
band where any input has no data (the union).

SAR is written as dB (``sar_output="db"``, the default) or linear power
(``"linear"``). The input scale is detected per band (``sar_input="auto"``:
floating point, all values >= 0 and the 99th percentile <= 10 means linear
power, anything else dB) or forced with ``"linear"`` / ``"db"``. 8-bit
renderings cannot be converted back to physical units; write them with
``sar_output="as_is"``.
"""

import contextlib
import os
import re

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from ..core import raster_io
from ..core.cancel import check_cancel

NODATA = -9999.0
WINDOW = 1024
OPTICAL = ("RED", "NIR", "SWIR1", "SWIR2")
SAR_OUTPUTS = ("db", "linear", "as_is")


def polarisation_files(paths, names):
    """One single-band raster per polarisation, picked by file name from more rasters than names.

    A product's folder holds more than its backscatter (ASF RTC: ``*_HH.tif``, ``*_HV.tif`` next to
    ``*_ls_map.tif``, ``*.dem.tif``; OPERA RTC-S1: ``*_VV.tif``, ``*_VH.tif``, ``*_mask.tif``): the
    raster for ``VV`` is the one whose file name has ``VV`` as a word (between ``_ - .`` or at an end).
    Raises ValueError naming what is missing or ambiguous (the files of several scenes).
    """
    picked = []
    for name in names:
        hits = [p for p in paths
                if name in re.split(r"[_\-.\s]+", os.path.splitext(os.path.basename(str(p)))[0].upper())]
        listing = ", ".join(os.path.basename(str(p)) for p in hits)
        if not hits:
            raise ValueError(f"none of the {len(paths)} SAR rasters has {name} in its file name (e.g. "
                             f"..._{name}.tif): give one raster per polarisation, in the order "
                             f"{', '.join(names)}")
        if len(hits) > 1:
            raise ValueError(f"{len(hits)} SAR rasters have {name} in their file names ({listing}): give the "
                             "files of one scene")
        picked.append(hits[0])
    return picked


def _looks_linear(src, band):
    values = raster_io.decimated_samples(src, [band], max_pixels=1_000_000)[0]
    if values.size == 0:
        raise ValueError(f"band {band} of {src.name} holds no valid data (every pixel is nodata)")
    return raster_io.looks_like_power(values, np.issubdtype(values.dtype, np.floating))


class _Source:
    """One input raster warped onto the target grid, with the bands we take from it."""

    def __init__(self, path, bands, names, grid, resampling, what):
        self.path, self.bands, self.names, self.what = path, list(bands), list(names), what
        self.src = rasterio.open(path)
        if self.src.crs is None:
            self.src.close()
            raise ValueError(f"the {what} raster {path} has no coordinate reference system")
        bad = [b for b in self.bands if not 1 <= b <= self.src.count]
        if bad:
            count = self.src.count
            self.src.close()
            raise ValueError(f"the {what} raster has {count} band(s); band(s) {bad} do not exist")
        crs, transform, width, height = grid
        west, south, east, north = rasterio.transform.array_bounds(height, width, transform)
        if not raster_io.overlaps(self.src, crs, (west, south, east, north)):
            self.src.close()
            raise ValueError(
                f"the {what} raster ({path}) does not overlap the SAR grid: their extents in "
                f"{crs.to_string()} do not intersect"
            )
        self.alpha = self.src.nodata is None and not np.issubdtype(np.dtype(self.src.dtypes[0]), np.floating)
        kwargs = dict(crs=crs, transform=transform, width=width, height=height, resampling=resampling)
        if self.alpha:
            self.vrt = WarpedVRT(self.src, add_alpha=True, **kwargs)
        else:
            nodata = self.src.nodata if self.src.nodata is not None else np.nan
            self.vrt = WarpedVRT(self.src, nodata=nodata, src_nodata=nodata, **kwargs)

    def read(self, window):
        """(float32 (len(bands), h, w), valid (h, w))."""
        values, valid = raster_io.read_window(self.vrt, self.bands, window)
        if self.alpha:
            valid &= self.vrt.read(self.vrt.count, window=window) > 0
        return values, valid

    def close(self):
        self.vrt.close()
        self.src.close()


def build_stack(sar_paths, out_path, sar_names=("VV", "VH"), sar_input="auto", sar_output="db",
                optical_path=None, optical_bands=(1, 2, 3, 4), dem_path=None, hand_path=None,
                resampling="bilinear", block=1024, progress=None, is_canceled=None, log=None):
    """Write the stack to ``out_path``; return {"channels": [...], "sar_units": ..., ...}.

    ``sar_paths``: one raster with a band per polarisation, one raster per
    polarisation (``sar_names`` gives the names in the same order), or more
    rasters, from which ``polarisation_files`` picks one per polarisation by name.
    """
    if sar_output not in SAR_OUTPUTS:
        raise ValueError(f"sar_output must be one of {', '.join(SAR_OUTPUTS)}")
    if sar_input not in ("auto", "linear", "db"):
        raise ValueError("sar_input must be auto, linear or db")
    sar_paths = [sar_paths] if isinstance(sar_paths, (str, bytes)) or hasattr(sar_paths, "__fspath__") else list(sar_paths)
    sar_names = [n.strip().upper() for n in (sar_names.split(",") if isinstance(sar_names, str) else sar_names)]
    if len(sar_paths) > len(sar_names):  # e.g. every GeoTIFF of a downloaded product
        sar_paths = polarisation_files(sar_paths, sar_names)
        if log is not None:
            log("SAR rasters picked by name: " + ", ".join(
                f"{n}={os.path.basename(str(p))}" for n, p in zip(sar_names, sar_paths)))
    resampling = Resampling[resampling] if isinstance(resampling, str) else resampling
    with rasterio.open(sar_paths[0]) as ref:
        if ref.crs is None:
            raise ValueError("the SAR raster has no coordinate reference system")
        grid = (ref.crs, ref.transform, ref.width, ref.height)
        profile = raster_io.output_profile(ref, 1, "float32", nodata=NODATA)
    sources, sar_sources = [], []
    try:
        if len(sar_paths) == 1:
            with rasterio.open(sar_paths[0]) as s:
                count = s.count
            if count < len(sar_names):
                raise ValueError(
                    f"the SAR raster has {count} band(s) but {len(sar_names)} polarisations "
                    f"({', '.join(sar_names)}) were named"
                )
            sar_sources.append(_Source(sar_paths[0], range(1, len(sar_names) + 1), sar_names,
                                       grid, resampling, "SAR"))
        else:
            if len(sar_paths) != len(sar_names):
                raise ValueError(f"{len(sar_paths)} SAR rasters but {len(sar_names)} polarisation names")
            for path, name in zip(sar_paths, sar_names):
                sar_sources.append(_Source(path, [1], [name], grid, resampling, f"SAR {name}"))
        sources += sar_sources
        if optical_path:
            if len(optical_bands) != len(OPTICAL):
                raise ValueError("give four optical band numbers, for RED, NIR, SWIR1 and SWIR2")
            sources.append(_Source(optical_path, optical_bands, OPTICAL, grid, resampling, "optical"))
        if dem_path:
            sources.append(_Source(dem_path, [1], ["DEM"], grid, resampling, "DEM"))
        if hand_path:
            sources.append(_Source(hand_path, [1], ["HAND"], grid, resampling, "HAND"))

        # Decide per SAR band whether its values are linear power.
        linear = []
        for s in sar_sources:
            for b in s.bands:
                linear.append(sar_input == "linear" or (sar_input == "auto" and _looks_linear(s.src, b)))
        units = {"db": "dB", "linear": "linear power", "as_is": "as given"}[sar_output]
        channels = [n for s in sources for n in s.names]
        if len(set(channels)) != len(channels):
            raise ValueError(f"channel names repeat: {', '.join(channels)}")
        profile.update(count=len(channels))
        width, height = grid[2], grid[3]
        total = raster_io.count_windows(width, height, block)
        any_valid = False
        with raster_io.open_output(out_path, profile, descriptions=channels) as dst:
            for i, (core, _) in enumerate(raster_io.windows(width, height, block)):
                check_cancel(is_canceled)
                parts, valid = [], np.ones((core.height, core.width), bool)
                for s in sources:
                    values, ok = s.read(core)
                    parts.append(values)
                    valid &= ok
                data = np.concatenate(parts, axis=0)
                for k, is_linear in enumerate(linear):
                    if sar_output == "db" and is_linear:
                        valid &= data[k] > 0  # log of zero power is not a number
                        data[k] = raster_io.to_db(data[k])
                    elif sar_output == "linear" and not is_linear:
                        data[k] = np.power(10.0, data[k] / 10.0)
                data[:, ~valid] = NODATA
                any_valid |= bool(valid.any())
                dst.write(data, window=core)
                if progress:
                    progress((i + 1) / total)
            if not any_valid:
                raise ValueError(
                    "the inputs have no pixel where all of them hold data on the SAR grid "
                    "(the stack would be all nodata)"
                )
    finally:
        for s in sources:
            s.close()
    if log:
        log(f"stack bands: {', '.join(channels)}; SAR written as {units}")
    return {"channels": channels, "sar_units": units, "sar_input_linear": linear}


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
        ref_bounds = tuple(ref.bounds)
    with contextlib.ExitStack() as stack:
        vrts = []
        for path, band, name in inputs:
            src = stack.enter_context(rasterio.open(path))
            if src.crs is None:
                raise ValueError(f"{os.path.basename(path)} has no coordinate reference system")
            if not 1 <= band <= src.count:
                raise ValueError(f"{os.path.basename(path)} has {src.count} band(s); band {band} does not exist")
            if not raster_io.overlaps(src, grid["crs"], ref_bounds):
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
            check_cancel(is_canceled)
            out = np.empty((len(vrts), win.height, win.width), dtype=dtype)
            valid = np.ones((win.height, win.width), dtype=bool)
            for b, (vrt, band) in enumerate(vrts):
                values, ok = raster_io.read_window(vrt, [band], win)
                out[b] = values[0].astype(dtype)
                valid &= ok
            out[:, ~valid] = nodata
            any_valid |= bool(valid.any())
            dst.write(out, window=win)
            if progress:
                progress((i + 1) / total)
        if not any_valid:
            raise ValueError("the stacked bands have no pixel where all of them hold data")
    return {"bands": names}
