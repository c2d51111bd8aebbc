"""Held-out fronts measured the way a user runs them: through qgis_process.

``python tools/evaluate_held_out.py [--source landsat|sar] [--model FILE]`` (or ``make
evaluate``) writes every scene of a validation glacier that was never trained on (Landsat
path/rows 229-231/012, or the SAR glacier Jorum) as a GeoTIFF under its own name on a
nominal 49 m grid (EPSG:3413 for Landsat, EPSG:3031 for the Antarctic Peninsula), runs
``waterline:detect_calving_fronts`` on all of them in one call with default parameters
and no fjord mask (so each scene gets the shipped model for its sensor, read from its
name, and static edges come from the stack), then ``waterline:evaluate_fronts`` against
the 1 px reference (the SAR front labels thinned to 1 px, as ``tools/measure_fronts.py``
does), and prints the summary. Needs ../shared/data. Cross-checks the engine-level
numbers in the model cards (``tools/measure_fronts.py``).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # training; qgis_process in the tests' profile, raster helpers
import qgis_cli  # noqa: E402
from rasters import POLAR, write_tif  # noqa: E402
from measure_fronts import DATA, read_scene, select  # noqa: E402

GRIDS = {  # nominal 49 m grids
    "landsat": {"crs": POLAR, "transform": from_origin(-200000.0, -2000000.0, 49.0, 49.0)},
    "sar": {"crs": CRS.from_epsg(3031), "transform": from_origin(-2400000.0, 1300000.0, 49.0, 49.0)},
}


def held_out_scenes(source):
    """[(name, grey scene, 1 px reference mask)] of the held-out glacier of ``source``, read as
    ``tools/measure_fronts.py`` reads them (SAR fronts thinned to 1 px)."""
    return [(f"{stem}_Subset" if source == "landsat" else stem, *read_scene(source, stem))
            for _, _, stem in select("heldout", source)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("landsat", "sar"), default="landsat",
                        help="the held-out Landsat path/rows or the held-out SAR glacier")
    parser.add_argument("--model", default="", help="ONNX model for every scene (default: the shipped model for "
                                                     "each scene's sensor)")
    parser.add_argument("--keep", help="write the GeoTIFFs, fronts and per-scene table here "
                                       "(default: a temporary folder)")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent: this evaluation needs ../shared/data beside the checkout")
    held_out = held_out_scenes(args.source)
    grid = GRIDS[args.source]
    qgis_cli.enable_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.keep or tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        scenes, refs = [], []
        for name, grey, ref in held_out:
            scenes.append(write_tif(tmp / f"{name}.tif", grey, **grid))
            refs.append(write_tif(tmp / f"{name}_Front.tif", ref.astype(np.uint8), **grid))
        params = {"INPUT": scenes, "OUTPUT": str(tmp / "fronts.gpkg")}
        if args.model:
            params["MODEL"] = args.model
        detected = qgis_cli.run("detect_calving_fronts", params)["results"]
        ev = qgis_cli.run("evaluate_fronts", {
            "PREDICTED": str(tmp / "fronts.gpkg"), "REFERENCE_MASKS": refs, "MASK_FRONT": 0,
            "OUTPUT": str(tmp / "table.gpkg")})["results"]
    summary = {"source": args.source, "scenes": len(held_out), "fronts_written": detected["FRONTS_FOUND"],
               **{k: ev[k] for k in ("SCENES", "FOUND_FRACTION", "MEAN_PX", "MEDIAN_PX", "MEAN_M", "MEDIAN_M")}}
    print(json.dumps(summary, indent=2))
    return 0 if summary["MEAN_PX"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
