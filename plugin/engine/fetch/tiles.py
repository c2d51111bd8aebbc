"""Public global tiles for a footprint, mosaicked onto a grid (no QGIS).

Tile sets (all public, no login; HTTPS, hosts are parameters so tests use a
local replay server):

- Hansen et al. Global Forest Change ``first`` / ``last`` composites: 10 x 10
  degree GeoTIFFs at
  ``https://storage.googleapis.com/earthenginepartners-hansen/<version>/Hansen_<version>_<layer>_<lat><N|S>_<lon><E|W>.tif``
  named by their top-left corner (e.g. ``Hansen_GFC-2023-v1.11_last_10N_090W.tif``
  covers 0-10 N, 90-80 W). Tiles exist from 80 N to 60 S. Their four bands are
  the Landsat red, NIR, SWIR1 and SWIR2 reflectance composites, in that order
  (Earth Engine's first_b30/b40/b50/b70, "Landsat bands 3, 4, 5 and 7" in the
  GFC user notes; 8-bit values as published, not rescaled here).
- Copernicus GLO-30 DEM: 1 x 1 degree COGs named by their south-west corner,
  ``https://copernicus-dem-30m.s3.amazonaws.com/Copernicus_DSM_COG_10_N46_00_E006_00_DEM/Copernicus_DSM_COG_10_N46_00_E006_00_DEM.tif``.
  There are no tiles over open ocean (the bucket answers 404 there).
- ASF GLO-30 HAND (height above nearest drainage, from the same DEM):
  ``https://glo-30-hand.s3.amazonaws.com/v1/2021/Copernicus_DSM_COG_10_N46_00_E006_00_HAND.tif``.

``fetch`` downloads the tiles with the ASF downloader (``.part`` file, HTTP
Range resume after a dropped connection, size check against the server's
length, complete files skipped), into a cache folder; a 404/403 means "no
tile here". ``mosaic`` warps every tile onto one grid window by window (a
reference SAR raster's grid, or the tiles' own grid over the footprint) and
writes a Float32 GeoTIFF (nodata -9999) atomically; where tiles overlap the
first one listed wins. Footprints crossing the antimeridian are not handled.
"""

import math
import os
from dataclasses import dataclass

import numpy as np
import rasterio
import rasterio.errors
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import bounds as window_bounds
from shapely.geometry import box, shape

from . import asf
from ..core import raster_io
from ..core.cancel import check_cancel

GFC_BASE = "https://storage.googleapis.com/earthenginepartners-hansen"
GFC_VERSION = "GFC-2023-v1.11"
GFC_BANDS = ("RED", "NIR", "SWIR1", "SWIR2")
GFC_LAYERS = ("last", "first")
COPDEM_BASE = "https://copernicus-dem-30m.s3.amazonaws.com"
HAND_BASE = "https://glo-30-hand.s3.amazonaws.com/v1/2021"
NODATA = -9999.0
WINDOW = 1024
MAX_TILES = 400


class TileError(ValueError):
    """A tile problem with a sentence the user can act on."""


class MissingTile(TileError):
    """The server has no tile at this URL (HTTP 404/403: e.g. open ocean for the DEM)."""


@dataclass(frozen=True)
class Tile:
    name: str  # the tile's file name
    url: str
    bounds: tuple  # (west, south, east, north) in degrees


def _ns(lat, digits=2):
    return f"{abs(int(lat)):0{digits}d}{'N' if lat >= 0 else 'S'}"


def _ew(lon, digits=3):
    return f"{abs(int(lon)):0{digits}d}{'E' if lon >= 0 else 'W'}"


def _area(area):
    """A shapely geometry (EPSG:4326) from a GeoJSON-like dict or a geometry."""
    geom = shape(area) if isinstance(area, dict) else area
    if geom.is_empty:
        raise TileError("the area of interest is empty")
    west, south, east, north = geom.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise TileError(
            f"the area of interest (x {west:.4g} to {east:.4g}, y {south:.4g} to {north:.4g}) "
            "is not in degrees between -180 and 180 / -90 and 90")
    return geom


def _cells(geom, size):
    """(west, south) of every size x size degree cell touching ``geom``."""
    west, south, east, north = geom.bounds
    x0 = math.floor(west / size) * size
    y0 = math.floor(south / size) * size
    cells = []
    y = y0
    while y < north or (y == y0 and north == south):
        x = x0
        while x < east or (x == x0 and east == west):
            if geom.intersects(box(x, y, x + size, y + size)):
                cells.append((int(round(x)), int(round(y))))
            x += size
        y += size
    if len(cells) > MAX_TILES:
        raise TileError(f"the area needs {len(cells)} tiles (more than {MAX_TILES}); choose a "
                        "smaller area")
    return cells


def gfc_tiles(area, layer="last", version=GFC_VERSION, base=GFC_BASE):
    """(tiles, cells outside the GFC coverage) for the area; tiles named by their top-left corner."""
    if layer not in GFC_LAYERS:
        raise TileError(f"unknown GFC layer {layer!r}; choose {' or '.join(GFC_LAYERS)}")
    geom = _area(area)
    tiles, outside = [], []
    for west, south in _cells(geom, 10):
        north = south + 10
        label = f"{_ns(north)}_{_ew(west)}"
        if north > 80 or south < -60:
            outside.append(label)
            continue
        name = f"Hansen_{version}_{layer}_{label}.tif"
        tiles.append(Tile(name, f"{base.rstrip('/')}/{version}/{name}",
                          (west, south, west + 10, north)))
    return tiles, outside


def _glo30_name(south, west):
    return (f"Copernicus_DSM_COG_10_{'N' if south >= 0 else 'S'}{abs(south):02d}_00_"
            f"{'E' if west >= 0 else 'W'}{abs(west):03d}_00")


def dem_tiles(area, base=COPDEM_BASE):
    """The Copernicus GLO-30 DEM tiles touching the area (1 degree, south-west corner names)."""
    tiles = []
    for west, south in _cells(_area(area), 1):
        stem = _glo30_name(south, west) + "_DEM"
        tiles.append(Tile(stem + ".tif", f"{base.rstrip('/')}/{stem}/{stem}.tif",
                          (west, south, west + 1, south + 1)))
    return tiles


def hand_tiles(area, base=HAND_BASE):
    """ASF's GLO-30 HAND tiles touching the area (same tiling as the DEM)."""
    tiles = []
    for west, south in _cells(_area(area), 1):
        name = _glo30_name(south, west) + "_HAND.tif"
        tiles.append(Tile(name, f"{base.rstrip('/')}/{name}", (west, south, west + 1, south + 1)))
    return tiles


# ---------------------------------------------------------------- download

def public_session():
    """A requests session for public buckets whose 404/403 answers raise ``MissingTile``."""
    import requests

    class PublicSession(requests.Session):
        def request(self, method, url, *args, **kwargs):
            response = super().request(method, url, *args, **kwargs)
            if response.status_code in (403, 404):
                status = response.status_code
                response.close()
                raise MissingTile(f"{os.path.basename(url)}: no such tile on the server "
                                  f"(HTTP {status})")
            return response

    session = PublicSession()
    session.headers["User-Agent"] = "waterline-qgis-plugin"
    return session


def check_https(url):
    if not str(url).startswith("https://"):
        raise TileError(f"the tile URL {url!r} is not an https URL")


def fetch(tiles, folder, session=None, progress=None, is_canceled=None, info=None):
    """Download ``tiles`` into ``folder``: (paths of the tiles fetched, names of those missing).

    A tile whose file is already complete in the folder is not downloaded again.
    """
    session = session or public_session()
    say = info or (lambda message: None)
    paths, missing = [], []
    for i, tile in enumerate(tiles):
        check_cancel(is_canceled)
        check_https(tile.url)

        def part(fraction, i=i):
            if progress:
                progress((i + fraction) / len(tiles))

        try:
            result = asf.download_file(session, tile.url, folder, progress=part,
                                       is_canceled=is_canceled, info=say)
        except MissingTile:
            missing.append(tile.name)
            say(f"{tile.name}: no tile on the server (e.g. open ocean); that part stays nodata.")
            continue
        say(f"{tile.name}: {result.status} ({result.size} bytes)")
        paths.append(result.path)
        part(1.0)
    return paths, missing


# ---------------------------------------------------------------- grids and mosaic

def grid_of(path):
    """(crs, transform, width, height) of a reference raster (the SAR grid)."""
    with rasterio.open(path) as src:
        if src.crs is None:
            raise TileError(f"the reference raster {path} has no coordinate reference system")
        return src.crs, src.transform, src.width, src.height


def grid_area(grid):
    """The grid's extent as a polygon in EPSG:4326 (edges densified)."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    crs, transform, width, height = grid
    west, south, east, north = array_bounds(height, width, transform)
    west, south, east, north = transform_bounds(crs, "EPSG:4326", west, south, east, north,
                                                densify_pts=21)
    return box(west, south, east, north)


def native_grid(paths, area):
    """The first tile's CRS and pixel grid over ``area``'s bounds (snapped outward to its pixels)."""
    from rasterio.transform import from_origin

    with rasterio.open(paths[0]) as src:
        crs, t = src.crs, src.transform
    west, south, east, north = _area(area).bounds
    col0 = math.floor((west - t.c) / t.a)
    col1 = math.ceil((east - t.c) / t.a)
    row0 = math.floor((north - t.f) / t.e)
    row1 = math.ceil((south - t.f) / t.e)
    width, height = max(1, col1 - col0), max(1, row1 - row0)
    return crs, from_origin(t.c + col0 * t.a, t.f + row0 * t.e, t.a, -t.e), width, height


class _Warped:
    """One tile warped onto the target grid, with its footprint there."""

    def __init__(self, path, grid, resampling):
        crs, transform, width, height = grid
        self.src = rasterio.open(path)
        if self.src.crs is None:
            self.src.close()
            raise TileError(f"the tile {os.path.basename(path)} has no coordinate reference system")
        kwargs = dict(crs=crs, transform=transform, width=width, height=height,
                      resampling=resampling)
        self.alpha = self.src.nodata is None
        if self.alpha:
            self.vrt = WarpedVRT(self.src, add_alpha=True, **kwargs)
        else:
            self.vrt = WarpedVRT(self.src, nodata=self.src.nodata, src_nodata=self.src.nodata,
                                 **kwargs)
        self.bounds = raster_io.bounds_in(self.src, crs)

    def read(self, bands, window):
        """(float32 values, valid) of one window: valid is inside the tile and not its nodata.

        Masks come only from the nodata value (or the warper's alpha band where the tile
        has none), never from a band the file labels alpha: the 4th GFC band is data.
        """
        try:
            values = self.vrt.read(list(bands), window=window).astype(np.float32, copy=False)
        except rasterio.errors.RasterioIOError as exc:
            raise TileError(f"the tile {os.path.basename(self.src.name)} is damaged (truncated "
                            f"or corrupt): {exc}; delete it from the tile folder") from None
        valid = np.isfinite(values).all(axis=0)
        if self.alpha:
            valid &= self.vrt.read(self.vrt.count, window=window) > 0
        else:
            valid &= (values != np.float32(self.src.nodata)).all(axis=0)
        return values, valid

    def close(self):
        self.vrt.close()
        self.src.close()


def mosaic(paths, out_path, grid, bands=None, descriptions=None, resampling="bilinear",
           progress=None, is_canceled=None):
    """Warp ``paths`` onto ``grid`` and write one Float32 GeoTIFF; returns the covered share (0-1).

    ``bands``: the tile bands to take (default all of the first tile's); the
    output has one band per entry, described by ``descriptions``. Pixels no
    tile covers are nodata (-9999). Refuses to write when no tile covers the grid.
    """
    if not paths:
        raise TileError("no tile to mosaic")
    method = Resampling[resampling] if isinstance(resampling, str) else resampling
    crs, transform, width, height = grid
    sources = []
    try:
        for path in paths:
            sources.append(_Warped(path, grid, method))
        if bands is None:
            bands = list(range(1, sources[0].src.count + 1))
        for s in sources:
            if s.src.count < max(bands):
                raise TileError(f"the tile {os.path.basename(s.src.name)} has {s.src.count} "
                                f"band(s); band {max(bands)} was asked for")
        profile = raster_io.output_profile(
            dict(width=width, height=height, crs=crs, transform=transform), len(bands),
            "float32", nodata=NODATA)
        covered = 0
        total = width * height
        count = raster_io.count_windows(width, height, WINDOW)
        with raster_io.open_output(out_path, profile, descriptions) as dst:
            for done, (window, _) in enumerate(raster_io.windows(width, height, WINDOW)):
                check_cancel(is_canceled)
                out = np.full((len(bands), window.height, window.width), NODATA, np.float32)
                have = np.zeros((window.height, window.width), bool)
                box_bounds = window_bounds(window, transform)
                for s in sources:
                    if not raster_io.bounds_overlap(s.bounds, box_bounds):
                        continue
                    values, valid = s.read(bands, window)
                    take = valid & ~have
                    out[:, take] = values[:, take]
                    have |= take
                covered += int(have.sum())
                dst.write(out, window=window)
                if progress:
                    progress((done + 1) / count)
            if covered == 0:
                raise TileError("the tiles do not cover any pixel of the output grid")
    finally:
        for s in sources:
            s.close()
    return covered / total
