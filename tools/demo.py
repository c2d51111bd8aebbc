"""`make demo`: run Waterline's main jobs end to end through the real qgis_process.

Uses real data from ../shared/data when it is beside the checkout; on a fresh
machine without it, it generates a small synthetic fjord scene so the chain
still runs (its results then only show that the plumbing works). Outputs go to
build/demo/ and their paths are printed at the end.
"""

import shutil
import sys
from pathlib import Path

import numpy as np
from shapely.geometry import LineString, box

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # qgis_process in the tests' throw-away profile; raster helpers
import qgis_cli  # noqa: E402
from rasters import POLAR, grid_of, png_to_tif, write_scene, write_tif, write_vector  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "build" / "demo"
GLACIER = "LE07_L1TP_010011"  # Jakobshavn Isbrae, Landsat path 10 row 11


def run(alg, **params):
    print(f"  qgis_process run waterline:{alg}")
    return qgis_cli.run(alg, params)["results"]


def glacier_scenes(folder):
    """Real Landsat subsets of one glacier as GeoTIFFs, or synthetic ones."""
    folder.mkdir(parents=True)
    pngs = sorted((SHARED / "fronts-landsat" / "images").glob(GLACIER + "_*"))[:8]
    if pngs:
        print(f"Real data: {len(pngs)} Landsat subsets of Jakobshavn Isbrae from ../shared/data "
              "(Mohajerani et al. 2019, CC BY 4.0), given a nominal EPSG:3413 grid")
        return [png_to_tif(p, folder / (p.stem + ".tif")) for p in pngs], "real"
    print("../shared/data is absent: generating a synthetic fjord scene (plumbing check only)")
    rng = np.random.default_rng(1)
    paths = []
    for i, front in enumerate((120, 140, 160)):
        img = np.full((300, 200), 70.0)
        img[:, :40] = img[:, 160:] = 170  # rock walls
        img[:front, 40:160] = 220  # glacier above the front
        img += rng.normal(0, 6, img.shape)
        name = f"LE07_L1TP_010011_2000071{i}_20170211_01_T1_B8_Subset.tif"
        paths.append(write_tif(folder / name, np.clip(img, 1, 255).astype(np.uint8), nodata=0))
    return paths, "synthetic"


def calving_front_preprocessing():
    print("\n== Calving fronts: subset -> layer -> fjord mask (model 'Prepare calving-front inputs') ==")
    work = OUT / "fronts"
    scenes, _ = glacier_scenes(work / "scenes")
    import rasterio

    with rasterio.open(scenes[0]) as ds:
        b = ds.bounds
    domain = write_vector(work / "domain.gpkg", [box(b.left + 245, b.bottom + 245, b.right - 245, b.top - 245)],
                          POLAR, [{"glacier": "Jakobshavn"}])
    walls = write_vector(work / "fjord_walls.gpkg",
                         [LineString([(b.left + 1500, b.bottom), (b.left + 1500, b.top)]),
                          LineString([(b.right - 1500, b.bottom), (b.right - 1500, b.top)])], POLAR)
    run("Prepare calving-front inputs", **{
        "scenes": work / "scenes", "domain": domain, "boundaries": walls,
        "subset:Subsets": work / "subsets", "subset:Subset report": work / "subset_report.csv",
        "layer:Layered input": work / "layered.tif", "fjord:Fjord mask": work / "fjord_mask.tif"})
    layered = run("layer_calfin_input", INPUT=sorted((work / "subsets").glob("*.tif"))[-1],
                  OUTPUT=work / "layered_last.tif")
    starter = run("fjord_mask_from_stack", FOLDER=work / "subsets", OUTPUT=work / "starter_fjord_mask.tif")
    return {
        "subsets folder": work / "subsets",
        "subset report": work / "subset_report.csv",
        "layered model input": work / "layered.tif",
        "layered model input (last scene)": layered["OUTPUT"],
        "fjord mask": work / "fjord_mask.tif",
        "starter fjord mask": starter["OUTPUT"],
    }


def calving_front_detection(prep):
    print("\n== Calving fronts: detect (shipped model) -> append to the glacier's GeoPackage -> evaluate ==")
    work = OUT / "fronts"
    subsets = sorted((work / "subsets").glob("*.tif"))
    # The starter mask follows the real fjord walls (edges static across the scenes).
    res = run("detect_calving_fronts", INPUT=subsets, FJORD_MASK=prep["starter fjord mask"],
              OUTPUT=work / "calving_fronts.gpkg", OUTPUT_ICE=work / "ice_ocean.gpkg", QA_FOLDER=work / "qa",
              APPEND_GPKG=work / "jakobshavn_fronts.gpkg")
    print(f"  {int(res['FRONTS_FOUND'])} front(s) in {len(subsets)} scenes")
    outputs = {"calving front lines": res["OUTPUT"], "ice/ocean polygons": res["OUTPUT_ICE"],
               "glacier fronts GeoPackage": work / "jakobshavn_fronts.gpkg"}
    labels = []
    for tif in subsets:  # the reference fronts of real scenes, on the subset's grid
        png = SHARED / "fronts-landsat" / "labels_1px" / (tif.stem.replace("_Subset", "") + "_Front.png")
        if png.exists():
            labels.append(_label_on_grid(png, tif, work / "labels" / (tif.stem.replace("_Subset", "") + "_Front.tif")))
    if labels:
        ev = run("evaluate_fronts", PREDICTED=res["OUTPUT"], REFERENCE_MASKS=labels, MASK_FRONT=1,
                 OUTPUT=work / "front_errors.csv")
        print(f"  mean front distance {ev['MEAN_PX']:.2f} px ({ev['MEAN_M']:.0f} m), front found in "
              f"{ev['FOUND_FRACTION']:.0%} of {int(ev['SCENES'])} scenes (a training glacier: not a validation number)")
        outputs["front errors table"] = work / "front_errors.csv"
    qa = sorted((work / "qa").glob("*.png"))
    outputs["QA image"] = qa[-1] if qa else "(none: no scene processed)"
    return outputs


def glacier_change(detected):
    """The glacier's GeoPackage of fronts -> one series -> terminus change along a centreline, with a plot."""
    print("\n== Glacier change: consolidate the fronts -> terminus change along the centreline ==")
    import rasterio

    work = OUT / "fronts"
    with rasterio.open(sorted((work / "subsets").glob("*.tif"))[0]) as ds:
        b = ds.bounds
    # In these subsets the sea is at the top and the glacier at the bottom: the centreline
    # starts at the sea (its first vertex) and runs up the glacier along the fjord's axis.
    x = (b.left + b.right) / 2
    centreline = write_vector(work / "centreline.gpkg", [LineString([(x, b.top - 500), (x, b.bottom + 500)])], POLAR)
    series = run("consolidate_fronts", INPUT=detected["glacier fronts GeoPackage"], OUTPUT=work / "front_series.gpkg")
    res = run("terminus_change", FRONTS=series["OUTPUT"], CENTRELINE=centreline, TITLE="Jakobshavn Isbrae (demo)",
              OUTPUT=work / "terminus_change.csv", OUTPUT_POINTS=work / "terminus_points.gpkg",
              OUTPUT_PNG=work / "terminus_change.png", OUTPUT_SVG=work / "terminus_change.svg")
    print(f"  {int(res['DATES'])} dates, {int(res['OUTLIERS'])} outlier(s), change first to last "
          f"{res['TOTAL_CHANGE_M']:.0f} m")
    return {"front series": series["OUTPUT"], "terminus change table": res["OUTPUT"],
            "terminus points": res["OUTPUT_POINTS"], "terminus plot": res["OUTPUT_PNG"]}


def _label_on_grid(png, subset, out):
    """A 1 px front label (PNG, full subset) put on the grid of the subset GeoTIFF it was cut to."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    out.parent.mkdir(parents=True, exist_ok=True)
    full = png_to_tif(png, out.with_name(out.stem + "_full.tif"))
    with rasterio.open(full) as src, rasterio.open(subset) as ref:
        data = np.full((ref.height, ref.width), 255, np.uint8)
        reproject(src.read(1), data, src_transform=src.transform, src_crs=src.crs, dst_transform=ref.transform,
                  dst_crs=ref.crs, resampling=Resampling.nearest)
        return write_tif(out, data, transform=ref.transform, crs=ref.crs)


def surface_water():
    """HAND -> stack -> detect -> polygons -> compare on held-out real Sentinel-1 tiles."""
    print("\n== Surface water: HAND -> stack -> detect water -> polygons -> compare ==")
    if not (SHARED / "water-s1-etci2021").exists():
        print(f"  skipped: the water demo needs real Sentinel-1 tiles from {SHARED}")
        return {}
    work = OUT / "water"
    # 2 x 2 ETCI 2021 tiles from the block held out of training, as a linear-power
    # GeoTIFF placed over the HydroSHEDS Dallas DEM (the placement is made up).
    scene = write_scene(work / "input", SHARED / "water-s1-etci2021", SHARED / "misc")
    truth = write_tif(work / "input" / "etci_water.tif",
                      np.where(scene["valid"], scene["water"], 255).astype(np.uint8), nodata=255,
                      **grid_of(scene["sar"]))
    dem = SHARED / "misc" / "hydrosheds_dem_dallas.tif"
    run("compute_hand", INPUT=dem, ACC_THRESHOLD=100, OUTPUT=work / "hand.tif")
    run("build_water_stack", SAR=scene["sar"], POLARISATIONS="VV,VH", SAR_OUTPUT="db", DEM=dem,
        HAND=work / "hand.tif", OUTPUT=work / "stack.tif")
    # The ETCI tiles are 8-bit renderings made to look like power: the model is the method for them.
    res = run("detect_water", INPUT=work / "stack.tif", METHOD="model", OUTPUT_PROB=work / "water_probability.tif",
              OUTPUT_MASK=work / "water_mask.tif", OUTPUT_POLYGONS=work / "water_polygons.gpkg", MIN_AREA=2000)
    print(f"  method: {res['MODEL_USED']}")
    metrics = run("compare_water_maps", INPUT=work / "water_mask.tif", REFERENCE=truth,
                  OUTPUT=work / "metrics.csv")
    print(f"  IoU against the ETCI labels of these held-out tiles: {metrics['IOU']:.3f}")
    outputs = {}
    db_scene = SHARED / "water-s1-db" / "pxs10_vv_vh_db.tif"
    if db_scene.exists():  # a real calibrated dB GeoTIFF: METHOD=auto takes the threshold method
        res = run("detect_water", INPUT=db_scene, OUTPUT_MASK=work / "pxs10_water_mask.tif",
                  OUTPUT_PROB=work / "pxs10_water_likelihood.tif")
        print(f"  method: {res['MODEL_USED']}")
        metrics = run("compare_water_maps", INPUT=work / "pxs10_water_mask.tif",
                      REFERENCE=SHARED / "water-s1-db" / "pxs10_label.tif", REFERENCE_WATER="1", REFERENCE_LAND="0",
                      OUTPUT=work / "pxs10_metrics.csv")
        print(f"  IoU against the hand labels of the Sentinel-1 dB scene pxs10: {metrics['IOU']:.3f}")
        outputs = {"water mask (dB scene, threshold method)": work / "pxs10_water_mask.tif"}
    return {"HAND": work / "hand.tif", "water stack": work / "stack.tif",
            "water probability": work / "water_probability.tif", "water mask": work / "water_mask.tif",
            "water polygons": work / "water_polygons.gpkg", "water comparison": work / "metrics.csv", **outputs}


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    qgis_cli.enable_plugin()
    outputs = {}
    prep = calving_front_preprocessing()
    outputs.update(prep)
    detected = calving_front_detection(prep)
    outputs.update(detected)
    outputs.update(glacier_change(detected))
    outputs.update(surface_water())
    print("\nDemo outputs:")
    for label, path in outputs.items():
        print(f"  {label:36s} {path}")


if __name__ == "__main__":
    main()
