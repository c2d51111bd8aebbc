"""Held-out evaluation of an exported front model, through the plugin's own code path.

Each validation image (already layered, as the plugin layers a grey scene)
goes through the engine's tiled inference (``predict_array``) and the
plugin's front extraction (``plugin.engine.fronts.extraction.extract_fronts``, default
parameters, no fjord mask), and the accepted lines are scored against the
1-pixel reference front with CALFIN's symmetric mean distance
(``plugin.engine.fronts.metrics``). A scene where no front is accepted counts
as "not found" and is left out of the distance means (reported separately).
"""

import numpy as np

from plugin.engine.fronts.metrics import points_from_lines, points_from_mask, summarize, symmetric_distance
from plugin.engine.fronts.extraction import extract_fronts

LANDSAT_PIXEL_M = 49.0  # approximate; the subsets differ a little per glacier


def iou_counts(pred, true, known):
    """(intersection, union) pixel counts of two bool masks over the ``known`` pixels."""
    return int((pred & true & known).sum()), int(((pred | true) & known).sum())


def predict_probabilities(model, image):
    """(K, H, W) probabilities for a layered uint8 (3, H, W) image via the engine.

    ``model``: the engine's ``Model`` (ONNX) or ``training.torch_model.TorchModel`` (during training).
    """
    from plugin.engine.core.inference import predict_array

    valid = np.ones(image.shape[1:], bool)
    return np.asarray(predict_array(model, image.astype(np.float32), valid))


def evaluate_model(model_path, samples, log=print, threads=2, symmetric=True):
    """``symmetric``: average over the eight flips and turns of each tile, as detect_calving_fronts does
    by default."""
    from plugin.engine.core.model import load_model
    from plugin.engine.core.symmetry import Symmetric

    model = load_model(str(model_path), device="cpu", threads=threads)
    if symmetric:
        model = Symmetric(model)
    per_scene = []
    for s in samples:
        prob = predict_probabilities(model, s.image)
        rock = prob[2] if len(prob) > 2 else None
        result = extract_fronts(prob[0], prob[1], max_fronts=5, rock=rock)  # as detect_calving_fronts by default
        lines = [f.xy for f in result.accepted]
        ref = points_from_mask(s.edge_1px)
        d = symmetric_distance(points_from_lines(lines), ref)
        d_fjord = {"mean": None}
        if s.source == "landsat":
            # Idealised fjord mask: the columns the reference front spans (the Landsat subsets are rotated so
            # the front runs across), 2 px in from each end, every row. It stands in for a user's fjord
            # mask; it uses the reference's extent, so these numbers are optimistic and reported apart.
            cols = np.flatnonzero(s.edge_1px.any(axis=0))
            fjord = np.zeros(s.edge_1px.shape, np.uint8)
            fjord[:, cols.min() + 2: cols.max() - 1] = 1
            fj_lines = [f.xy for f in extract_fronts(prob[0], prob[1], fjord=fjord, rock=rock).accepted]
            d_fjord = symmetric_distance(points_from_lines(fj_lines), ref)
        inter, union = iou_counts(prob[1] >= 0.5, s.ice > 0, s.ice_weight > 0)
        per_scene.append({
            "scene": s.name, "source": s.source, "glacier": s.glacier, "found": bool(lines),
            "n_fronts": len(lines), "mean_px": d["mean"], "median_px": d["median"],
            "ice_iou": inter / union if union else None,
            "mean_px_reference_fjord_mask": d_fjord["mean"],
        })
    summary = {}
    for source in sorted({r["source"] for r in per_scene}):
        rows = [r for r in per_scene if r["source"] == source]
        mean = summarize([r["mean_px"] for r in rows])
        median = summarize([r["median_px"] for r in rows])
        entry = {
            "scenes": len(rows),
            "glaciers": sorted({r["glacier"] for r in rows}),
            "front_found_fraction": sum(r["found"] for r in rows) / len(rows),
            "mean_distance_px": mean["mean"],
            "median_of_scene_mean_distance_px": summarize([r["mean_px"] for r in rows])["median"],
            "mean_of_scene_median_distance_px": median["mean"],
            "ice_iou_mean": summarize([r["ice_iou"] for r in rows])["mean"],
        }
        if source == "landsat":
            fj = summarize([r["mean_px_reference_fjord_mask"] for r in rows])
            entry["with_reference_fjord_mask"] = {
                "front_found_fraction": fj["n"] / len(rows), "mean_distance_px": fj["mean"],
                "median_of_scene_mean_distance_px": fj["median"]}
        if source == "landsat" and mean["mean"] is not None:
            entry["mean_distance_m"] = mean["mean"] * LANDSAT_PIXEL_M
            entry["median_of_scene_mean_distance_m"] = entry["median_of_scene_mean_distance_px"] * LANDSAT_PIXEL_M
        summary[source] = entry
        log(f"{source}: {entry}")
    return {"summary": summary, "per_scene": per_scene,
            "method": "engine predict_array averaged over the eight flips and turns of each tile (symmetric="
                      f"{symmetric}) + extract_fronts with up to 5 fronts (the rock output used when the model "
                      "has one), no fjord mask; CALFIN symmetric distance "
                      "against the 1 px reference; scenes without a front excluded from distances. "
                      "with_reference_fjord_mask: the same with an idealised fjord mask (columns spanned by "
                      "the reference front), optimistic"}
