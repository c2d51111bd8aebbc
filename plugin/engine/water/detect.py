"""Surface water from a SAR raster by the method that suits it: physical thresholds or the model.

``choose_method``: METHOD=auto takes the physically based threshold method
(``threshold.py``) for calibrated backscatter (floating-point dB or linear
power) and the learned model for anything else (8-bit renderings), as measured
on the real scenes in ``tools/measure_water.py``. ``model_water`` runs a model
on any CRS: a geographic input is processed on its UTM zone and written back on
its own grid (``warp.on_metric_grid``), like the threshold method does.
"""

import os

import rasterio

from ..core import inference
from . import threshold, warp

METHODS = ("auto", "threshold", "model")


def choose_method(method, src_path, model_given=False):
    """(method to run, why) for METHOD ``method`` on the raster at ``src_path``.

    ``model_given``: the user named a model file, which auto then runs.
    """
    if method not in METHODS:
        raise ValueError(f"the method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "auto":
        if model_given:
            return "model", "a model file was given"
        return threshold.auto_method(src_path)
    return method, f"method '{method}' was chosen"


def scale_mismatch(model, src_path):
    """A sentence when a model declared for 8-bit renderings (``input_scale`` render8) is given
    calibrated backscatter, else None."""
    if model.meta.get("input_scale") != "render8" or threshold.auto_method(src_path)[0] != "threshold":
        return None
    return (f"the model {os.path.basename(str(model.path))} was trained on 8-bit renderings, each stretched "
            "on its own (input_scale render8); this input is calibrated backscatter, where the threshold "
            "method measured better (weights/water_threshold.md): METHOD auto or threshold suits it")


def model_water(model, src_path, mask_path, prob_path=None, water_threshold=0.5,
                progress=None, is_canceled=None, log=None, warn=None):
    """Run a water model over ``src_path`` in any CRS; returns predict_raster's dict plus water_pixels."""
    with rasterio.open(src_path) as src:
        bands = inference.resolve_bands(model.channels, src.count, src.descriptions)

    def run(path, paths, part):
        return inference.predict_raster(model, path, prob_path=paths["prob"], class_path=paths["mask"],
                                        threshold=water_threshold, progress=part, is_canceled=is_canceled,
                                        log=log, warn=warn)

    outputs = {"prob": (prob_path, "nearest", None), "mask": (mask_path, "nearest", 1)}
    result = warp.on_metric_grid(src_path, outputs, run, input_bands=bands, progress=progress,
                                 is_canceled=is_canceled, log=log)
    if result["warped"]:
        result["positive_pixels"] = result["warped"]["counts"]["mask"][1]
    result["water_pixels"] = result["positive_pixels"]
    return result
