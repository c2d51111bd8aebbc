"""Height Above Nearest Drainage (HAND) from a DEM, as ASF's water-mapping tools do it.

Steps (pysheds, the library asf_tools.hand uses): fill pits, fill
depressions, resolve flats, D8 flow directions, flow accumulation; cells
whose accumulation exceeds a threshold are drainage; HAND is each cell's
height above the drainage cell its D8 path reaches. Cells whose path leaves
the raster before reaching a drainage cell get the height above the
nearest drainage cell in the plane (ASF fills those gaps by interpolation).

D8 compares drops over cell distances, so the cell size must be in metres.
A DEM in geographic coordinates is handled by converting its cell size in
degrees to metres at the raster's centre latitude; one whose cell size cannot
be converted sensibly (no CRS, rotated, huge cells, polar) is refused unless
the caller gives the cell size in metres.

HAND is a whole-catchment computation, so the DEM is processed in memory
(float64 working copies, about 60 bytes per cell); ``max_cells`` refuses
rasters that would not fit.
"""

import math

import numpy as np
import rasterio
from affine import Affine

from ..core import raster_io
from ..core.cancel import check_cancel

DEFAULT_MAX_CELLS = 60_000_000


def metric_cell_size(src, cell_size_m=None):
    """(dx, dy) of the DEM's cells in metres, or ValueError saying why not."""
    if cell_size_m:
        if cell_size_m <= 0:
            raise ValueError("the cell size in metres must be positive")
        return float(cell_size_m), float(cell_size_m)
    t = src.transform
    if src.crs is None:
        raise ValueError(
            "the DEM has no coordinate reference system, so its cell size in metres is unknown; "
            "assign a CRS or give the cell size in metres"
        )
    if t.b != 0 or t.d != 0:
        raise ValueError("the DEM grid is rotated; warp it to a north-up grid first")
    if not src.crs.is_geographic:
        unit = (src.crs.linear_units or "").lower()
        factor = src.crs.linear_units_factor[1] if unit not in ("metre", "meter", "m") else 1.0
        return abs(t.a) * factor, abs(t.e) * factor
    dlon, dlat = abs(t.a), abs(t.e)
    lat = src.xy(src.height / 2, src.width / 2)[1]
    if not (0 < dlon <= 0.1 and 0 < dlat <= 0.1) or abs(lat) > 80:
        raise ValueError(
            f"the DEM is in geographic coordinates with cells of {dlon:g} x {dlat:g} degrees at "
            f"latitude {lat:.1f}, which cannot be converted to a valid cell size in metres; "
            "reproject it to a projected CRS (e.g. UTM) or give the cell size in metres"
        )
    # Lengths of one degree on the WGS84 ellipsoid at this latitude.
    phi = math.radians(lat)
    m_lat = 111132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)
    return dlon * m_lon, dlat * m_lat


def compute_hand(dem_path, hand_path=None, acc_threshold=None, cell_size_m=None, band=1,
                 max_cells=DEFAULT_MAX_CELLS, progress=None, is_canceled=None, log=None):
    """Compute HAND (metres, float32, nodata NaN) for the DEM at ``dem_path``.

    ``acc_threshold``: minimum number of upstream cells for a drainage cell
    (None: the mean accumulation, as asf_tools does). Returns
    ``(hand array, info dict)`` and writes ``hand_path`` when given.
    """
    from pysheds.sview import Raster, ViewFinder
    from pysheds.sgrid import sGrid

    def step(fraction, message):
        check_cancel(is_canceled)
        if progress:
            progress(fraction)
        if log:
            log(message)

    with rasterio.open(dem_path) as src:
        if src.width * src.height > max_cells:
            raise ValueError(
                f"the DEM has {src.width} x {src.height} cells, more than the {max_cells} this "
                "in-memory HAND computation accepts; clip it to the catchments you need"
            )
        dx, dy = metric_cell_size(src, cell_size_m)
        values, valid = raster_io.read_window(src, [band])
        profile = raster_io.output_profile(src, 1, "float32", nodata=float("nan"))
    if not valid.any():
        raise ValueError("the DEM holds no valid elevation (every cell is nodata)")
    dem = values[0].astype(np.float64)
    del values
    nodata = -1.0e30
    dem[~valid] = nodata
    # pysheds reads cell spans from the affine: give it one in metres.
    vf = ViewFinder(affine=Affine(dx, 0, 0, 0, -dy, 0), shape=dem.shape, nodata=nodata)
    grid = sGrid(vf)
    raster = Raster(dem, viewfinder=vf)
    step(0.05, "filling pits")
    filled = grid.fill_pits(raster)
    step(0.2, "filling depressions")
    filled = grid.fill_depressions(filled)
    step(0.45, "resolving flats")
    inflated = grid.resolve_flats(filled)
    del filled
    step(0.6, "D8 flow directions")
    fdir = grid.flowdir(inflated, routing="d8")
    step(0.7, "flow accumulation")
    acc = np.asarray(grid.accumulation(fdir, routing="d8"))
    if acc_threshold is None:
        acc_threshold = float(acc[valid].mean())
    drainage = (acc > acc_threshold) & valid
    if not drainage.any():
        raise ValueError(
            f"no cell has a flow accumulation above {acc_threshold:g}; lower the threshold"
        )
    step(0.8, f"HAND with accumulation threshold {acc_threshold:g} cells")
    channels = Raster(drainage, viewfinder=ViewFinder(affine=vf.affine, shape=dem.shape, nodata=False))
    hand = np.asarray(grid.compute_hand(fdir, inflated, channels, routing="d8"), dtype=np.float64)
    hand[~valid] = np.nan
    gaps = valid & ~np.isfinite(hand)
    if gaps.any():
        hand[gaps] = _height_above_nearest(dem, drainage, gaps)
    # HAND is measured against the hydrologically conditioned DEM; small
    # negative values from flat resolution are rounding, not depth.
    hand = np.where(valid, np.maximum(hand, 0.0), np.nan).astype(np.float32)
    info = {
        "acc_threshold": float(acc_threshold),
        "cell_size_m": (dx, dy),
        "drainage_cells": int(drainage.sum()),
        "filled_gaps": int(gaps.sum()),
    }
    if hand_path is not None:
        step(0.95, "writing HAND")
        with raster_io.open_output(hand_path, profile, descriptions=["HAND"]) as dst:
            dst.write(hand, 1)
    if progress:
        progress(1.0)
    return hand, info


def _height_above_nearest(dem, drainage, cells):
    from scipy import ndimage

    _, (rows, cols) = ndimage.distance_transform_edt(~drainage, return_indices=True)
    return dem[cells] - dem[rows[cells], cols[cells]]
