"""Pair SAR scenes with DSWE tiles acquired within a few days (no QGIS).

DSWE "INWAM" rasters (USGS Dynamic Surface Water Extent) code each pixel:
0 not water, 1 water (high confidence), 2 water (moderate confidence),
3 potential wetland, 4 low-confidence water or wetland, 9 cloud / cloud
shadow / snow, 255 fill (no data).

For each SAR footprint and each DSWE acquisition date within ``max_days``,
the tiles of that date are measured inside the footprint, window by window
(``raster_io.windows``): the footprint is rasterised on each tile's grid
(pixel centres inside the polygon). Fractions are of all footprint pixels on
the DSWE grid; the part of the footprint that no tile of that date covers
counts as no data. Water is codes 1 and 2.

A pair passes the seed notebook's rules when cloud <= 30 %, water >= 5 % and
no data <= 50 % (thresholds are parameters).
"""

import datetime as dt
import fnmatch
import os
import re

import numpy as np
import rasterio
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from rasterio.windows import Window, from_bounds
from shapely.geometry import shape

from ..core import raster_io
from ..core.cancel import check_cancel

WATER_CODES = (1, 2)
CLOUD_CODES = (9,)
FILL_CODE = 255

_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(\d{2})-?(\d{2})(?!\d)")


def date_from_name(name):
    """The first valid YYYYMMDD / YYYY-MM-DD date in a file name, or None.

    USGS DSWE ARD names (LC08_CU_003008_20200612_20200625_C01_V01_INWAM.tif)
    and OPERA DSWx names (..._20231010T163331Z_...) put the acquisition date
    first.
    """
    for match in _DATE.finditer(os.path.basename(name)):
        try:
            return dt.date(*map(int, match.groups()))
        except ValueError:
            continue
    return None


def find_tiles(folder, pattern="*.tif"):
    """{date: [paths]} for the DSWE rasters in ``folder`` (not recursive)
    and the list of matching files whose name has no date."""
    by_date, undated = {}, []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or not fnmatch.fnmatch(name.lower(), pattern.lower()):
            continue
        day = date_from_name(name)
        if day is None:
            undated.append(path)
        else:
            by_date.setdefault(day, []).append(path)
    return by_date, undated


def _tile_counts(path, footprint, window_size, is_canceled):
    """(inside, water, cloud, fill, footprint_pixels) of one tile.

    ``footprint_pixels`` is the footprint area in pixels of this tile's grid
    (inside or outside the tile).
    """
    with rasterio.open(path) as src:
        geom = transform_geom("EPSG:4326", src.crs, footprint)
        poly = shape(geom)
        total = poly.area / raster_io.pixel_area(src.transform)
        full = Window(0, 0, src.width, src.height)
        try:
            box = from_bounds(*poly.bounds, transform=src.transform).round_offsets(
                op="floor").round_lengths(op="ceil")
            box = box.intersection(full)
        except rasterio.errors.WindowError:  # footprint misses this tile
            return 0, 0, 0, 0, total
        inside = water = cloud = fill = 0
        nodata = src.nodata
        for core, _ in raster_io.windows(int(box.width), int(box.height), window_size):
            check_cancel(is_canceled)
            win = Window(box.col_off + core.col_off, box.row_off + core.row_off,
                         core.width, core.height)
            mask = geometry_mask([geom], out_shape=(int(win.height), int(win.width)),
                                 transform=src.window_transform(win), invert=True)
            if not mask.any():
                continue
            values = src.read(1, window=win)[mask]
            inside += values.size
            water += int(np.isin(values, WATER_CODES).sum())
            cloud += int(np.isin(values, CLOUD_CODES).sum())
            is_fill = values == FILL_CODE
            if nodata is not None and nodata != FILL_CODE:
                is_fill |= values == nodata
            fill += int(is_fill.sum())
        return inside, water, cloud, fill, total


def measure(footprint, paths, window_size=1024, is_canceled=None):
    """Water/cloud/nodata fractions of DSWE tiles inside a footprint.

    ``footprint`` is a GeoJSON-like polygon in EPSG:4326; ``paths`` are the
    tiles of one date (they do not overlap, as DSWE ARD tiles).
    """
    inside = water = cloud = fill = 0
    total = None
    for path in paths:
        i, w, c, f, t = _tile_counts(path, footprint, window_size, is_canceled)
        inside, water, cloud, fill = inside + i, water + w, cloud + c, fill + f
        total = t if total is None else total  # footprint size on the first tile's grid
    total = max(int(round(total or 0)), inside)
    if total == 0:
        return dict(pixels=0, water=0.0, cloud=0.0, nodata=1.0)
    uncovered = total - inside
    return dict(pixels=total, water=water / total, cloud=cloud / total,
                nodata=(fill + uncovered) / total)


def pair(scenes, tiles, max_days=1, max_cloud=0.30, min_water=0.05, max_nodata=0.50,
         keep_rejected=False, window_size=1024, progress=None, is_canceled=None):
    """Pairs of SAR scenes and DSWE dates with their measured fractions.

    ``scenes``: dicts with ``granule``, ``date`` (datetime.date) and
    ``geometry`` (GeoJSON polygon, EPSG:4326). ``tiles``: ``{date: [paths]}``
    from ``find_tiles``. Returns rows (dicts) sorted by granule and date;
    rejected pairs only with ``keep_rejected`` (their ``reason`` says why).
    """
    jobs = [(scene, day) for scene in scenes for day in sorted(tiles)
            if abs((day - scene["date"]).days) <= max_days]
    rows = []
    for done, (scene, day) in enumerate(jobs):
        check_cancel(is_canceled)
        stats = measure(scene["geometry"], tiles[day], window_size, is_canceled)
        reasons = []
        if stats["cloud"] > max_cloud:
            reasons.append(f"cloud {stats['cloud']:.1%} > {max_cloud:.0%}")
        if stats["water"] < min_water:
            reasons.append(f"water {stats['water']:.1%} < {min_water:.0%}")
        if stats["nodata"] > max_nodata:
            reasons.append(f"nodata {stats['nodata']:.1%} > {max_nodata:.0%}")
        if keep_rejected or not reasons:
            rows.append(dict(
                granule=scene["granule"], sar_date=scene["date"].isoformat(),
                dswe_date=day.isoformat(), days_apart=(day - scene["date"]).days,
                dswe_files=";".join(os.path.basename(p) for p in tiles[day]),
                footprint_pixels=stats["pixels"], water_fraction=stats["water"],
                cloud_fraction=stats["cloud"], nodata_fraction=stats["nodata"],
                passed=not reasons, reason="; ".join(reasons),
            ))
        if progress:
            progress((done + 1) / len(jobs))
    rows.sort(key=lambda r: (r["granule"], r["dswe_date"]))
    return rows
