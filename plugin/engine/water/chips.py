"""Training chips from a water stack and a label raster (DSWE INWAM by default).

Non-overlapping square chips (512 px by default) are cut from the stack; the
label raster is resampled onto the stack grid (nearest neighbour) and mapped
to 1 (water), 0 (not water) and 255 (ignored). The DSWE interpreted layer
(INWAM) codes are 0 not water, 1 water (high confidence), 2 water (moderate
confidence), 3 potential wetland, 4 low-confidence water or wetland,
9 cloud / cloud shadow / snow and 255 fill; by default 1, 2 -> water,
0 -> not water and everything else (3, 4, 9, fill, pixels outside the label
raster) ignored, as in the seed study.

A chip is kept when (fractions of the chip's pixels):
  nodata (stack nodata or label fill/outside) <= max_nodata (0.5),
  cloud (``cloud_values``, 9) <= max_cloud (0.3),
  valid labels (water or not water) >= min_valid (0.1),
  water among valid labels >= min_water (0.05).
Each kept chip is a GeoTIFF with the stack's band descriptions plus a uint8
label GeoTIFF; ``manifest.csv`` lists them with their statistics and the
source stack (training reads its whole-scene statistics from there).
"""

import csv
import os
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from ..core import outputs, raster_io
from ..core.cancel import check_cancel

IGNORE = 255
DSWE_WATER = (1, 2)
DSWE_LAND = (0,)
DSWE_CLOUD = (9,)
MANIFEST_FIELDS = ("image", "label", "source", "row", "col", "size",
                   "water_frac", "cloud_frac", "nodata_frac", "valid_frac")


def map_labels(raw, fill, water_values=DSWE_WATER, land_values=DSWE_LAND):
    """Raw label codes -> 1 water / 0 not water / 255 ignore (fill counts as ignore)."""
    out = np.full(raw.shape, IGNORE, np.uint8)
    out[np.isin(raw, list(land_values))] = 0
    out[np.isin(raw, list(water_values))] = 1
    out[fill] = IGNORE
    return out


def make_chips(stack_path, label_path, out_dir, size=512, water_values=DSWE_WATER,
               land_values=DSWE_LAND, cloud_values=DSWE_CLOUD, min_water=0.05, max_cloud=0.3,
               max_nodata=0.5, min_valid=0.1, progress=None, is_canceled=None, log=None):
    """Cut chips; return {"kept": n, "rejected": {reason: n}, "manifest": path}."""
    out_dir = Path(out_dir)
    for value in set(water_values) & set(land_values):
        raise ValueError(f"label value {value} is listed both as water and as not water")
    rejected = {"nodata": 0, "cloud": 0, "few valid labels": 0, "little water": 0, "partial chip": 0}
    rows = []
    with rasterio.open(stack_path) as stack, rasterio.open(label_path) as lab_src:
        if stack.crs is None or lab_src.crs is None:
            raise ValueError("the stack and the label raster both need a coordinate reference system")
        names = [d or f"band{i + 1}" for i, d in enumerate(stack.descriptions)]
        if stack.width < size or stack.height < size:
            raise ValueError(
                f"the stack ({stack.width} x {stack.height} px) is smaller than one {size} px chip"
            )
        _check_overlap(stack, lab_src)
        fill = lab_src.nodata
        # Outside the label raster reads as a value no mapping uses.
        outside = 254 if fill is None else fill
        label_vrt = WarpedVRT(lab_src, crs=stack.crs, transform=stack.transform, width=stack.width,
                              height=stack.height, resampling=Resampling.nearest,
                              nodata=outside, src_nodata=fill)
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / "labels").mkdir(parents=True, exist_ok=True)
        ny, nx = stack.height // size, stack.width // size
        total = max(1, ny * nx)
        img_profile = dict(stack.profile, driver="GTiff", width=size, height=size, tiled=False,
                           compress="deflate")
        for key in ("blockxsize", "blockysize"):
            img_profile.pop(key, None)
        lab_profile = dict(img_profile, count=1, dtype="uint8", nodata=IGNORE)
        written = []
        try:
            for r in range(ny):
                for c in range(nx):
                    check_cancel(is_canceled)
                    win = Window(c * size, r * size, size, size)
                    valid = raster_io.valid_mask(stack, window=win)
                    raw = label_vrt.read(1, window=win)
                    no_label = raw == outside
                    label = map_labels(raw, no_label, water_values, land_values)
                    nodata = ~valid | no_label
                    label[~valid] = IGNORE
                    n = float(size * size)
                    nodata_frac = nodata.sum() / n
                    cloud_frac = (np.isin(raw, list(cloud_values)) & ~no_label).sum() / n
                    labelled = label != IGNORE
                    valid_frac = labelled.sum() / n
                    water_frac = (label == 1).sum() / max(labelled.sum(), 1)
                    reason = None
                    if nodata_frac > max_nodata:
                        reason = "nodata"
                    elif cloud_frac > max_cloud:
                        reason = "cloud"
                    elif valid_frac < min_valid:
                        reason = "few valid labels"
                    elif water_frac < min_water:
                        reason = "little water"
                    if reason:
                        rejected[reason] += 1
                    else:
                        stem = f"chip_r{r:04d}_c{c:04d}"
                        img_path = out_dir / "images" / f"{stem}.tif"
                        lab_path = out_dir / "labels" / f"{stem}.tif"
                        transform = window_transform(win, stack.transform)
                        written += [img_path, lab_path]
                        with rasterio.open(img_path, "w", **dict(img_profile, transform=transform)) as dst:
                            dst.write(stack.read(window=win))
                            for i, name in enumerate(names, start=1):
                                dst.set_band_description(i, name)
                        with rasterio.open(lab_path, "w", **dict(lab_profile, transform=transform)) as dst:
                            dst.write(label, 1)
                        rows.append({
                            "image": f"images/{stem}.tif", "label": f"labels/{stem}.tif",
                            "source": os.path.abspath(stack_path), "row": r * size, "col": c * size,
                            "size": size, "water_frac": round(float(water_frac), 4),
                            "cloud_frac": round(float(cloud_frac), 4),
                            "nodata_frac": round(float(nodata_frac), 4),
                            "valid_frac": round(float(valid_frac), 4),
                        })
                    if progress:
                        progress((r * nx + c + 1) / total)
            # Strips narrower than a chip at the right and bottom edges are not cut.
            rejected["partial chip"] = (-(-stack.width // size)) * (-(-stack.height // size)) - nx * ny
            manifest = out_dir / "manifest.csv"
            with outputs.atomic_output(manifest) as tmp:
                with open(tmp, "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
                    writer.writeheader()
                    writer.writerows(rows)
        except BaseException:
            for path in written:  # a failed or cancelled run leaves no chips behind
                if path.exists():
                    path.unlink()
            raise
        finally:
            label_vrt.close()
    if log:
        log(f"{len(rows)} chips kept; rejected: "
            + ", ".join(f"{k} {v}" for k, v in rejected.items() if v))
    return {"kept": len(rows), "rejected": rejected, "manifest": str(manifest), "channels": names}


def _check_overlap(stack, lab_src):
    if not raster_io.overlaps(lab_src, stack.crs, stack.bounds):
        raise ValueError(
            "the label raster does not overlap the stack: their extents do not intersect "
            f"in {stack.crs.to_string()}"
        )
