"""Map raw raster values to model input as the model's contract declares.

Two steps per channel (see ``contract.py``):

1. ``scene_stats`` / ``array_stats``: once per scene, decide whether the
   channel is converted to dB (``db``: auto/always/never; auto applies
   ``raster_io.looks_like_power``, the one linear-power rule) and, for the
   ``percentile`` method, compute the scene's low/high percentiles of valid values (after the dB conversion) from a
   decimated sample (``raster_io.decimated_samples``). Statistics are computed
   once for the whole scene so every tile is normalised identically (no
   per-tile stretch, hence no seams).
2. ``apply``: per window, turn raw values into float32 model input. Invalid
   pixels are set to 0 (their predictions are masked out anyway).

Nothing is ever divided by a hard-coded 255: an 8-bit model declares
``{"method": "scale", "scale": 0.00392156862745098, "offset": 0}``.
"""

import numpy as np

from . import raster_io

STATS_PIXELS = 1_000_000  # sample size for scene percentiles (accurate to ~0.1 percentile)


def channel_stats(values, norm, is_float):
    """Statistics for one channel from a sample of its valid values."""
    values = np.asarray(values, dtype=np.float64)
    mode = norm.get("db", "never")
    use_db = mode == "always" or (mode == "auto" and raster_io.looks_like_power(values, is_float))
    stats = {"db": use_db}
    if norm["method"] == "percentile":
        if values.size == 0:
            raise ValueError("a model input band has no valid pixels to compute its percentiles from")
        if use_db:
            values = raster_io.to_db(values).astype(np.float64)
        low, high = np.percentile(values, [norm["low"], norm["high"]])
        if not high > low:  # a constant band: keep the division finite
            high = low + 1.0
        stats.update(low=float(low), high=float(high))
    return stats


def scene_stats(src, bands, norms, max_pixels=STATS_PIXELS, progress=None):
    """Per-channel statistics of an open rasterio dataset (``bands`` 1-based); ``progress(fraction)``
    follows the read of the sample."""
    if not any(needs_sample(n) for n in norms):  # fixed scaling: no read pass needed
        return [{"db": n.get("db", "never") == "always"} for n in norms]
    stats = []
    samples = raster_io.decimated_samples(src, bands, max_pixels=max_pixels, progress=progress)
    for band, norm, values in zip(bands, norms, samples):
        is_float = np.issubdtype(np.dtype(src.dtypes[band - 1]), np.floating)
        if values.size == 0:
            raise ValueError(f"band {band} of the input has no valid pixels (all nodata)")
        stats.append(channel_stats(values, norm, is_float))
    return stats


def array_stats(array, valid, norms, max_pixels=STATS_PIXELS):
    """Per-channel statistics of an in-memory (C, H, W) array and (H, W) valid mask."""
    step = max(1, int(np.ceil(np.sqrt(valid.size / max_pixels))))
    sub_valid = valid[::step, ::step]
    stats = []
    for band, norm in zip(array, norms):
        values = band[::step, ::step][sub_valid]
        is_float = np.issubdtype(band.dtype, np.floating)
        stats.append(channel_stats(values, norm, is_float))
    return stats


def needs_sample(norm):
    """Whether a channel's normalisation needs scene statistics (a read pass)."""
    return norm["method"] == "percentile" or norm.get("db", "never") == "auto"


def apply(array, valid, norms, stats):
    """Normalise a (C, H, W) window; returns float32 with invalid pixels = 0."""
    out = np.empty(array.shape, dtype=np.float32)
    for i, (norm, st) in enumerate(zip(norms, stats)):
        x = out[i]
        x[...] = array[i]  # one float32 copy; everything below works in place
        if st.get("db"):
            np.maximum(x, raster_io.DB_FLOOR, out=x)
            np.log10(x, out=x)
            x *= np.float32(10.0)
        method = norm["method"]
        if method == "scale":
            x *= np.float32(norm["scale"])
            x += np.float32(norm["offset"])
        elif method == "percentile":
            lo, hi = np.float32(st["low"]), np.float32(st["high"])
            x -= lo
            x *= np.float32(1.0) / (hi - lo)
            np.clip(x, 0.0, 1.0, out=x)
    out[:, ~valid] = 0.0
    return out
