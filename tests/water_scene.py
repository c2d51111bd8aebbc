"""A small real-data water scene for tests, written into a temporary folder.

* ``sar.tif``: 2 x 2 ETCI 2021 Sentinel-1 tiles (x 8-9, y 22-23, in the held-out strip;
  512 x 512 px, 10 m, 28 % water) as float32
  linear power (the 8-bit rendering read as a linear dB scale, -30..0 dB),
  nodata NaN where the rendering has 0, placed in UTM 14N over Dallas so the
  real HydroSHEDS DEM covers it. (The placement is made up; the pixels are real.)
* ``optical.tif``: the real Landsat 7 subset (3 bands, uint8) re-placed over
  the same area at 10 m.
* ``dswe.tif``: DSWE-coded labels from the ETCI labels (1 water, 0 not water,
  9 "cloud" in one corner block, 255 fill where the SAR has no data).
"""

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin

UTM14 = CRS.from_epsg(32614)
ORIGIN = (645000.0, 3625000.0)
TRANSFORM = from_origin(*ORIGIN, 10, 10)
STEM = "bangladesh_20170314t115609_x-{x}_y-{y}"


def _png(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read(1)


def etci_block(etci, x0, y0, n=2):
    """(vv, vh, water) uint8 arrays of an n x n block of ETCI tiles."""
    size = 256 * n
    vv, vh, water = (np.zeros((size, size), np.uint8) for _ in range(3))
    for dy in range(n):
        for dx in range(n):
            stem = STEM.format(x=x0 + dx, y=y0 + dy)
            win = np.s_[dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256]
            vv[win] = _png(Path(etci, "vv", stem + "_vv.png"))
            vh[win] = _png(Path(etci, "vh", stem + "_vh.png"))
            water[win] = (_png(Path(etci, "flood_label", stem + ".png")) > 0) | \
                         (_png(Path(etci, "water_body_label", stem + ".png")) > 0)
    return vv, vh, water


def to_linear(v8):
    db = v8.astype(np.float32) / 255.0 * 30.0 - 30.0
    out = np.power(10.0, db / 10.0).astype(np.float32)
    out[v8 == 0] = np.nan
    return out


def write_scene(folder, etci, misc, x0=8, y0=22):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vv, vh, water = etci_block(etci, x0, y0)
    size = vv.shape[0]
    base = dict(driver="GTiff", width=size, height=size, crs=UTM14, transform=TRANSFORM)
    with rasterio.open(folder / "sar.tif", "w", count=2, dtype="float32", nodata=float("nan"), **base) as dst:
        dst.write(np.stack([to_linear(vv), to_linear(vh)]))
        dst.set_band_description(1, "VV")
        dst.set_band_description(2, "VH")
    with rasterio.open(Path(misc, "landsat7_RGB.byte.tif")) as src:
        optical = src.read()
        profile = dict(src.profile, crs=UTM14, transform=TRANSFORM)
    with rasterio.open(folder / "optical.tif", "w", **profile) as dst:
        dst.write(optical)
    dswe = water.astype(np.uint8)
    dswe[: size // 4, : size // 4] = 9  # a "cloud" block
    dswe[(vv == 0) | (vh == 0)] = 255
    with rasterio.open(folder / "dswe.tif", "w", count=1, dtype="uint8", nodata=255, **base) as dst:
        dst.write(dswe, 1)
    return {"sar": folder / "sar.tif", "optical": folder / "optical.tif",
            "dswe": folder / "dswe.tif", "water": water, "valid": (vv > 0) & (vh > 0)}
