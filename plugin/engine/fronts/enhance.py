"""CALFIN input layering: one grey band -> three enhanced 8-bit bands.

CALFIN feeds its network three layers of the same grey image: the raw band,
a local-contrast ("HDR") version and a shadows/highlights version, made by hand
in Photoshop. Here each is a closed-form numpy/scipy operation:

1. raw: a robust percentile stretch of the band to 0..255;
2. local contrast: the stretched band normalised by its Gaussian local mean
   and standard deviation (the idea behind CLAHE, but exactly local, so a
   scene processed in windows with a halo is identical to a whole-scene run);
3. shadows/highlights: a gamma that brightens pixels whose neighbourhood is
   dark and darkens pixels whose neighbourhood is bright.

Training (``training/``) and the plugin both call ``layer_calfin`` so the model
sees identical preprocessing.
"""

import numpy as np
from scipy import ndimage

LAYER_NAMES = ("raw", "local_contrast", "shadows_highlights")
DEFAULT_SIGMA = 8.0  # pixels; about 400 m at CALFIN's ~50 m pixels


def stretch_limits(values, low=0.5, high=99.5):
    """Percentile limits for a robust stretch from a sample of valid values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no valid pixels to compute a stretch from")
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def stretch(band, limits):
    """Map ``band`` linearly so ``limits`` become 0 and 1, clipped."""
    lo, hi = limits
    return np.clip((band.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)


def _masked_blur(x, valid, sigma):
    # Normalised convolution: nodata pixels neither contribute nor drag means to 0.
    w = ndimage.gaussian_filter(valid.astype(np.float32), sigma, mode="reflect")
    s = ndimage.gaussian_filter(np.where(valid, x, 0).astype(np.float32), sigma, mode="reflect")
    return s / np.maximum(w, 1e-6)


def local_contrast(x, valid, sigma=DEFAULT_SIGMA, gain=1.0):
    """Local mean/std normalisation mapped back to 0..1."""
    mean = _masked_blur(x, valid, sigma)
    var = _masked_blur((x - mean) ** 2, valid, sigma)
    z = (x - mean) / (np.sqrt(np.maximum(var, 0)) + 0.05)
    return 0.5 + 0.5 * np.tanh(gain * z / 2.0)


def shadows_highlights(x, valid, sigma=DEFAULT_SIGMA * 2, strength=1.5):
    """Lift shadows and pull down highlights according to the local brightness."""
    local = _masked_blur(x, valid, sigma)
    gamma = np.power(2.0, strength * (local - 0.5))
    return np.power(np.clip(x, 1e-6, 1.0), gamma)


def halo(sigma=DEFAULT_SIGMA):
    """Pixels of context a window needs so windowed output equals whole-scene output."""
    # Gaussian kernels reach 4 sigma; local contrast blurs twice (mean, then
    # variance) and shadows/highlights once at 2 sigma: 8 sigma in both cases.
    return int(np.ceil(8 * sigma)) + 2


def layer_calfin(band, valid, limits, sigma=DEFAULT_SIGMA):
    """Three uint8 layers (3, H, W) from one grey band; 0 where ``valid`` is False.

    ``limits`` come from ``stretch_limits`` on the whole scene, so every window
    of a scene is stretched the same way.
    """
    x = stretch(band, limits)
    x = np.where(valid, x, 0.0).astype(np.float32)
    layers = np.stack([x, local_contrast(x, valid, sigma), shadows_highlights(x, valid, 2 * sigma)])
    out = np.round(layers * 254.0 + 1.0).astype(np.uint8)  # 1..255: 0 is nodata
    out[:, ~valid] = 0
    return out
