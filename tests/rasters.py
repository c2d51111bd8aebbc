"""Raster and vector helpers shared by the tests and tools/: write GeoTIFFs and
layers, read them back, and build the scenes several test files use.

* ``write_tif``, ``copy_raster``, ``grid_of``, ``png_to_tif``, ``write_vector``,
  ``read``, ``profile``: small files in temporary folders.
* ``sar_like``: a synthetic 2-band SAR-like array (VV linear power, VH counts)
  on ``UTM`` / ``TRANSFORM``, for the inference and run_model tests.
* ``write_scene``: a small real-data water scene (below).
"""

import warnings
from pathlib import Path

import fiona
import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from shapely.geometry import mapping

# A polar stereographic grid like the CALFIN subsets (Greenland, ~49 m pixels).
POLAR = CRS.from_epsg(3413)
POLAR_TRANSFORM = from_origin(-200000.0, -2200000.0, 49.0, 49.0)
# A 10 m UTM 33N grid for synthetic SAR-like scenes.
UTM = CRS.from_epsg(32633)
TRANSFORM = from_origin(500000, 7000000, 10, 10)
UTM_GRID = {"crs": UTM, "transform": TRANSFORM}
# Real rasters under ../shared/data (parts for conftest.shared_path).
DALLAS = ("misc", "hydrosheds_dem_dallas.tif")  # HydroSHEDS DEM, 3 arc-seconds
DSWX = ("misc", "OPERA_L3_DSWx-HLS_T15QYU_20211011_B01_WTR.tif")  # OPERA DSWx-HLS water classes
PLANET = ("misc", "planet_classified_water_20211011_T15QYU.tif")  # Planet water map, 3 m


def write_tif(path, array, crs=POLAR, transform=None, nodata=None, descriptions=None):
    """Write ``array`` (H, W) or (B, H, W) as a GeoTIFF; returns the path as str.

    The default grid is ``POLAR`` with ``POLAR_TRANSFORM``.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    transform = transform or POLAR_TRANSFORM
    with rasterio.open(
        path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
        count=array.shape[0], dtype=array.dtype, crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(array)
        _describe(dst, descriptions)
    return str(path)


def _describe(dst, descriptions):
    for i, name in enumerate(descriptions or [], start=1):
        dst.set_band_description(i, name)


def grid_of(path):
    """``crs`` and ``transform`` of a raster, to write another on its grid: ``write_tif(p, a, **grid_of(ref))``."""
    with rasterio.open(path) as src:
        return {"crs": src.crs, "transform": src.transform}


def copy_raster(src_path, dst_path, crs=None, transform=None, descriptions=None):
    """A copy of a raster (same pixels and profile), optionally placed elsewhere (another
    ``crs`` and/or ``transform``) or with other band ``descriptions``; returns the path as str."""
    with rasterio.open(src_path) as src:
        profile = dict(src.profile, crs=crs or src.crs, transform=transform or src.transform)
        data = src.read()
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data)
        _describe(dst, descriptions)
    return str(dst_path)


def read_png(path, band=1):
    """One band of a PNG (no georeferencing, so rasterio's warning is silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read(band)


def png_to_tif(png_path, tif_path, band=1, **kwargs):
    """A real PNG from ../shared (no georeferencing) as a georeferenced GeoTIFF."""
    return write_tif(tif_path, read_png(png_path, band), **kwargs)


def write_vector(path, geometries, crs, properties=None, layer=None):
    """Write shapely geometries to a GeoPackage layer; returns the path as str.

    ``crs``: a rasterio CRS or a string ("EPSG:3413"). Property types follow the
    first feature's values (int, float, otherwise str).
    """
    geom_type = geometries[0].geom_type
    props = properties or [{} for _ in geometries]
    types = {int: "int", float: "float"}
    schema = {"geometry": geom_type,
              "properties": {k: types.get(type(v), "str") for k, v in (props[0] if props else {}).items()}}
    with fiona.open(path, "w", driver="GPKG", crs=CRS.from_user_input(crs).to_string(), schema=schema,
                    layer=layer) as dst:
        for geometry, prop in zip(geometries, props):
            dst.write({"geometry": mapping(geometry), "properties": prop})
    return str(path)


def read(path, band=None, masked=False):
    with rasterio.open(path) as src:
        return src.read(band, masked=masked) if band else src.read(masked=masked)


def profile(path):
    with rasterio.open(path) as src:
        return src.profile, list(src.descriptions)


def sar_like(h=150, w=170, seed=0):
    """(2, h, w) float32: band 1 like linear VV power (0.01..0.1, speckled), band 2 like
    counts around 50; smooth patterns, so tiled and whole-image inference can be compared."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    vv = (0.05 + 0.04 * np.sin(xx / 11.0) * np.cos(yy / 13.0) + rng.gamma(2, 0.01, (h, w))).astype(np.float32)
    vh = (50 + 30 * np.sin((xx + yy) / 17.0) + rng.normal(0, 3, (h, w))).astype(np.float32)
    return np.stack([vv, vh])


# ---------------------------------------------------------------- the real-data water scene
# ``write_scene`` writes into a folder:
# * ``sar.tif``: 2 x 2 ETCI 2021 Sentinel-1 tiles (x 8-9, y 22-23, in the held-out strip;
#   512 x 512 px, 10 m, 28 % water) as float32 linear power (the 8-bit rendering read as a
#   linear dB scale, -30..0 dB), nodata NaN where the rendering has 0 in both bands (a pixel at 0 in
#   one band only is water the rendering clipped: 99.9 % of those are labelled water), placed in UTM 14N over
#   Dallas so the real HydroSHEDS DEM covers it. (The placement is made up; the pixels are real.)
# * ``optical.tif``: the real Landsat 7 subset (3 bands, uint8) re-placed over the same area at 10 m.
# * ``dswe.tif``: DSWE-coded labels from the ETCI labels (1 water, 0 not water, 9 "cloud" in one
#   corner block, 255 fill where the SAR has no data).

UTM14 = CRS.from_epsg(32614)
WATER_TRANSFORM = from_origin(645000.0, 3625000.0, 10, 10)
ETCI_STEM = "bangladesh_20170314t115609_x-{x}_y-{y}"


def etci_block(etci, x0, y0, n=2):
    """(vv, vh, water) uint8 arrays of an n x n block of ETCI tiles."""
    size = 256 * n
    vv, vh, water = (np.zeros((size, size), np.uint8) for _ in range(3))
    for dy in range(n):
        for dx in range(n):
            stem = ETCI_STEM.format(x=x0 + dx, y=y0 + dy)
            win = np.s_[dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256]
            vv[win] = read_png(Path(etci, "vv", stem + "_vv.png"))
            vh[win] = read_png(Path(etci, "vh", stem + "_vh.png"))
            water[win] = (read_png(Path(etci, "flood_label", stem + ".png")) > 0) | \
                         (read_png(Path(etci, "water_body_label", stem + ".png")) > 0)
    return vv, vh, water


def to_linear(v8, nodata):
    """Power from the 8-bit rendering read as -30..0 dB; NaN where ``nodata``."""
    db = v8.astype(np.float32) / 255.0 * 30.0 - 30.0
    out = np.power(10.0, db / 10.0).astype(np.float32)
    out[nodata] = np.nan
    return out


def write_scene(folder, etci, misc, x0=8, y0=22):
    """The water scene (see above) in ``folder``: paths of sar/optical/dswe, and the
    ``water`` labels and ``valid`` SAR mask as arrays."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vv, vh, water = etci_block(etci, x0, y0)
    size = vv.shape[0]
    nodata = (vv == 0) & (vh == 0)
    grid = {"crs": UTM14, "transform": WATER_TRANSFORM}
    write_tif(folder / "sar.tif", np.stack([to_linear(vv, nodata), to_linear(vh, nodata)]), nodata=float("nan"),
              descriptions=["VV", "VH"], **grid)
    copy_raster(Path(misc, "landsat7_RGB.byte.tif"), folder / "optical.tif", **grid)
    dswe = water.astype(np.uint8)
    dswe[: size // 4, : size // 4] = 9  # a "cloud" block
    dswe[nodata] = 255
    write_tif(folder / "dswe.tif", dswe, nodata=255, **grid)
    return {"sar": folder / "sar.tif", "optical": folder / "optical.tif",
            "dswe": folder / "dswe.tif", "water": water, "valid": ~nodata}
