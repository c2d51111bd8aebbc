"""Held-out Landsat fronts measured the way a user runs them: through qgis_process.

``python tools/evaluate_held_out.py [--model FILE]`` (or ``make evaluate``) writes
every Landsat scene of the validation glacier (path/rows 229-231/012, never
trained on) as a GeoTIFF on a nominal EPSG:3413 49 m grid, runs ``waterline:detect_calving_fronts``
on all of them in one call with default parameters and no fjord mask, then
``waterline:evaluate_fronts`` against the 1 px labels, and prints the summary.
Needs ../shared/data/fronts-landsat. Cross-checks the engine-level numbers in
weights/calving_front.md (python -m training fronts --evaluate-only).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from rasterio.transform import from_origin
from skimage import io

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # training; qgis_process in the tests' profile, raster helpers
import qgis_cli  # noqa: E402
from rasters import POLAR, write_tif  # noqa: E402
from training.fronts.data import LANDSAT_VAL_PATHROWS, landsat_glacier  # noqa: E402

FRONTS_LANDSAT = ROOT.parent / "shared" / "data" / "fronts-landsat"
GRID = {"crs": POLAR, "transform": from_origin(-200000.0, -2000000.0, 49.0, 49.0)}  # nominal 49 m


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="ONNX model (default: the shipped one)")
    parser.add_argument("--keep", help="write the GeoTIFFs, fronts and per-scene table here "
                                       "(default: a temporary folder)")
    args = parser.parse_args()
    root = FRONTS_LANDSAT
    if not root.exists():
        raise SystemExit(f"{root} is absent: this evaluation needs ../shared/data beside the checkout")
    names = sorted(p.name[: -len("_Subset.png")] for p in (root / "images").glob("*_Subset.png")
                   if landsat_glacier(p.name) in LANDSAT_VAL_PATHROWS)
    qgis_cli.enable_plugin()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.keep or tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        scenes, refs = [], []
        for name in names:
            image = io.imread(root / "images" / f"{name}_Subset.png")[..., 0]
            scenes.append(write_tif(tmp / f"{name}_Subset.tif", image, **GRID))
            refs.append(write_tif(tmp / f"{name}_Front.tif",
                                  io.imread(root / "labels_1px" / f"{name}_Front.png")[..., 0], **GRID))
        params = {"INPUT": scenes, "OUTPUT": str(tmp / "fronts.gpkg")}
        if args.model:
            params["MODEL"] = args.model
        detected = qgis_cli.run("detect_calving_fronts", params)["results"]
        ev = qgis_cli.run("evaluate_fronts", {
            "PREDICTED": str(tmp / "fronts.gpkg"), "REFERENCE_MASKS": refs, "MASK_FRONT": 1,
            "OUTPUT": str(tmp / "table.gpkg")})["results"]
    summary = {"scenes": len(names), "fronts_written": detected["FRONTS_FOUND"],
               **{k: ev[k] for k in ("SCENES", "FOUND_FRACTION", "MEAN_PX", "MEDIAN_PX", "MEAN_M", "MEDIAN_M")}}
    print(json.dumps(summary, indent=2))
    return 0 if summary["MEAN_PX"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
