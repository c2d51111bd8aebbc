"""Measure the water detectors on the real scenes in ../shared/data (validation only).

``python tools/measure_water.py [--keep DIR]`` prints one table:

- **water-s1-db pxs10 and jja10** (Sentinel-1 dB GeoTIFFs with hand labels; label 255
  is ignored): IoU of water;
- **dry land** from the same scenes, chosen with their labels: the largest
  rectangles with no labelled water (``DRY_CROPS``, from ``dry_rectangles``), and
  each whole scene with its labelled water (grown by 5 px, so mixed pixels go too)
  set to nodata: percent of valid pixels marked water;
- **geographic input**: each scene warped to EPSG:4326 and run again: share of
  pixels whose class matches the run on the scene's own grid (compared on the
  scene's grid);
- **8-bit ETCI blocks** (Bangladesh; each 256 px tile stretched to 8 bits on its
  own, no dB level): IoU, for the choice of method on 8-bit input.

Methods: ``threshold`` (``plugin.engine.water.threshold``, defaults),
``threshold, HyP3 VH cap`` (the same with HyP3's -23 dB cap on VH), a global Otsu
threshold on VV (dB; on 8-bit input on the grey values), and the shipped model
(``weights/water_s1.onnx`` through ``inference.predict_raster``). Nothing here
trains on or tunes to these scenes beyond what plugin/engine/water/threshold.py
documents; the scenes are never copied into the repository (temporary folder).
"""

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from plugin.engine.core import raster_io  # noqa: E402
from plugin.engine.water import threshold as water_threshold  # noqa: E402
from plugin.engine.water import warp  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DB = DATA / "water-s1-db"
ETCI = DATA / "water-s1-etci2021"
MODEL = ROOT / "weights" / "water_s1.onnx"
SCENES = ("pxs10", "jja10")
# (scene, row, col, height, width): the largest rectangles without labelled water,
# found greedily by ``dry_rectangles`` (at least 2500 px, sides >= 32 px).
DRY_CROPS = (("pxs10", 87, 26, 58, 123), ("jja10", 334, 241, 82, 126), ("jja10", 426, 305, 33, 97),
             ("jja10", 306, 369, 75, 42), ("jja10", 99, 216, 44, 69))
DRY_GROW_PX = 5
# 2 x 2 tile blocks of the model's held-out ETCI strip (x 8-13), as in weights/water_s1.md.
ETCI_BLOCKS = ((8, 22), (12, 8), (10, 4), (8, 20), (10, 20))


def scene_path(name):
    return DB / f"{name}_vv_vh_db.tif"


def label_path(name):
    return DB / f"{name}_label.tif"


def read_label(name):
    with rasterio.open(label_path(name)) as src:
        return src.read(1)


# ---------------------------------------------------------------- scenes derived from the real data

def _largest_rectangle(free):
    """(area, (row, col, height, width)) of the largest all-True rectangle (histogram method)."""
    h, w = free.shape
    heights = np.zeros(w, int)
    best = (0, None)
    for i in range(h):
        heights = np.where(free[i], heights + 1, 0)
        stack = []
        for j in range(w + 1):
            cur = heights[j] if j < w else 0
            start = j
            while stack and stack[-1][1] >= cur:
                s, hh = stack.pop()
                if hh * (j - s) > best[0]:
                    best = (hh * (j - s), (i - hh + 1, s, hh, j - s))
                start = s
            stack.append((start, cur))
    return best


def dry_rectangles(min_area=2500, min_side=32, per_scene=8):
    """Re-derive ``DRY_CROPS``: greedy largest rectangles where the label is 0 (not water)."""
    out = []
    for name in SCENES:
        free = read_label(name) == 0
        for _ in range(per_scene):
            area, rect = _largest_rectangle(free)
            if area < min_area or min(rect[2], rect[3]) < min_side:
                break
            r, c, h, w = rect
            out.append((name, r, c, h, w))
            free[max(0, r - 2):r + h + 2, max(0, c - 2):c + w + 2] = False
    return tuple(out)


def _write(path, array, src, transform=None, crs=None):
    profile = raster_io.output_profile(src, array.shape[0], "float32", nodata=float("nan"))
    profile.update(width=array.shape[2], height=array.shape[1], transform=transform or src.transform,
                   crs=crs or src.crs)
    if profile["width"] < 256 or profile["height"] < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize", None)
        profile.pop("blockysize", None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(np.float32))
        for i, d in enumerate(src.descriptions, start=1):
            dst.set_band_description(i, d or "")
    return str(path)


def write_dry_crop(crop, path):
    """One ``DRY_CROPS`` rectangle as a GeoTIFF (checked to hold no labelled water)."""
    name, r, c, h, w = crop
    if (read_label(name)[r:r + h, c:c + w] != 0).any():
        raise ValueError(f"{crop} holds labelled water or nodata")
    with rasterio.open(scene_path(name)) as src:
        win = Window(c, r, w, h)
        return _write(path, src.read(window=win), src, transform=src.window_transform(win))


def write_dry_scene(name, path, grow=DRY_GROW_PX):
    """The whole scene with its labelled water (grown by ``grow`` px) set to nodata."""
    from scipy import ndimage

    label = read_label(name)
    wet = ndimage.binary_dilation(label != 0, iterations=grow)  # water and unlabelled pixels
    with rasterio.open(scene_path(name)) as src:
        data = src.read()
        data[:, wet] = np.nan
        return _write(path, data, src)


def write_geographic(name, path, resampling="bilinear"):
    """The scene warped to EPSG:4326 at about its own resolution (as archives export it)."""
    wgs84 = CRS.from_epsg(4326)
    with rasterio.open(scene_path(name)) as src:
        transform, width, height = calculate_default_transform(
            src.crs, wgs84, src.width, src.height, *src.bounds)
        out = np.full((src.count, height, width), np.nan, np.float32)
        reproject(src.read(), out, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs=wgs84, resampling=Resampling[resampling], src_nodata=np.nan, dst_nodata=np.nan)
        return _write(path, out, src, transform=transform, crs=wgs84)


def onto_grid(mask_path, ref_path):
    """A uint8 class raster resampled (nearest) onto the grid of ``ref_path``; 255 outside."""
    with rasterio.open(mask_path) as m, rasterio.open(ref_path) as ref:
        out = np.full((ref.height, ref.width), 255, np.uint8)
        reproject(m.read(1), out, src_transform=m.transform, src_crs=m.crs, dst_transform=ref.transform,
                  dst_crs=ref.crs, resampling=Resampling.nearest, src_nodata=255, dst_nodata=255)
    return out


def write_etci_block(x0, y0, path, size=2):
    """A size x size block of ETCI tiles as an 8-bit VV,VH GeoTIFF (nominal 10 m UTM grid) + labels."""
    from rasterio.errors import NotGeoreferencedWarning

    tile = 256
    sar = np.zeros((2, size * tile, size * tile), np.uint8)
    water = np.zeros((size * tile, size * tile), np.uint8)
    for dy in range(size):
        for dx in range(size):
            stem = next((ETCI / "vv").glob(f"*_x-{x0 + dx}_y-{y0 + dy}_vv.png")).name[:-len("_vv.png")]
            win = np.s_[dy * tile:(dy + 1) * tile, dx * tile:(dx + 1) * tile]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                for k, pol in enumerate(("vv", "vh")):
                    with rasterio.open(ETCI / pol / f"{stem}_{pol}.png") as s:
                        sar[k][win] = s.read(1)
                with rasterio.open(ETCI / "flood_label" / f"{stem}.png") as s:
                    flood = s.read(1)
                with rasterio.open(ETCI / "water_body_label" / f"{stem}.png") as s:
                    body = s.read(1)
            water[win] = ((flood > 0) | (body > 0)).astype(np.uint8)
    valid = (sar > 0).all(axis=0) & ~(sar == 255).all(axis=0)
    label = np.where(valid, water, 255).astype(np.uint8)
    sar[:, ~valid] = 0
    profile = dict(driver="GTiff", width=sar.shape[2], height=sar.shape[1], count=2, dtype="uint8",
                   nodata=0, crs=CRS.from_epsg(32646), transform=from_origin(600000, 2600000, 10, 10))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(sar)
        dst.set_band_description(1, "VV")
        dst.set_band_description(2, "VH")
    return str(path), label


# ---------------------------------------------------------------- methods and scores

def iou(mask, label):
    """IoU of water (1) where both maps are 0/1 (255 ignored in either)."""
    ok = (label != 255) & (mask != 255)
    p, t = mask[ok] == 1, label[ok] == 1
    union = np.count_nonzero(p | t)
    return float(np.count_nonzero(p & t) / union) if union else float("nan")


def water_percent(mask):
    ok = mask != 255
    return 100.0 * float(np.count_nonzero(mask[ok] == 1)) / max(1, int(ok.sum()))


def read_mask(path):
    with rasterio.open(path) as src:
        return src.read(1)


def run_threshold(src, out, **kw):
    water_threshold.threshold_water(str(src), str(out), **kw)
    return read_mask(out)


def run_otsu_vv(src, out):
    """Global Otsu threshold on band 1 (VV) of the whole scene (dB, or grey values for 8-bit)."""
    with rasterio.open(src) as s:
        values, valid = raster_io.read_window(s, [1])
        profile = raster_io.output_profile(s, 1, "uint8", nodata=255)
    t = water_threshold.otsu_threshold(values[0][valid].astype(np.float64), bin_db=0.1)
    mask = np.where(valid, (values[0] < t).astype(np.uint8), 255).astype(np.uint8)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(mask, 1)
    return mask


_MODEL = {}


def run_model(src, out):
    """The shipped model; a geographic input goes through ``warp.on_metric_grid`` as detect_water should."""
    from plugin.engine.core import inference
    from plugin.engine.core.model import load_model

    if "m" not in _MODEL:
        _MODEL["m"] = load_model(str(MODEL), device="cpu", threads=2)

    model = _MODEL["m"]
    with rasterio.open(src) as s:
        bands = inference.resolve_bands(model.channels, s.count, s.descriptions)

    def run(path, paths, progress):
        return inference.predict_raster(model, path, class_path=paths["mask"], progress=progress)

    warp.on_metric_grid(str(src), {"mask": (str(out), "nearest", 1)}, run, input_bands=bands)
    return read_mask(out)


METHODS = {
    "threshold": lambda s, o: run_threshold(s, o),
    "threshold, HyP3 VH cap -23 dB": lambda s, o: run_threshold(s, o, max_threshold_db={"cross": -23.0}),
    "global Otsu on VV": run_otsu_vv,
    "shipped model": run_model,
}


def _cell(fn, *args, fmt="{:.3f}"):
    try:
        return fmt.format(fn(*args))
    except ValueError as exc:  # a method that refuses the input
        return "refused" if "integer rendering" in str(exc) else f"error: {exc}"


def measure(folder, methods=None, log=print):
    """The table as rows [(what, {method: text})]."""
    folder = Path(folder)
    methods = methods or METHODS
    rows = []
    for name in SCENES:
        label = read_label(name)
        cells = {m: _cell(lambda f: iou(f(scene_path(name), folder / "out.tif"), label), fn)
                 for m, fn in methods.items()}
        rows.append((f"{name} IoU", cells))
    for i, crop in enumerate(DRY_CROPS):
        path = write_dry_crop(crop, folder / f"dry{i}.tif")
        cells = {m: _cell(lambda f: water_percent(f(path, folder / "out.tif")), fn, fmt="{:.2f} %")
                 for m, fn in methods.items()}
        rows.append((f"dry crop {crop[0]} r{crop[1]} c{crop[2]} {crop[3]}x{crop[4]} px: water", cells))
    for name in SCENES:
        path = write_dry_scene(name, folder / f"dry_{name}.tif")
        cells = {m: _cell(lambda f: water_percent(f(path, folder / "out.tif")), fn, fmt="{:.2f} %")
                 for m, fn in methods.items()}
        rows.append((f"{name} without its water (nodata): water", cells))
    for name in SCENES:
        geo = write_geographic(name, folder / f"{name}_4326.tif")

        def agreement(fn, name=name, geo=geo):
            own = fn(scene_path(name), folder / "own.tif")
            fn(geo, folder / "geo.tif")
            back = onto_grid(folder / "geo.tif", scene_path(name))
            ok = (own != 255) & (back != 255)
            return float((own[ok] == back[ok]).mean())

        cells = {m: _cell(agreement, fn, fmt="{:.4f}") for m, fn in methods.items()}
        rows.append((f"{name} as EPSG:4326: agreement with own grid", cells))
    if ETCI.exists():
        for x0, y0 in ETCI_BLOCKS:
            path, label = write_etci_block(x0, y0, folder / "etci.tif")
            cells = {m: _cell(lambda f: iou(f(path, folder / "out.tif"), label), fn)
                     for m, fn in methods.items()}
            share = 100 * np.mean(label[label != 255] == 1)
            rows.append((f"ETCI 8-bit x{x0}-{x0 + 1} y{y0}-{y0 + 1} ({share:.0f} % water) IoU", cells))
    return rows


def print_table(rows, methods):
    names = list(methods)
    print("| scene | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for what, cells in rows:
        print(f"| {what} | " + " | ".join(cells[m] for m in names) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="write the derived rasters and outputs here "
                                       "(default: a temporary folder)")
    parser.add_argument("--find-crops", action="store_true",
                        help="re-derive DRY_CROPS from the labels and print them")
    args = parser.parse_args()
    if not DB.exists():
        raise SystemExit(f"{DB} is absent: this measurement needs ../shared/data beside the checkout")
    if args.find_crops:
        print(dry_rectangles())
        return
    warnings.simplefilter("ignore", RuntimeWarning)
    methods = dict(METHODS)
    if not MODEL.exists():
        methods.pop("shipped model")
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        print_table(measure(args.keep, methods), methods)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print_table(measure(tmp, methods), methods)


if __name__ == "__main__":
    main()
