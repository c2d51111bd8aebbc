"""Measure an exported water model on the held-out ETCI block, through the plugin's engine.

``python -m training.water.evaluate --model weights/water_s1.onnx --etci DIR [--val-cols 8,13]``

Reports IoU (water = flood OR permanent water body; nodata and the white
out-of-swath fill left out) for:
  * the 8-bit block with whole-scene percentiles (how the plugin runs on a scene),
  * the block as a float32 dB GeoTIFF and as a linear-power GeoTIFF run through
    ``predict_raster`` (the 8-bit values read as a linear -30..0 dB scale),
  * the 8-bit tiles one by one, each normalised on its own (a 256 px "scene"),
  * a global Otsu threshold on the summed normalised channels (baseline).
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main(argv=None):
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from plugin.engine.core import inference, normalize, raster_io
    from plugin.engine.core.model import load_model

    from . import data
    from .etci import TILE
    from .train import otsu_baseline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--etci", required=True)
    parser.add_argument("--val-cols", default="8,13")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    a, b = (int(v) for v in args.val_cols.split(","))
    scene = data.EtciScene(args.etci, val_cols=(a, b))
    model = load_model(args.model, device="cpu", threads=args.threads)
    norms = model.meta["normalization"]
    sar, label = scene.validation_block()
    valid = label != 255
    truth = label == 1

    def iou(prob):
        pred = (prob >= 0.5) & valid
        return float((pred & truth).sum() / ((pred | truth) & valid).sum())

    # Whole-scene statistics, as the plugin computes them for a mosaicked scene.
    stats = normalize.array_stats(scene.sar, scene.valid, norms)
    results = {"block": f"x {a}-{b}", "pixels": int(valid.sum()), "water_fraction": float(truth[valid].mean())}
    prob = inference.predict_array(model, sar, valid, stats=stats)[0]
    results["iou_8bit_scene_stats"] = iou(prob)
    results["iou_8bit_block_stats"] = iou(inference.predict_array(model, sar, valid)[0])

    with tempfile.TemporaryDirectory() as tmp:
        db = sar.astype(np.float32) / 255.0 * 30.0 - 30.0
        for name, values in (("db", db), ("linear", np.power(10.0, db / 10.0))):
            path = Path(tmp) / f"{name}.tif"
            values = values.astype(np.float32)
            values[:, ~valid] = np.nan
            grid = dict(width=sar.shape[2], height=sar.shape[1], crs=CRS.from_epsg(32646),
                        transform=from_origin(500000, 2600000, 10, 10))
            profile = raster_io.output_profile(grid, 2, "float32", nodata=float("nan"))
            with raster_io.open_output(path, profile, ["VV", "VH"]) as dst:
                dst.write(values)
            inference.predict_raster(model, path, prob_path=Path(tmp) / f"{name}_p.tif")
            with rasterio.open(Path(tmp) / f"{name}_p.tif") as src:
                results[f"iou_{name}_geotiff_block_stats"] = iou(src.read(1))

    # Tile by tile: each 256 px tile is its own scene.
    probs = np.full(label.shape, -1, np.float32)
    for r in range(0, label.shape[0], TILE):
        for c in range(0, label.shape[1], TILE):
            v = valid[r:r + TILE, c:c + TILE]
            if v.sum() < 100:
                continue
            probs[r:r + TILE, c:c + TILE] = inference.predict_array(
                model, sar[:, r:r + TILE, c:c + TILE], v)[0]
    results["iou_8bit_per_tile_stats"] = iou(probs)
    results["iou_otsu_global"] = otsu_baseline(sar, label, stats, norms)[0]
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
