"""The README's screenshots, taken in the real QGIS desktop: `python tools/screenshots.py`.

Runs the same desktop session as tests/test_desktop.py (tests/qgis_desktop.py:
Xvfb, a throw-away profile, the plugin enabled; tests/desktop_session.py inside
QGIS) on real data from ../shared/data and writes, under docs/images/:

- calving_fronts.png: Detect calving fronts on 13 Landsat scenes of one glacier
  (1985-2016, Mohajerani et al. 2019, CC BY 4.0, on a nominal EPSG:3413 grid),
  the fronts coloured by date over the last scene, its ice/ocean polygons below;
- surface_water.png: Detect surface water on a Sentinel-1 scene in dB (VV shown),
  the water mask over it;
- toolbox.png: the Processing toolbox with the Waterline groups expanded.

The PNGs are reduced to 256 colours (Pillow) to stay small. Needs Xvfb and the
shipped weights; takes about 20 s.
"""

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the desktop session and raster helpers of the tests
import qgis_desktop  # noqa: E402
from rasters import png_to_tif  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
IMAGES = ROOT / "docs" / "images"
GLACIER = "230012"  # Landsat path/row of the held-out validation glacier
SAR = SHARED / "water-s1-db" / "pxs10_vv_vh_db.tif"  # north-east India, open flood water
GRID = {"crs": "EPSG:3413", "transform": from_origin(-200000.0, -2000000.0, 49.0, 49.0)}
MAX_BYTES = 300_000


def scene_date(path):
    return Path(path).name.split("_")[3]


def shrink(path):
    """Reduce a screenshot to an adaptive 256-colour palette; returns its size in bytes."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    return path.stat().st_size


def main():
    reason = qgis_desktop.missing()
    if reason:
        sys.exit(f"cannot take screenshots: {reason}")
    pngs = sorted((SHARED / "fronts-landsat" / "images").glob(f"*_{GLACIER}_*_Subset.png"), key=scene_date)
    if not pngs or not SAR.exists():
        sys.exit(f"cannot take screenshots: the real data under {SHARED} are absent")
    IMAGES.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="waterline_screenshots_"))
    try:
        scenes = [png_to_tif(p, work / (p.stem + ".tif"), **GRID) for p in pngs]
        shots = {name: str(work / f"{name}.png") for name in ("fronts", "water", "toolbox")}
        report = qgis_desktop.run_session({
            "scenes": scenes, "basemap": scenes[-1], "sar": str(SAR), "window": [1100, 720],
            "hide_docks": ["Browser"], "toolbox_size": [430, 760], "screenshots": shots}, work / "session")
        if report["errors"] or report["reported_errors"]:
            sys.exit("the desktop session failed:\n" + "\n".join(report["errors"] + report["reported_errors"]))
        for name, target in (("fronts", "calving_fronts.png"), ("water", "surface_water.png"),
                             ("toolbox", "toolbox.png")):
            out = IMAGES / target
            shutil.copyfile(shots[name], out)
            size = shrink(out)
            print(f"{out.relative_to(ROOT)}: {size // 1000} kB")
            if size > MAX_BYTES:
                print(f"  warning: over {MAX_BYTES // 1000} kB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
