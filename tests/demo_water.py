"""Surface-water demo through the real qgis_process: HAND -> stack -> detect -> polygons -> compare.

Input: 2 x 2 held-out ETCI 2021 Sentinel-1 tiles (x 8-9, y 22-23, never seen in training)
written as a linear-power GeoTIFF placed over the HydroSHEDS Dallas DEM (the placement is
made up, the pixels are real), the DEM itself and HAND from it. Ends with a water mask and
water polygons under build/demo/water/. Run: ``.venv/bin/python tests/demo_water.py``.
"""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from water_scene import write_scene  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
PROFILE = ROOT / "build" / "qgis-profile"
OUT = ROOT / "build" / "demo" / "water"


def qgis_process(*args, check=True):
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(PROFILE), QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join(p for p in site.getsitepackages() if p.startswith(sys.prefix))
    proc = subprocess.run(["qgis_process.bin", *map(str, args)], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        sys.exit(f"qgis_process {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def run(alg, **params):
    out = qgis_process("--json", "run", f"waterline:{alg}", "--", *(f"{k}={v}" for k, v in params.items()))
    results = json.loads(out[out.find("{"):])["results"]
    print(f"{alg}: " + ", ".join(f"{k}={v}" for k, v in results.items()))
    return results


def main():
    import numpy as np
    import rasterio

    if not SHARED.exists():
        sys.exit(f"the demo needs the real data in {SHARED}")
    link = PROFILE / "profiles" / "default" / "python" / "plugins" / "waterline"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(ROOT, target_is_directory=True)
    qgis_process("plugins", "enable", "waterline", check=False)  # fails when already enabled
    OUT.mkdir(parents=True, exist_ok=True)
    scene = write_scene(OUT / "input", SHARED / "water-s1-etci2021", SHARED / "misc")
    truth = OUT / "input" / "etci_water.tif"
    with rasterio.open(scene["sar"]) as src:
        profile = dict(src.profile, count=1, dtype="uint8", nodata=255)
    with rasterio.open(truth, "w", **profile) as dst:
        dst.write(np.where(scene["valid"], scene["water"], 255).astype(np.uint8), 1)
    dem = SHARED / "misc" / "hydrosheds_dem_dallas.tif"
    run("compute_hand", INPUT=dem, ACC_THRESHOLD=100, OUTPUT=OUT / "hand.tif")
    run("build_water_stack", SAR=scene["sar"], POLARISATIONS="VV,VH", SAR_OUTPUT="db", DEM=dem,
        HAND=OUT / "hand.tif", OUTPUT=OUT / "stack.tif")
    run("detect_water", INPUT=OUT / "stack.tif", OUTPUT_PROB=OUT / "water_probability.tif",
        OUTPUT_MASK=OUT / "water_mask.tif", OUTPUT_POLYGONS=OUT / "water_polygons.gpkg", MIN_AREA=2000)
    run("compare_water_maps", INPUT=OUT / "water_mask.tif", REFERENCE=truth, OUTPUT=OUT / "metrics.csv")
    print(f"water mask: {OUT / 'water_mask.tif'}\nwater polygons: {OUT / 'water_polygons.gpkg'}")


if __name__ == "__main__":
    main()
