"""The water models' normalisation contract (the training side's choice; the engine applies it).

The shipped water models use the contract's ``percentile`` method for SAR and
optical bands: per scene and per channel, ``(x - p_low) / (p_high - p_low)``
clipped to [0, 1], with ``db: auto`` so linear power is turned into dB first.
A linear dB -> 8-bit rendering, a dB GeoTIFF and a linear-power GeoTIFF of the
same scene therefore all give the same model input. HAND uses a fixed scale
(metres mean the same everywhere). Training normalises with the engine's own
``plugin.engine.core.normalize.apply`` and its statistics functions.
"""

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
