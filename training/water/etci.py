"""The ETCI 2021 Sentinel-1 tiles (Bangladesh, 2017-03-14) mosaicked back into one scene.

The tiles are 256 x 256 8-bit renderings of VV and VH backscatter (0 = no
data) named ``..._x-<col>_y-<row>...``; labels are 0/255 masks of flood and
of permanent water bodies. Surface water = flood OR water body. The mosaic is
cached as .npy under ``build/`` so later runs start at once.
"""

import re
import warnings
from pathlib import Path

import numpy as np

TILE = 256
NAME = re.compile(r"_x-(\d+)_y-(\d+)")


def _read_png(path):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read(1)


def tile_index(folder):
    """{(x, y): tile stem} for every VV tile in the ETCI folder."""
    index = {}
    for path in sorted(Path(folder, "vv").glob("*_vv.png")):
        m = NAME.search(path.name)
        index[int(m.group(1)), int(m.group(2))] = path.name[: -len("_vv.png")]
    if not index:
        raise FileNotFoundError(f"no ETCI tiles (vv/*_vv.png) under {folder}")
    return index


def load_mosaic(folder, cache_dir="build/etci_cache"):
    """Return (sar uint8 (2, H, W) VV/VH, water uint8 (H, W) 0/1, valid bool (H, W))."""
    cache = Path(cache_dir)
    files = [cache / f"{n}.npy" for n in ("sar", "water")]
    if all(f.exists() for f in files):
        sar, water = (np.load(f) for f in files)
        return sar, water, (sar > 0).all(axis=0)
    index = tile_index(folder)
    nx = max(x for x, _ in index) + 1
    ny = max(y for _, y in index) + 1
    sar = np.zeros((2, ny * TILE, nx * TILE), np.uint8)
    water = np.zeros((ny * TILE, nx * TILE), np.uint8)
    for (x, y), stem in index.items():
        win = np.s_[y * TILE:(y + 1) * TILE, x * TILE:(x + 1) * TILE]
        sar[0][win] = _read_png(Path(folder, "vv", stem + "_vv.png"))
        sar[1][win] = _read_png(Path(folder, "vh", stem + "_vh.png"))
        flood = _read_png(Path(folder, "flood_label", stem + ".png"))
        body = _read_png(Path(folder, "water_body_label", stem + ".png"))
        water[win] = ((flood > 0) | (body > 0)).astype(np.uint8)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(files[0], sar)
    np.save(files[1], water)
    return sar, water, (sar > 0).all(axis=0)
