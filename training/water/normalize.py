"""Training-side normalisation, identical to what the engine does at inference.

The shipped water models use the contract's ``percentile`` method for SAR and
optical bands: per scene and per channel, ``(x - p_low) / (p_high - p_low)``
clipped to [0, 1], with ``db: auto`` so linear power is turned into dB first.
A linear dB -> 8-bit rendering, a dB GeoTIFF and a linear-power GeoTIFF of the
same scene therefore all give the same model input. HAND uses a fixed scale
(metres mean the same everywhere).
"""

import numpy as np

from plugin.engine import normalize as engine_normalize

SAR = ("VV", "VH", "HH", "HV")
LOW, HIGH = 2.0, 98.0


def default_normalization(channels):
    """The contract ``normalization`` list for ``channels``."""
    norms = []
    for name in channels:
        if name.upper() == "HAND":
            # 0 m -> 0, 50 m -> 1; HAND above ~20 m is all the same to water.
            norms.append({"method": "scale", "scale": 0.02, "offset": 0.0})
        elif name.upper() in SAR:
            norms.append({"method": "percentile", "low": LOW, "high": HIGH, "db": "auto"})
        else:
            norms.append({"method": "percentile", "low": LOW, "high": HIGH, "db": "never"})
    return norms


def scene_limits(values, norm, dtype):
    """(convert_to_db, p_low, p_high) for one channel from a sample of its valid values.

    Delegates to the engine's ``channel_stats`` so training and inference agree exactly.
    """
    stats = engine_normalize.channel_stats(values, norm, np.issubdtype(np.dtype(dtype), np.floating))
    return stats["db"], stats.get("low"), stats.get("high")


def apply(x, norm, limits):
    """Normalise one channel array with its scene ``limits`` from ``scene_limits``."""
    x = x.astype(np.float32)
    if norm["method"] == "none":
        return x
    if norm["method"] == "scale":
        return x * np.float32(norm["scale"]) + np.float32(norm["offset"])
    convert, lo, hi = limits
    if convert:
        x = engine_normalize.to_db(x)
    return np.clip((x - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)
