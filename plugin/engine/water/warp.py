"""Run a raster engine on a metric grid: geographic input is warped on the fly to its UTM zone.

SAR water mapping needs pixels in metres (segment areas, slopes, speckle
windows, a model's training pixel size). A raster in a geographic CRS
(EPSG:4326, as many archives export it) is therefore viewed through a
rasterio ``WarpedVRT`` on the WGS 84 UTM zone of its centre
(``raster_io.utm_crs``) at about its native ground pixel size (nearest
neighbour by default: calibrated values are kept, never mixed across a water
edge or with nodata), the engine runs on that view, and its outputs are warped
back onto the input's own grid (the caller chooses the resampling per output;
nearest keeps a class raster and its probability consistent), window by window,
so memory stays bounded and the user gets rasters that line up with what they
gave. A projected input is passed through untouched.

- ``metric_pixel_size``: ground size (m) of a pixel of a geographic raster at its centre.
- ``utm_grid``: the UTM grid (crs, transform, width, height) that covers a raster.
- ``open_metric`` / ``metric_view``: the raster's UTM view (``metric_view``
  yields a projected raster itself).
- ``write_vrt``: the UTM view as a ``.vrt`` file, for engines that open a path
  (``inference.predict_raster``).
- ``warp_back``: write a raster made on the UTM grid onto the input's grid.
- ``on_metric_grid``: all of it around one engine call (``run(path, outputs, progress)``);
  nothing is copied but the outputs, and a hidden temporary folder beside them
  holds the UTM outputs until they are warped back.
"""

import contextlib
import math
import os
import tempfile

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from ..core import outputs as core_outputs
from ..core import raster_io
from ..core.cancel import check_cancel

WINDOW = 1024


def is_geographic(src):
    """Whether an open raster's CRS is geographic (degrees)."""
    return src.crs is not None and src.crs.is_geographic


def _metres_per_degree(lat):
    """(metres per degree of longitude, of latitude) on the WGS 84 ellipsoid at ``lat``."""
    phi = math.radians(lat)
    m_lat = 111132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)
    return m_lon, m_lat


def _centre(src):
    left, bottom, right, top = src.bounds
    return (left + right) / 2.0, (bottom + top) / 2.0


def metric_pixel_size(src):
    """Ground size in metres of one pixel of a geographic raster at its centre (equal-area edge)."""
    lon, lat = _centre(src)
    if abs(lat) > 84:
        raise ValueError(
            f"the raster is centred at latitude {lat:.1f}, outside the UTM zones (84 S to 84 N): "
            "reproject it to a polar projection in metres (e.g. EPSG:3413 or EPSG:3031) first")
    m_lon, m_lat = _metres_per_degree(lat)
    t = src.transform
    dx = math.hypot(t.a, t.d) * m_lon
    dy = math.hypot(t.b, t.e) * m_lat
    return math.sqrt(dx * dy)


def utm_grid(src, pixel_m=None):
    """(crs, transform, width, height) of the UTM grid covering ``src`` at ``pixel_m`` metres.

    ``pixel_m`` None: the raster's own ground pixel size (``metric_pixel_size``),
    so the warped view has about as many pixels as the input.
    """
    from rasterio.warp import calculate_default_transform

    raster_io.check_degrees(src.bounds, src.crs, "the input raster")
    lon, lat = _centre(src)
    size = float(pixel_m) if pixel_m else metric_pixel_size(src)
    crs = raster_io.utm_crs(lon, lat)
    transform, width, height = calculate_default_transform(
        src.crs, crs, src.width, src.height, *src.bounds, resolution=size)
    return crs, transform, int(width), int(height)


def _nodata(src):
    if src.nodata is not None:
        return src.nodata
    return np.nan if np.issubdtype(np.dtype(src.dtypes[0]), np.floating) else None


def open_metric(src, resampling="nearest", pixel_m=None):
    """A ``WarpedVRT`` of a geographic ``src`` on its UTM zone (the caller closes it)."""
    crs, transform, width, height = utm_grid(src, pixel_m)
    nodata = _nodata(src)
    kwargs = dict(crs=crs, transform=transform, width=width, height=height,
                  resampling=Resampling[resampling] if isinstance(resampling, str) else resampling)
    if nodata is None:  # integer without nodata: an alpha band marks what lies outside
        return WarpedVRT(src, add_alpha=True, **kwargs)
    return WarpedVRT(src, nodata=nodata, src_nodata=nodata, **kwargs)


@contextlib.contextmanager
def metric_view(src, resampling="nearest", pixel_m=None):
    """Yield ``src`` itself when it is projected, else its UTM ``WarpedVRT``."""
    if not is_geographic(src):
        yield src
        return
    vrt = open_metric(src, resampling, pixel_m)
    try:
        yield vrt
    finally:
        vrt.close()


def write_vrt(src_path, vrt_path, resampling="nearest", pixel_m=None):
    """Write the UTM view of a geographic raster as a GDAL ``.vrt`` file; returns its grid.

    The file references ``src_path`` (nothing is copied), keeps the band
    descriptions, and any engine that opens a path reads it as a projected raster.
    """
    with rasterio.open(src_path) as src, open_metric(src, resampling, pixel_m) as vrt:
        rasterio.shutil.copy(vrt, vrt_path, driver="VRT")
        return vrt.crs, vrt.transform, vrt.width, vrt.height


def _fill_gaps(out, valid, wanted, max_px):
    """Pixels ``wanted`` but not ``valid`` take the value of the nearest valid pixel within ``max_px``."""
    from scipy import ndimage

    gaps = wanted & ~valid
    if not gaps.any() or not valid.any():
        return out, valid
    dist, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
    fill = gaps & (dist <= max_px)
    out[:, fill] = out[:, rows[fill], cols[fill]]
    return out, valid | fill


def warp_back(made_path, dst_path, grid_src, resampling="nearest", block=WINDOW,
              progress=None, is_canceled=None, count_value=None, input_bands=None, max_fill_px=3):
    """Write the raster at ``made_path`` onto the grid of the open raster ``grid_src``.

    Same bands, dtype, nodata and band descriptions; pixels that the made
    raster does not cover are nodata. Going there and back loses a pixel here
    and there along the edge of the data (a grid's pixel centres fall just
    outside the other's footprint): with ``input_bands`` (bands of ``grid_src``),
    a pixel valid in the input but uncovered takes the value of the nearest
    covered pixel within ``max_fill_px``. Written atomically
    (``raster_io.open_output``). Returns (valid pixels, pixels equal to
    ``count_value``) on the new grid (the second is 0 when ``count_value`` is None).
    """
    with rasterio.open(made_path) as made:
        nodata = made.nodata
        if nodata is None:
            raise ValueError(f"{os.path.basename(made_path)} has no nodata value to mark uncovered pixels")
        dtype = made.dtypes[0]
        profile = raster_io.output_profile(grid_src, made.count, dtype, nodata=nodata)
        if np.dtype(dtype) == np.float32:
            profile["predictor"] = 3
        descriptions = [d or "" for d in made.descriptions]
        resampling = Resampling[resampling] if isinstance(resampling, str) else resampling
        with WarpedVRT(made, crs=grid_src.crs, transform=grid_src.transform, width=grid_src.width,
                       height=grid_src.height, src_nodata=nodata, nodata=nodata,
                       resampling=resampling) as vrt, \
                raster_io.open_output(dst_path, profile, descriptions if any(descriptions) else None) as dst:
            total = raster_io.count_windows(grid_src.width, grid_src.height, block)
            n_valid = n_value = 0
            bands = list(range(1, made.count + 1))
            for i, (win, _) in enumerate(raster_io.windows(grid_src.width, grid_src.height, block)):
                check_cancel(is_canceled)
                values, valid = raster_io.read_window(vrt, bands, win)
                if input_bands:
                    wanted = raster_io.read_window(grid_src, input_bands, win)[1]
                    values, valid = _fill_gaps(values, valid, wanted, max_fill_px)
                    valid &= wanted
                out = np.where(valid, values, np.float32(nodata)).astype(dtype)
                n_valid += int(valid.sum())
                if count_value is not None:
                    n_value += int(np.count_nonzero(valid & (out[0] == count_value)))
                dst.write(out, window=win)
                if progress is not None:
                    progress((i + 1) / total)
    return n_valid, n_value


def on_metric_grid(src_path, outputs, run, resampling="nearest", pixel_m=None, input_bands=None,
                   progress=None, is_canceled=None, log=None):
    """Run ``run(path, paths)`` on a metric grid and deliver its outputs on the input's grid.

    ``outputs``: {key: (final path or None, resampling back, value to count or None)}.
    ``run(path, paths, progress)`` gets the raster to read (the input itself,
    or a ``.vrt`` of its UTM view) and {key: path to write or None}, and
    returns a dict. For a projected input ``run`` writes the final paths
    directly. For a geographic one it writes on the UTM grid in a hidden
    temporary folder beside the first output, and each output is then warped
    back (all of them appear together, or none on failure or cancellation).
    ``resampling``: of the input onto the UTM grid (nearest: calibrated values
    are kept as they are, none is mixed across a water edge or with nodata).
    ``input_bands``: the input bands the engine reads; the outputs are then
    nodata exactly where these are (``warp_back``). The result gains
    ``warped``: None, or {"crs", "pixel_size_m", "width", "height", "counts":
    {key: (valid, counted)} on the input grid}.
    """
    with rasterio.open(src_path) as src:
        geographic = is_geographic(src)
    if not geographic:
        result = run(src_path, {k: v[0] for k, v in outputs.items()}, progress)
        result["warped"] = None
        return result
    finals = [v[0] for v in outputs.values() if v[0]]
    if not finals:
        raise ValueError("give at least one output")
    folder = os.path.dirname(os.path.abspath(os.fspath(finals[0])))

    def part(lo, hi):
        return None if progress is None else (lambda f: progress(lo + (hi - lo) * f))

    counts = {}
    # Staging: the outputs appear together, or (failure, cancellation) none of
    # them and no folder this call created.
    with core_outputs.Staging() as staging:
        staged = {k: staging.path(v[0]) for k, v in outputs.items() if v[0]}
        with tempfile.TemporaryDirectory(dir=folder, prefix=".waterline-warp-") as tmp:
            vrt_path = os.path.join(tmp, "input_utm.vrt")
            crs, transform, width, height = write_vrt(src_path, vrt_path, resampling, pixel_m)
            size = raster_io.pixel_size(transform)
            if log is not None:
                log(f"the input is in a geographic CRS: processed on {crs.to_string()} at {size:.1f} m "
                    f"({width} x {height} px); the outputs are written back on the input grid")
            made = {k: (os.path.join(tmp, f"{k}.tif") if v[0] else None) for k, v in outputs.items()}
            result = run(vrt_path, made, part(0.0, 0.85))
            with rasterio.open(src_path) as src:
                for j, key in enumerate(staged):
                    _, back, value = outputs[key]
                    lo = 0.85 + 0.15 * j / len(staged)
                    counts[key] = warp_back(
                        made[key], staged[key], src, back, progress=part(lo, lo + 0.15 / len(staged)),
                        is_canceled=is_canceled, count_value=value, input_bands=input_bands)
    result["warped"] = dict(crs=crs.to_string(), pixel_size_m=size, width=width, height=height, counts=counts)
    if progress is not None:
        progress(1.0)
    return result
