"""Surface water from calibrated SAR backscatter without training (the ASF HyP3 method).

The method of ASF HyP3's water maps (asf_tools.hydrosar.water_map, after Twele
et al. 2016, "Sentinel-1-based flood mapping: a fully automated processing
chain", IJRS 37(13)), adapted to run window by window on any scene size and to
stay empty on dry land:

1. **Units and speckle.** The co-polarised (VV or HH) and cross-polarised (VH or
   HV) bands are read in dB; linear power (``raster_io.looks_like_power``, the one
   rule) is converted with ``raster_io.to_db``. Integer bands (8-bit or 16-bit
   renderings, uncalibrated counts) have no absolute dB level and are refused.
   Speckle is reduced with a boxcar mean in linear power over about 30 m
   (``smooth_px``; 3 x 3 at 10 m, none at 30 m), the multilooked level of the
   30 m RTC products HyP3 thresholds.
2. **Tiles.** One windowed pass computes, per ``tile_px`` tile (100 px, HyP3's),
   its valid fraction, the means of its four quarters in dB and (with HAND) the
   fraction of HAND below ``HAND_MAX_M`` (15 m). Tiles that are >= 80 % valid
   (and, with HAND, >= 80 % low-lying, as HyP3 requires) are ranked by the spread
   of their quarter means (a water/land edge makes the quarters differ: HyP3's
   criterion; its "darker than the median tile" rule is left out, as it rejects
   the edge tiles of scenes that are mostly water).
3. **Bimodality.** For each polarisation the best-ranked tiles (at most
   ``MAX_CANDIDATES``) are read at full resolution and a two-Gaussian mixture is
   fitted to their dB histogram by expectation maximisation (EM, started from
   Otsu's split). A tile is a water/land tile only when it is clearly bimodal
   (Ashman's D >= 2, the separation criterion of Chini et al. 2017, and each mode
   >= 10 % of the tile), its dark mode is as dark as open water
   (``WATER_MODE_MAX_DB``) and its bright mode as bright as land
   (``LAND_MODE_MIN_DB``). Its threshold is where the weighted Gaussians cross:
   the minimum-error (Kittler-Illingworth) threshold of the fitted classes. With
   at least ``MIN_TILES`` (2) such tiles among the first five found, the scene
   threshold is the median of the lowest four tile thresholds (HyP3's rule),
   capped at ``MAX_THRESHOLD_DB``.
4. **No water/land tiles: no threshold.** HyP3 then falls back to its maximum
   threshold (-15.5 dB VV), which floods dark dry land. Here that polarisation
   maps only pixels below an absolute floor, ``FLOOR_DB`` (-20 dB co-pol, where
   only smooth open water and radar shadow lie; cross-pol has no safe floor and
   maps nothing).
5. **Fuzzy refinement** (HyP3's): per polarisation, a thresholded pixel stays
   water when every membership is non-zero and their mean is >= 0.45:
   backscatter (Z-shaped from the water mode to the threshold), segment size
   (Z-shaped ramp over HyP3's 3 to 10 pixels of 30 m, i.e. 2700 to 9000 m2:
   27 to 90 px at 10 m) and, when HAND is given, HAND (limits from the scene's
   HAND, as HyP3) and the slope of HAND (0 to 15 degrees). The co- and cross-pol
   maps are joined (OR, as HyP3) and segments below the minimum mapping unit
   (``min_area_px``, default 2700 m2, HyP3's 3 pixels of 30 m) are removed.

Taken from asf_tools 0.8.4 (BSD-3-Clause, hydrosar/water_map.py and
threshold.py), re-implemented here rather than imported (it needs GDAL's Python
bindings, scikit-fuzzy and whole-scene arrays): the 100 px tiles, the
quarter-mean tile ranking, the HAND tile criterion (15 m, 80 %), the median of
the lowest four of five tile thresholds, the -15.5 dB VV cap, the histogram
smoothing kernel [1 2 3 2 1], the fuzzy memberships (Z-shaped functions,
segment ramp 3-10 px, HAND limits median / median + 3 std + 5 m of the non-zero
HAND below its 90th percentile, slope 0-15 degrees, mean >= 0.45), the OR of
the two polarisations and the 3 px final segment filter. Not taken: its 3-class
histogram EM (a 2-class EM on the dB histogram here), its fallback to the cap
when tile selection fails, its VH cap (-23 dB, see ``MAX_THRESHOLD_DB``) and its
slope (asf computes ``sqrt(dx**2, dy**2)``, i.e. |dx| only; the gradient's
magnitude here).

Memory is bounded however big the scene: statistics come from one windowed
pass (a few numbers per tile) and at most ``max_candidates`` tiles read back;
classification runs in windows with a halo. Segment sizes are exact (the
result does not depend on the window size): the halo is the minimum mapping
unit plus the widest neighbourhood a pixel's class depends on (speckle window,
segment ramp, slope), and a segment that reaches the window's padded edge is
at least that large, so it counts as large (see ``_halo``).

Outputs are those of the model path: uint8 mask (1 water, 0 not water, 255
nodata) and optionally a float32 water likelihood (0..1, -1 nodata): per
polarisation a logistic curve that is 0.5 at the threshold and 0.88 at the
water mode, the larger of the two, and >= 0.5 exactly where the mask says
water (pixels the refinement removed are set just below 0.5).

A geographic input (EPSG:4326) is processed on its UTM zone and written back on
its own grid (``warp.on_metric_grid``).
"""

import contextlib
import math
import re
import time
import warnings

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..core import raster_io
from ..core.cancel import check_cancel
from . import warp

NODATA_MASK = 255
NODATA_LIKELIHOOD = -1.0

CO, CROSS = "co", "cross"
POL_KIND = {"VV": CO, "HH": CO, "VH": CROSS, "HV": CROSS}

# Physical levels (dB, sigma0 or gamma0 after the ~30 m speckle filter). At C band
# open water is about -18 to -28 dB co-pol (VV, HH) and -22 to -32 dB cross-pol
# (VH, HV; it reaches the instrument noise floor), wind-roughened water brighter;
# vegetated land, soil and built-up areas are about -5 to -15 dB co-pol and -12
# to -20 dB cross-pol; dry sand and smooth bare soil reach -20 dB co-pol and the
# noise floor cross-pol.
#
# A tile is a water/land tile only when the dark mode of its two-Gaussian fit is
# as dark as open water (WATER_MODE_MAX_DB) and its bright mode as bright as land
# (LAND_MODE_MIN_DB). Dark fields against bright ones fail the first test (land
# against land); water against dry sand, or speckle in a dark region, fails the
# second (dark against darker): neither says where water ends.
WATER_MODE_MAX_DB = {CO: -18.0, CROSS: -22.0}
LAND_MODE_MIN_DB = {CO: -15.5, CROSS: -20.0}
# The scene threshold never goes above this. Co-pol: HyP3's max_vv_threshold
# (-15.5 dB). Cross-pol: HyP3 caps VH at -23 dB (for its 30 m gamma0 RTC); on the
# 10 m sigma0 scenes measured here (tools/measure_water.py) the fitted VH
# thresholds at the edges of flooded land lie at -19 to -23 dB and the -23 dB cap
# halves the water found in jja10 (IoU 0.38 instead of 0.69), so the cap is -20 dB,
# the lower edge of vegetated land in cross-pol. Dry-land safety comes from the
# bimodality and mode tests, not from this cap (measured: the same dry-land
# results with either cap).
MAX_THRESHOLD_DB = {CO: -15.5, CROSS: -20.0}
# With no water/land tile, water is only what lies below this absolute floor:
# -20 dB co-pol is below vegetated land, soil and built-up areas and is reached by
# smooth open water (and by radar shadow and the smoothest dry sand or tarmac).
# Measured on the dry land of the water-s1-db scenes: 0 to 1.1 % of pixels after
# the minimum mapping unit. Cross-pol has no safe floor (7.5 % of the dry land of
# pxs10, sandbars, lies below -26 dB VH), so a cross-pol-only input without
# water/land tiles maps no water.
FLOOR_DB = {CO: -20.0, CROSS: None}

TILE_PX = 100            # HyP3's tile_shape (100, 100)
N_TILES = 5              # HyP3 selects 5 tiles ...
MIN_TILES = 2            # a threshold needs at least two water/land tiles
MAX_CANDIDATES = 50      # ... from at most this many, best ranked first
MIN_TILE_VALID = 0.8     # a candidate tile is at least 80 % valid
MIN_ASHMAN_D = 2.0
MIN_MODE_FRACTION = 0.1
HAND_MAX_M = 15.0        # HyP3 hand_threshold
HAND_FRACTION = 0.8      # HyP3 hand_fraction
MEMBERSHIP_THRESHOLD = 0.45
SEGMENT_RAMP_M2 = (2700.0, 9000.0)  # HyP3's 3 to 10 pixels of 30 m
MIN_AREA_M2 = 2700.0     # HyP3 removes segments below 3 pixels of 30 m
SMOOTH_M = 30.0
SLOPE_MAX_DEG = 15.0
BIN_DB = 0.1
WINDOW = 1024
MAX_MIN_AREA_PX = 500    # the halo grows with the minimum mapping unit (memory)


# ---------------------------------------------------------------- bands and units

_POL_TOKEN = re.compile(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])")


def _parse_bands(bands):
    """{"VV": 1, ...} from a dict, "VV=1,VH=2" or None."""
    if bands is None or bands == "" or bands == {}:
        return None
    if isinstance(bands, str):
        out = {}
        for item in (t.strip() for t in bands.split(",") if t.strip()):
            name, sep, band = item.partition("=")
            if not sep:
                raise ValueError(f"the band mapping {bands!r} must read like 'VV=1,VH=2'")
            try:
                out[name.strip().upper()] = int(band)
            except ValueError:
                raise ValueError(
                    f"the band mapping {bands!r} has {band.strip()!r}, not a band number") from None
        bands = out
    out = {str(k).strip().upper(): int(v) for k, v in dict(bands).items()}
    unknown = [k for k in out if k not in POL_KIND]
    if unknown:
        raise ValueError(
            f"unknown polarisation(s) {', '.join(unknown)} in the band mapping: use VV, VH, HH, HV")
    return out


def resolve_sar_bands(descriptions, count, bands=None):
    """{polarisation: 1-based band} with at most one co-pol and one cross-pol band.

    From ``bands`` (a dict or "VV=1,VH=2"), else from band descriptions that
    name VV/VH/HH/HV (e.g. "VV", "sigma0_VH_db"), else, when no band has a
    description, a 1-band (VV) or 2-band (VV, VH) raster.
    """
    mapping = _parse_bands(bands)
    if mapping is None:
        found = {}
        for i, desc in enumerate(descriptions or [], start=1):
            tokens = set(_POL_TOKEN.findall((desc or "").upper()))
            if len(tokens) == 1:
                pol = tokens.pop()
                if pol in found:
                    raise ValueError(f"bands {found[pol]} and {i} are both described as {pol}: "
                                     "give a band mapping such as VV=1,VH=2")
                found[pol] = i
        unnamed = not any((d or "").strip() for d in (descriptions or []))
        if found:
            mapping = found
        elif unnamed and count == 1:
            mapping = {"VV": 1}
        elif unnamed and count == 2:
            mapping = {"VV": 1, "VH": 2}
        else:
            raise ValueError(
                f"the input has {count} band(s) and none is described as VV, VH, HH or HV: name the "
                "bands (e.g. with 'Build water stack') or give a band mapping such as VV=1,VH=2")
    bad = {p: b for p, b in mapping.items() if not 1 <= b <= count}
    if bad:
        p, b = next(iter(bad.items()))
        raise ValueError(f"band {b} ({p}) does not exist: the input has {count} band(s)")
    kinds = [POL_KIND[p] for p in mapping]
    if kinds.count(CO) > 1 or kinds.count(CROSS) > 1:
        raise ValueError(f"use one co-polarised (VV or HH) and one cross-polarised (VH or HV) band, "
                         f"not {', '.join(mapping)}")
    # co-pol first
    return dict(sorted(mapping.items(), key=lambda kv: POL_KIND[kv[0]] != CO))


def sar_units(src, bands):
    """'power' or 'db' per band (list), from a decimated sample; refuses integer renderings."""
    units = []
    samples = raster_io.decimated_samples(src, bands, max_pixels=1_000_000)
    for band, values in zip(bands, samples):
        dtype = np.dtype(src.dtypes[band - 1])
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(
                f"band {band} is {dtype.name}: an integer rendering (such as 8-bit grey) has no "
                "absolute dB level, which the threshold method needs; give calibrated backscatter "
                "(sigma0 or gamma0) in dB or linear power as floating point, or use the model method")
        if values.size == 0:
            raise ValueError(f"band {band} has no valid pixels (all nodata)")
        if raster_io.looks_like_power(values, True):
            units.append("power")
            continue
        median = float(np.median(values))
        if not -45.0 <= median <= 10.0:
            raise ValueError(
                f"band {band} does not look like backscatter in dB (median {median:g}; expected about "
                "-30 to 0) nor like linear power (all >= 0, 99th percentile <= 10): the threshold "
                "method needs calibrated sigma0/gamma0")
        units.append("db")
    return units


def _to_db(values, valid, units):
    """dB in place per band (power converted); zero or negative power is invalid."""
    for k, unit in enumerate(units):
        if unit == "power":
            valid &= values[k] > 0
            values[k] = raster_io.to_db(values[k])
    return values, valid


# ---------------------------------------------------------------- speckle filter

def smooth_db(db, valid, size):
    """Boxcar mean in linear power over ``size`` x ``size`` valid pixels, back in dB.

    Only valid pixels enter the mean (normalised convolution), so nodata
    never bleeds in and a pixel's value depends only on its neighbourhood.
    """
    if size <= 1:
        return db
    from scipy import ndimage

    w = valid.astype(np.float32)
    lin = np.where(valid, np.power(np.float32(10.0), db / np.float32(10.0)), np.float32(0.0))
    num = ndimage.uniform_filter(lin, size, mode="constant")
    den = ndimage.uniform_filter(w, size, mode="constant")
    out = np.full(db.shape, np.nan, np.float32)
    ok = valid & (den > 0)
    out[ok] = 10.0 * np.log10(np.maximum(num[ok] / den[ok], raster_io.DB_FLOOR))
    return out


# ---------------------------------------------------------------- thresholds

def _histogram(values, bin_db=BIN_DB):
    """Smoothed, normalised histogram (HyP3 smooths with [1 2 3 2 1]) over the 0.1-99.9 % range."""
    lo, hi = np.percentile(values, [0.1, 99.9])
    lo, hi = math.floor(lo / bin_db) * bin_db, math.ceil(hi / bin_db) * bin_db + bin_db
    edges = np.arange(lo, hi + bin_db / 2, bin_db)
    if edges.size < 4:
        return None, None
    h, _ = np.histogram(values, edges)
    h = np.convolve(h.astype(np.float64), [1, 2, 3, 2, 1], "same")
    if h.sum() <= 0:
        return None, None
    return h / h.sum(), (edges[:-1] + edges[1:]) / 2


def otsu_threshold(values, bin_db=BIN_DB):
    """Otsu's threshold of dB values (the global baseline, and EM's starting split)."""
    p, c = _histogram(values, bin_db)
    if p is None:
        return None
    w0 = np.cumsum(p)
    mu = np.cumsum(p * c)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1 - w0))
    between[~np.isfinite(between)] = -1
    return float(c[int(np.argmax(between))] + bin_db / 2)


def ki_threshold(values, bin_db=BIN_DB, min_fraction=MIN_MODE_FRACTION):
    """Kittler-Illingworth minimum-error threshold of dB values (None when undefined)."""
    p, c = _histogram(values, bin_db)
    if p is None:
        return None
    p1 = np.cumsum(p)
    s1, q1 = np.cumsum(p * c), np.cumsum(p * c * c)
    p2, s2, q2 = 1 - p1, s1[-1] - s1, q1[-1] - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m2 = s1 / p1, s2 / p2
        v1, v2 = q1 / p1 - m1 ** 2, q2 / p2 - m2 ** 2
        j = 1 + p1 * np.log(v1) + p2 * np.log(v2) - 2 * (p1 * np.log(p1) + p2 * np.log(p2))
    ok = (p1 >= min_fraction) & (p2 >= min_fraction) & (v1 > bin_db ** 2) & (v2 > bin_db ** 2)
    if not ok.any():
        return None
    j[~ok] = np.inf
    return float(c[int(np.argmin(j))] + bin_db / 2)


def em_fit(values, bin_db=BIN_DB, iterations=500):
    """Two-Gaussian mixture of dB values by EM on the histogram: (weights, means, sds), dark first.

    Started from Otsu's split. None when the values have no spread.
    """
    p, c = _histogram(values, bin_db)
    t = otsu_threshold(values, bin_db)
    if p is None or t is None:
        return None
    lo = c < t
    if not lo.any() or lo.all():
        return None
    w = np.array([p[lo].sum(), p[~lo].sum()])
    m = np.array([(p[lo] * c[lo]).sum() / w[0], (p[~lo] * c[~lo]).sum() / w[1]])
    s = np.sqrt(np.array([(p[lo] * (c[lo] - m[0]) ** 2).sum() / w[0],
                          (p[~lo] * (c[~lo] - m[1]) ** 2).sum() / w[1]]) + bin_db ** 2)
    prev = -np.inf
    for _ in range(iterations):
        z = (c[None] - m[:, None]) / s[:, None]
        g = w[:, None] / (np.sqrt(2 * np.pi) * s[:, None]) * np.exp(-0.5 * z ** 2)
        total = g.sum(axis=0) + 1e-300
        ll = float(np.sum(p * np.log(total)))
        r = g / total * p[None]
        w = r.sum(axis=1)
        if (w < 1e-6).any():
            return None
        m = (r * c).sum(axis=1) / w
        s = np.sqrt((r * (c[None] - m[:, None]) ** 2).sum(axis=1) / w + bin_db ** 2 / 12)
        if ll - prev < 1e-9:
            break
        prev = ll
    order = np.argsort(m)
    return w[order], m[order], s[order]


def gaussian_crossing(w, m, s):
    """Where w0 N(m0, s0) = w1 N(m1, s1) between the two means (the minimum-error threshold)."""
    a = 1 / (2 * s[0] ** 2) - 1 / (2 * s[1] ** 2)
    b = m[1] / s[1] ** 2 - m[0] / s[0] ** 2
    c = m[0] ** 2 / (2 * s[0] ** 2) - m[1] ** 2 / (2 * s[1] ** 2) - math.log((w[0] * s[1]) / (w[1] * s[0]))
    if abs(a) < 1e-12:
        roots = [-c / b] if abs(b) > 1e-12 else []
    else:
        d = b * b - 4 * a * c
        if d < 0:
            return None
        roots = [(-b + math.sqrt(d)) / (2 * a), (-b - math.sqrt(d)) / (2 * a)]
    inside = [r for r in roots if m[0] <= r <= m[1]]
    return float(inside[0]) if inside else None


def ashman_d(m, s):
    return float(math.sqrt(2) * abs(m[1] - m[0]) / math.sqrt(s[0] ** 2 + s[1] ** 2))


def tile_threshold(values, kind, min_ashman_d=MIN_ASHMAN_D, min_mode_fraction=MIN_MODE_FRACTION,
                   water_mode_max_db=None, land_mode_min_db=None):
    """Test one tile's dB values for a water/land bimodality; returns a dict (``ok`` says if it passed)."""
    values = np.asarray(values, np.float64)
    info = dict(ok=False, reason="")
    if values.size < 100:
        info["reason"] = "too few valid pixels"
        return info
    fit = em_fit(values)
    if fit is None:
        info["reason"] = "no spread"
        return info
    w, m, s = fit
    d = ashman_d(m, s)
    t = gaussian_crossing(w, m, s)
    bound = WATER_MODE_MAX_DB[kind] if water_mode_max_db is None else water_mode_max_db
    land = LAND_MODE_MIN_DB[kind] if land_mode_min_db is None else land_mode_min_db
    info.update(weights=[float(x) for x in w], means=[float(x) for x in m], sds=[float(x) for x in s],
                ashman_d=d, threshold=t)
    if d < min_ashman_d:
        info["reason"] = f"not bimodal (Ashman's D {d:.2f} < {min_ashman_d:g})"
    elif w.min() < min_mode_fraction:
        info["reason"] = f"one mode is only {100 * w.min():.0f} % of the tile"
    elif t is None:
        info["reason"] = "the fitted Gaussians do not cross between their means"
    elif m[0] > bound:
        info["reason"] = f"the dark mode ({m[0]:.1f} dB) is brighter than water ({bound:g} dB)"
    elif m[1] < land:
        info["reason"] = f"the bright mode ({m[1]:.1f} dB) is darker than land ({land:g} dB)"
    else:
        info["ok"] = True
    return info


# ---------------------------------------------------------------- fuzzy memberships

def zmf(x, a, b):
    """Z-shaped membership (as scikit-fuzzy's ``zmf``): 1 below ``a``, 0 above ``b``."""
    x = np.asarray(x, np.float32)
    out = np.ones(x.shape, np.float32)
    if b <= a:
        out[x >= a] = 0.0
        return out
    mid = (a + b) / 2.0
    r1 = (x > a) & (x <= mid)
    r2 = (x > mid) & (x < b)
    out[r1] = 1.0 - 2.0 * ((x[r1] - a) / (b - a)) ** 2
    out[r2] = 2.0 * ((x[r2] - b) / (b - a)) ** 2
    out[x >= b] = 0.0
    return out


def hand_membership_limits(hand_values, mask_percentile=90.0, std_range=3.0):
    """HyP3's HAND limits: median (and median + 3 std + 5 m) of non-zero HAND below its 90th percentile."""
    v = np.asarray(hand_values, np.float64)
    v = v[np.isfinite(v) & (v != 0)]
    if v.size == 0:
        return 0.0, 5.0
    v = v[v <= np.percentile(v, mask_percentile)]
    lower = float(np.median(v))
    return lower, float(lower + std_range * v.std() + 5.0)


def _segments(mask, interior_edges):
    """(labels, sizes) of 8-connected segments; segments touching an interior window edge get size inf."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1).astype(np.float64)
    top, bottom, left, right = interior_edges
    edge = []
    if top:
        edge.append(labels[0])
    if bottom:
        edge.append(labels[-1])
    if left:
        edge.append(labels[:, 0])
    if right:
        edge.append(labels[:, -1])
    if edge:
        sizes[np.unique(np.concatenate(edge))] = np.inf
    sizes[0] = 0
    return labels, sizes


def segment_membership(mask, interior_edges, ramp_px):
    """HyP3's segment-area membership: 0 below ``ramp_px[0]`` px, Z ramp to 1 at ``ramp_px[1]``."""
    labels, sizes = _segments(mask, interior_edges)
    lo, hi = ramp_px
    member = 1.0 - zmf(np.minimum(sizes, 1e9).astype(np.float32), lo, hi)
    member[sizes < lo] = 0.0
    member[0] = 0.0
    return member[labels]


def remove_small(mask, interior_edges, min_px):
    if min_px <= 1:
        return mask
    labels, sizes = _segments(mask, interior_edges)
    return mask & (sizes >= min_px)[labels]


def slope_degrees(hand, pixel_m):
    """Slope of the HAND surface in degrees (central differences)."""
    gy, gx = np.gradient(np.nan_to_num(hand.astype(np.float32)), pixel_m)
    return np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)


# ---------------------------------------------------------------- scene statistics

def _pixel_m(src, log=None):
    if src.crs is None:
        if log is not None:
            log("the input has no CRS: its pixels are taken to be 10 m")
        return 10.0
    try:
        factor = src.crs.linear_units_factor[1]
    except Exception:  # noqa: BLE001 (a CRS rasterio cannot describe)
        factor = 1.0
    return raster_io.pixel_size(src.transform) * factor


def _tile_stats(src, bands, units, tile, hand_vrt, progress, is_canceled):
    """Per-tile (row, col, valid fraction, quarter-mean spread per band, HAND-low fraction) in one pass."""
    rows = []
    n_rows = math.ceil(src.height / tile)
    half = tile // 2
    for i, r0 in enumerate(range(0, src.height, tile)):
        check_cancel(is_canceled)
        h = min(tile, src.height - r0)
        win = Window(0, r0, src.width, h)
        values, valid = raster_io.read_window(src, bands, win)
        values, valid = _to_db(values, valid, units)
        ntx = math.ceil(src.width / tile)
        pad = ntx * tile - src.width
        if pad:
            values = np.pad(values, ((0, 0), (0, 0), (0, pad)))
            valid = np.pad(valid, ((0, 0), (0, pad)))
        hand_low = None
        if hand_vrt is not None:
            hv, hok = hand_vrt.read(win)
            low = hok & (hv < HAND_MAX_M)
            if pad:
                low = np.pad(low, ((0, 0), (0, pad)))
            hand_low = low.reshape(h, ntx, tile).sum(axis=(0, 2)) / float(tile * tile)
        count = valid.reshape(h, ntx, tile).sum(axis=(0, 2))
        spreads = []
        for k in range(len(bands)):
            x = np.where(valid, values[k], 0.0)
            q_means = []
            for rs in (slice(0, min(half, h)), slice(min(half, h), h)):
                sub, vs = x[rs], valid[rs]
                for cs in (slice(0, half), slice(half, tile)):
                    sx = sub.reshape(sub.shape[0], ntx, tile)[:, :, cs].sum(axis=(0, 2))
                    sv = vs.reshape(vs.shape[0], ntx, tile)[:, :, cs].sum(axis=(0, 2))
                    q_means.append(np.where(sv > 0, sx / np.maximum(sv, 1), np.nan))
            q = np.stack(q_means)  # (4, ntx)
            with warnings.catch_warnings():  # tiles without valid pixels: NaN, quietly
                warnings.simplefilter("ignore", RuntimeWarning)
                spreads.append(np.nanstd(q, axis=0))
        for j in range(ntx):
            rows.append(dict(row=r0, col=j * tile, valid=float(count[j]) / (tile * tile),
                             spread=[float(sp[j]) for sp in spreads],
                             hand_low=None if hand_low is None else float(hand_low[j])))
        if progress is not None:
            progress((i + 1) / n_rows)
    return rows


def _read_tile(src, bands, units, tile_info, tile, smooth_px):
    """Full-resolution dB values of one tile after the speckle filter (valid pixels only, per band)."""
    r = smooth_px // 2
    core = Window(tile_info["col"], tile_info["row"], min(tile, src.width - tile_info["col"]),
                  min(tile, src.height - tile_info["row"]))
    c0, r0 = max(0, core.col_off - r), max(0, core.row_off - r)
    c1, r1 = min(src.width, core.col_off + core.width + r), min(src.height, core.row_off + core.height + r)
    padded = Window(c0, r0, c1 - c0, r1 - r0)
    values, valid = raster_io.read_window(src, bands, padded)
    values, valid = _to_db(values, valid, units)
    out = []
    for k in range(len(bands)):
        x = smooth_db(values[k], valid, smooth_px)
        x = raster_io.crop_to_core(x, core, padded)
        ok = raster_io.crop_to_core(valid, core, padded)
        out.append(x[ok & np.isfinite(x)])
    return out


def select_thresholds(src, pols, bands, units, tile_px=TILE_PX, smooth_px=3, hand_vrt=None,
                      n_tiles=N_TILES, max_candidates=MAX_CANDIDATES, min_ashman_d=MIN_ASHMAN_D,
                      min_mode_fraction=MIN_MODE_FRACTION, water_mode_max_db=None,
                      max_threshold_db=None, floor_db=None, min_tiles=MIN_TILES,
                      progress=None, is_canceled=None, log=None):
    """Scene threshold per polarisation: {pol: {"threshold", "source", "water_mode", "tiles", ...}}.

    ``source``: "tiles" (at least ``min_tiles`` water/land tiles), else "floor"
    (the absolute floor ``FLOOR_DB`` is the threshold) or "none" (no floor for
    this kind: threshold None, the polarisation maps no water).
    """
    water_mode_max_db = dict(WATER_MODE_MAX_DB, **(water_mode_max_db or {}))
    max_threshold_db = dict(MAX_THRESHOLD_DB, **(max_threshold_db or {}))
    floor_db = dict(FLOOR_DB, **(floor_db or {}))
    tile = int(tile_px)
    tile = max(16, min(tile, src.width, src.height))
    tile -= tile % 2
    stats = _tile_stats(src, bands, units, tile, hand_vrt,
                        None if progress is None else (lambda f: progress(0.8 * f)), is_canceled)
    eligible = [t for t in stats if t["valid"] >= MIN_TILE_VALID
                and (t["hand_low"] is None or t["hand_low"] >= HAND_FRACTION)]
    result = {}
    cache = {}
    for k, pol in enumerate(pols):
        kind = POL_KIND[pol]
        ranked = sorted((t for t in eligible if np.isfinite(t["spread"][k])),
                        key=lambda t: -t["spread"][k])[:max_candidates]
        passed, tried = [], 0
        for t in ranked:
            check_cancel(is_canceled)
            key = (t["row"], t["col"])
            if key not in cache:
                cache[key] = _read_tile(src, bands, units, t, tile, smooth_px)
            tried += 1
            info = tile_threshold(cache[key][k], kind, min_ashman_d, min_mode_fraction,
                                  water_mode_max_db[kind])
            if info["ok"]:
                info.update(row=t["row"], col=t["col"])
                passed.append(info)
                if len(passed) >= n_tiles:
                    break
        entry = dict(kind=kind, tile_px=tile, tiles_eligible=len(eligible), tiles_tried=tried,
                     tiles=[{k2: p[k2] for k2 in ("row", "col", "threshold", "means", "sds", "weights",
                                                  "ashman_d")} for p in passed])
        if len(passed) >= min_tiles:
            ts = np.sort([p["threshold"] for p in passed])
            t_scene = float(np.median(ts[:4]))
            entry["fitted"] = t_scene
            entry["threshold"] = min(t_scene, max_threshold_db[kind])
            entry["capped"] = t_scene > max_threshold_db[kind]
            entry["water_mode"] = float(np.median([p["means"][0] for p in passed]))
            entry["source"] = "tiles"
            if log is not None:
                capped = f" (fitted {t_scene:.2f}, capped)" if entry["capped"] else ""
                log(f"{pol}: {len(passed)} water/land tile(s) of {tried} tried; threshold "
                    f"{entry['threshold']:.2f} dB{capped}")
        else:
            floor = floor_db.get(kind)
            entry["source"] = "none" if floor is None else "floor"
            entry["threshold"] = floor
            if floor is not None:
                entry["water_mode"] = floor - 4.0
            if log is not None:
                what = ("no water" if floor is None
                        else f"only {pol} < {floor:g} dB (smooth open water) is water")
                log(f"{pol}: no water/land tile among {tried} tried: {what}")
        result[pol] = entry
        if progress is not None:
            progress(0.8 + 0.2 * (k + 1) / len(pols))
    return result


# ---------------------------------------------------------------- classification

def _halo(min_px, smooth_px, ramp_px, hand):
    """Pixels of context each side of a window so that every core pixel is classified exactly.

    A pixel's initial class depends on the speckle window (radius r) and, with
    HAND, on the slope's 1-pixel neighbourhood; a per-polarisation segment
    membership is wrong at most for segments of < ramp_px[1] px that touch the
    padded edge, i.e. within ramp_px[1] + r (+1) px of it. A final segment
    reaching the core and that zone spans >= halo - that width pixels of
    correctly classified water, so with halo >= min_px + that width it is as
    large as the minimum mapping unit in truth and in the window alike.
    """
    r = smooth_px // 2
    zone = int(ramp_px[1]) + r + 2 + (1 if hand else 0)
    return int(min_px) + zone + 1


def _classify_window(values, valid, hand, pols, entries, smooth_px, ramp_px, min_px, pixel_m,
                     interior, hand_limits, membership_threshold):
    """(mask bool, likelihood float32) of a padded window."""
    water = np.zeros(valid.shape, bool)
    like = np.zeros(valid.shape, np.float32)
    hand_member = slope_member = None
    if hand is not None:
        from scipy import ndimage

        hv, hok = hand
        hand_member = np.where(hok, zmf(hv, *hand_limits), np.nan).astype(np.float32)
        # the slope needs both neighbours: none next to HAND nodata
        inner = ndimage.binary_erosion(hok, np.ones((3, 3), bool), border_value=1)
        slope_member = np.where(inner, zmf(slope_degrees(hv, pixel_m), 0.0, SLOPE_MAX_DEG), np.nan)
    for k, pol in enumerate(pols):
        e = entries[pol]
        t = e.get("threshold")
        if t is None:
            continue
        x = smooth_db(values[k], valid, smooth_px)
        lower = min(e["water_mode"], t - 0.5)
        scale = max((t - lower) / 2.0, 0.25)
        with np.errstate(over="ignore", invalid="ignore"):
            p = 1.0 / (1.0 + np.exp((x - t) / scale))
        p = np.where(valid & np.isfinite(x), p, 0.0).astype(np.float32)
        like = np.maximum(like, p)
        initial = valid & np.isfinite(x) & (x < t)
        members = [zmf(x, lower, t), segment_membership(initial, interior, ramp_px)]
        if hand_member is not None:
            members += [hand_member, slope_member]
        stack = np.stack(members)
        have = np.isfinite(stack)
        nonzero = np.where(have, stack > 0, True).all(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.nansum(stack, axis=0) / np.maximum(have.sum(axis=0), 1)
        water |= initial & nonzero & (mean >= membership_threshold)
    water = remove_small(water, interior, min_px)
    water &= valid
    like = np.where(water, np.maximum(like, 0.5), np.minimum(like, np.float32(0.499)))
    return water, like


# ---------------------------------------------------------------- public API

def auto_method(src_path, bands=None):
    """("threshold" or "model", reason): the method detect_water's METHOD=auto should run.

    Calibrated backscatter (floating-point dB or linear power) goes to the
    threshold method, anything else (8-bit renderings, unknown units) to the
    model, by measurement (tools/measure_water.py): on the dB scenes of
    water-s1-db the threshold method scores IoU 0.87 / 0.69 against the model's
    0.81 / 0.19 and keeps dry land at 0-1 % water (model 2-46 %); on 8-bit ETCI
    blocks, where no threshold method applies, the model scores 0.24-0.80 against
    0.11-0.79 for an Otsu threshold on the grey values.
    """
    with rasterio.open(src_path) as src:
        try:
            mapping = resolve_sar_bands(src.descriptions, src.count, bands)
            sar_units(src, list(mapping.values()))
        except ValueError as exc:
            return "model", f"the threshold method does not apply: {exc}"
    return "threshold", ("calibrated backscatter (" + ", ".join(mapping) + "): the physically based "
                         "threshold method (no training) is used")


def threshold_water(src_path, mask_path, prob_path=None, bands=None, hand_path=None,
                    min_area_px=None, tile_px=TILE_PX, smooth_px=None, block=WINDOW,
                    membership_threshold=MEMBERSHIP_THRESHOLD, max_threshold_db=None,
                    water_mode_max_db=None, floor_db=None, min_tiles=MIN_TILES, use_stack_hand=True,
                    progress=None, is_canceled=None, log=None):
    """Map surface water in the SAR raster at ``src_path`` by thresholds (no model).

    Writes ``mask_path`` (uint8: 1 water, 0 not water, 255 nodata) and, when
    given, ``prob_path`` (float32 water likelihood 0..1, -1 nodata), on the
    input's grid (a geographic input is processed on its UTM zone and written
    back, see ``warp.on_metric_grid``). ``bands``: {"VV": 1, "VH": 2} or
    "VV=1,VH=2" (default: from the band descriptions). ``hand_path``: optional
    HAND raster (any grid; warped onto the SAR grid, bilinear) for tile selection
    and refinement; without it, a band of the input described "HAND" (a water
    stack's) is used unless ``use_stack_hand`` is False. ``min_area_px``: minimum mapping unit in pixels (default
    2700 m2). ``smooth_px``: speckle window (default about 30 m, odd).
    ``max_threshold_db`` / ``water_mode_max_db`` / ``floor_db``: override the
    constants per kind, e.g. {"cross": -23.0}.

    Returns a dict: method, bands, units, thresholds {pol: {...}}, water_pixels,
    valid_pixels, water_fraction, min_area_px, smooth_px, pixel_size_m, seconds,
    warped (None or the UTM grid used).
    """
    if not mask_path:
        raise ValueError("give the water mask output path")
    opts = dict(bands=bands, hand_path=hand_path, min_area_px=min_area_px, tile_px=tile_px,
                smooth_px=smooth_px, block=block, membership_threshold=membership_threshold,
                max_threshold_db=max_threshold_db, water_mode_max_db=water_mode_max_db,
                floor_db=floor_db, min_tiles=min_tiles, use_stack_hand=use_stack_hand, is_canceled=is_canceled, log=log)

    def run(path, paths, prog):
        return _threshold_projected(path, paths["mask"], paths.get("prob"), progress=prog, **opts)

    with rasterio.open(src_path) as src:
        input_bands = list(resolve_sar_bands(src.descriptions, src.count, bands).values())
    result = warp.on_metric_grid(
        src_path, {"mask": (mask_path, "nearest", 1), "prob": (prob_path, "nearest", None)},
        run, input_bands=input_bands, progress=progress, is_canceled=is_canceled, log=log)
    if result["warped"] is not None:
        valid, water = result["warped"]["counts"]["mask"]
        result.update(water_pixels=water, valid_pixels=valid,
                      water_fraction=water / valid if valid else 0.0)
    return result


class _Hand:
    """A HAND band warped onto the SAR grid (bilinear), read window by window in metres."""

    def __init__(self, path, band, grid):
        self.src = rasterio.open(path)
        try:
            if self.src.crs is None:
                raise ValueError("the HAND raster has no coordinate reference system")
            if not 1 <= band <= self.src.count:
                raise ValueError(f"the HAND raster has {self.src.count} band(s); band {band} does not exist")
            if grid.crs is not None and not raster_io.overlaps(self.src, grid.crs, tuple(grid.bounds)):
                raise ValueError("the HAND raster does not overlap the SAR raster")
            self.vrt = WarpedVRT(self.src, crs=grid.crs, transform=grid.transform, width=grid.width,
                                 height=grid.height, resampling=Resampling.bilinear,
                                 src_nodata=self.src.nodata, nodata=np.nan, dtype="float32")
        except Exception:
            self.src.close()
            raise
        self.band = band

    def read(self, window):
        values, valid = raster_io.read_window(self.vrt, [self.band], window)
        return values[0], valid

    def sample(self):
        return raster_io.decimated_samples(self.vrt, [self.band], max_pixels=1_000_000)[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.vrt.close()
        self.src.close()
        return False


def _threshold_projected(src_path, mask_path, prob_path, bands, hand_path, min_area_px, tile_px,
                         smooth_px, block, membership_threshold, max_threshold_db, water_mode_max_db,
                         floor_db, min_tiles, use_stack_hand, progress, is_canceled, log):
    t0 = time.perf_counter()

    def part(lo, hi):
        return None if progress is None else (lambda f: progress(lo + (hi - lo) * f))

    with rasterio.Env(GDAL_CACHEMAX=256 * 1024 * 1024), rasterio.open(src_path) as src, \
            contextlib.ExitStack() as stack:
        if src.crs is not None and src.crs.is_geographic:
            raise ValueError("internal: a geographic raster must go through warp.on_metric_grid")
        mapping = resolve_sar_bands(src.descriptions, src.count, bands)
        pols, band_list = list(mapping), list(mapping.values())
        units = sar_units(src, band_list)
        if log is not None:
            log("Bands: " + ", ".join(f"{p}=band {b} ({u})" for (p, b), u in zip(mapping.items(), units)))
        pixel_m = _pixel_m(src, log)
        if smooth_px is None:
            smooth_px = max(1, int(round(SMOOTH_M / pixel_m)))
        smooth_px = int(smooth_px)
        if smooth_px % 2 == 0:
            smooth_px += 1
        area = pixel_m * pixel_m
        ramp_px = (SEGMENT_RAMP_M2[0] / area, SEGMENT_RAMP_M2[1] / area)
        ramp_px = (max(1.0, ramp_px[0]), max(2.0, ramp_px[1]))
        if min_area_px is None:
            min_area_px = max(1, int(round(MIN_AREA_M2 / area)))
        min_area_px = int(min_area_px)
        if not 1 <= min_area_px <= MAX_MIN_AREA_PX:
            raise ValueError(f"the minimum mapping unit must be 1 to {MAX_MIN_AREA_PX} pixels "
                             f"(got {min_area_px}); remove larger areas from the polygons instead")
        hand_vrt = hand_limits = None
        hand_band = 1
        if not hand_path and use_stack_hand:
            names = [(d or "").strip().upper() for d in src.descriptions]
            if "HAND" in names:
                hand_path, hand_band = src_path, names.index("HAND") + 1
                if log is not None:
                    log(f"HAND: band {hand_band} of the input")
        if hand_path:
            hand_vrt = stack.enter_context(_Hand(hand_path, hand_band, src))
            sample = hand_vrt.sample()
            if sample.size == 0:
                raise ValueError("the HAND raster holds no valid value over the SAR raster")
            hand_limits = hand_membership_limits(sample)
            if log is not None:
                log(f"HAND membership from {hand_limits[0]:.1f} m to {hand_limits[1]:.1f} m")
        entries = select_thresholds(
            src, pols, band_list, units, tile_px=tile_px, smooth_px=smooth_px, hand_vrt=hand_vrt,
            water_mode_max_db=water_mode_max_db, max_threshold_db=max_threshold_db, floor_db=floor_db,
            min_tiles=min_tiles, progress=part(0.0, 0.3), is_canceled=is_canceled, log=log)

        halo = _halo(min_area_px, smooth_px, ramp_px, hand_vrt is not None)
        size = max(64, int(block))
        mask_dst = stack.enter_context(raster_io.open_output(
            mask_path, raster_io.output_profile(src, 1, "uint8", nodata=NODATA_MASK), ["water"]))
        prob_dst = None
        if prob_path:
            prob_dst = stack.enter_context(raster_io.open_output(
                prob_path, raster_io.output_profile(src, 1, "float32", nodata=NODATA_LIKELIHOOD, predictor=3),
                ["water likelihood"]))
        total = raster_io.count_windows(src.width, src.height, size)
        n_water = n_valid = 0
        for i, (core, padded) in enumerate(raster_io.windows(src.width, src.height, size, halo)):
            check_cancel(is_canceled)
            values, valid = raster_io.read_window(src, band_list, padded)
            values, valid = _to_db(values, valid, units)
            hand = None
            if hand_vrt is not None:
                hand = hand_vrt.read(padded)
            interior = (padded.row_off > 0, padded.row_off + padded.height < src.height,
                        padded.col_off > 0, padded.col_off + padded.width < src.width)
            water, like = _classify_window(values, valid, hand, pols, entries, smooth_px, ramp_px,
                                           min_area_px, pixel_m, interior, hand_limits,
                                           membership_threshold)
            water = raster_io.crop_to_core(water, core, padded)
            ok = raster_io.crop_to_core(valid, core, padded)
            n_water += int(np.count_nonzero(water))
            n_valid += int(np.count_nonzero(ok))
            mask_dst.write(np.where(ok, water.astype(np.uint8), np.uint8(NODATA_MASK)), 1, window=core)
            if prob_dst is not None:
                like = raster_io.crop_to_core(like, core, padded)
                prob_dst.write(np.where(ok, like, np.float32(NODATA_LIKELIHOOD)).astype(np.float32), 1,
                               window=core)
            if progress is not None:
                progress(0.3 + 0.7 * (i + 1) / total)
        if n_valid == 0:
            raise ValueError("the input raster has no valid pixels (every pixel is nodata)")
    result = dict(method="threshold", bands=mapping, units=dict(zip(pols, units)), thresholds=entries,
                  water_pixels=n_water, valid_pixels=n_valid, water_fraction=n_water / n_valid,
                  min_area_px=min_area_px, smooth_px=smooth_px, pixel_size_m=pixel_m,
                  hand=bool(hand_path), hand_band=hand_band if hand_path else None, seconds=time.perf_counter() - t0)
    if log is not None:
        log(f"{n_water} water pixels of {n_valid} ({100 * n_water / n_valid:.2f} %) in "
            f"{result['seconds']:.1f} s")
    return result
