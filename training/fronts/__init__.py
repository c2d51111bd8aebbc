"""The calving-front model's contract (CALFIN-style DeepLabV3+, front edge + ice/land mask [+ rock]).

``python -m training fronts`` (``cli.py``) trains it; this module holds what
training, export and evaluation must agree on: channels, normalisation,
network size and the metadata written into the ONNX file.
"""

import numpy as np

from plugin.engine.core import normalize

MODEL_VERSION = "1.0.0"
TRAINING_DATA = (
    "Landsat 5/7/8 calving-front subsets of Greenland glaciers from Mohajerani, Wood, Velicogna & Rignot (2019), "
    "Detection of Glacier Calving Margins with Convolutional Neural Networks: A Case Study, Remote Sensing 11(1):74, "
    "doi:10.3390/rs11010074, licence CC BY 4.0; SAR images, fronts and zones (subset of CaFFe) from Gourmelon et al. "
    "(2022), Calving fronts and where to find them: a benchmark dataset and methodology for automatic glacier "
    "calving front extraction from SAR imagery, Earth System Science Data 14:4287, doi:10.5194/essd-14-4287-2022, "
    "licence CC BY 4.0."
)
CHANNELS = "RAW,LOCAL_CONTRAST,SHADOWS_HIGHLIGHTS"
NORMALIZATION = [{"method": "scale", "scale": 1 / 255.0, "offset": 0.0} for _ in range(3)]
NET_CONFIG = dict(widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), aspp_channels=64, low_channels=24,
                  decoder_channels=64)


OUTPUTS = [
    {"name": "front", "description": "probability that the pixel lies on the calving front (3 px wide)"},
    {"name": "ice", "description": "probability of glacier ice or land (versus ocean and ice melange)"},
    {"name": "rock", "description": "probability of rock: land that is not glacier ice (coast, nunataks, fjord walls)"},
]


def model_metadata(tile_size=256, overlap=64, history_note="", outputs=2, sensors="any"):
    """The contract of a front model with ``outputs`` heads (2: front, ice; 3: front, ice, rock), for
    scenes of ``sensors`` ("any", "optical" or "sar": which scenes the plugin gives it)."""
    return {
        "task": "calving_front",
        "channels": CHANNELS,
        "normalization": NORMALIZATION,
        "tile_size": tile_size,
        "overlap": overlap,
        "outputs": OUTPUTS[:outputs],
        "pixel_size_m": 50.0,
        "version": MODEL_VERSION,
        "training_data": TRAINING_DATA,
        "license": "CC BY 4.0 (weights derived from CC BY 4.0 data; credit both datasets)",
        "description": ("CALFIN-style DeepLabV3+ calving-front model (front edge + ice/land mask"
                        + (" + rock" if outputs > 2 else "") + ")"
                        + ("" if sensors == "any" else f" for {sensors} scenes") + " " + history_note),
        "sensors": sensors,
    }


def model_input(image):
    """Network input (3, H, W) float32 for a layered image, normalised by the engine as the contract says."""
    valid = np.ones(image.shape[1:], bool)  # the layering already set nodata to 0
    return normalize.apply(image, valid, NORMALIZATION, normalize.array_stats(image, valid, NORMALIZATION))
