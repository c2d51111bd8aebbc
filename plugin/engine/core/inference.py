"""Tiled, windowed ONNX inference over whole scenes in bounded memory.

The scene is processed in horizontal strips of tiles (``tiling.spans``):
each strip is read with one rasterio window, normalised with scene-wide
statistics, cut into tiles (tiles that are entirely nodata are skipped),
run through the model ``batch_size`` tiles per onnxruntime call, blended
into a strip buffer with smooth weights (``tiling.StripBlender``), and the
rows no later strip can touch are written out. Memory is a few strips of
the scene width, independent of its height.

Outputs (GeoTIFF, tiled, deflate, input CRS and transform, atomic):
- probability: float32, one band per model output (band descriptions = the
  output names), ``NODATA_PROB`` (-1) where the input is nodata;
- class: uint8, 1 where the first output >= threshold, 0 else,
  ``NODATA_CLASS`` (255) where the input is nodata.

``predict_array`` runs the same code on an in-memory array.
"""

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.windows import Window

from . import normalize, raster_io, tiling
from .cancel import check_cancel

NODATA_PROB = -1.0
NODATA_CLASS = 255
GDAL_CACHE_BYTES = 256 * 1024 * 1024
STATS_SHARE = 0.05  # of the progress bar: the scene statistics before the first tile


# ---------------------------------------------------------------- band mapping

def parse_band_map(text, channels):
    """Parse "VV=1,VH=2" or "1,2" into 1-based band indexes in channel order.

    Empty text returns None (map automatically).
    """
    text = (text or "").strip()
    if not text:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if all("=" in t for t in items):
        by_name = {}
        for item in items:
            name, _, band = item.partition("=")
            by_name[name.strip().lower()] = _band_number(band, text)
        missing = [c for c in channels if c.lower() not in by_name]
        unknown = [n for n in by_name if n not in {c.lower() for c in channels}]
        if missing or unknown:
            raise ValueError(
                f"the band mapping {text!r} must name each model channel "
                f"({', '.join(channels)}) exactly once"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        return [by_name[c.lower()] for c in channels]
    if any("=" in t for t in items):
        raise ValueError(f"the band mapping {text!r} mixes 'NAME=band' and plain band numbers")
    bands = [_band_number(t, text) for t in items]
    if len(bands) != len(channels):
        raise ValueError(
            f"the band mapping {text!r} lists {len(bands)} bands but the model expects "
            f"{len(channels)} ({', '.join(channels)})"
        )
    return bands


def _band_number(value, text):
    try:
        band = int(value.strip())
    except ValueError:
        raise ValueError(f"the band mapping {text!r} has {value.strip()!r}, which is not a band number") from None
    if band < 1:
        raise ValueError(f"band numbers start at 1 (band mapping {text!r})")
    return band


def resolve_bands(channels, count, descriptions=None, band_map=None):
    """1-based input bands feeding the model's channels, in channel order."""
    n = len(channels)
    names = ", ".join(channels)
    if band_map is not None:
        band_map = [int(b) for b in band_map]
        if len(band_map) != n:
            raise ValueError(
                f"the band mapping lists {len(band_map)} bands but the model expects {n} bands ({names})"
            )
        bad = [b for b in band_map if not 1 <= b <= count]
        if bad:
            raise ValueError(
                f"band {bad[0]} does not exist: the input has {count} band{'s' if count != 1 else ''}"
            )
        return band_map
    descs = [(d or "").strip().lower() for d in (descriptions or [])]
    if descs and all(c.lower() in descs for c in channels):
        return [descs.index(c.lower()) + 1 for c in channels]
    if count == n:
        return list(range(1, n + 1))
    raise ValueError(
        f"the model expects {n} band{'s' if n != 1 else ''} ({names}) but the input has {count}; "
        "name the bands after the channels or give a band mapping such as "
        + ",".join(f"{c}={i + 1}" for i, c in enumerate(channels))
    )


# ---------------------------------------------------------------- pixel size

def check_pixel_size(crs, transform, meta):
    """Warning text when the pixel size is far from the model's, else None.

    Raises ValueError for a geographic CRS (degrees), which the model cannot
    interpret. A model with ``pixel_size_m`` <= 0 declares no pixel size.
    """
    wanted = float(meta.get("pixel_size_m") or 0)
    if wanted <= 0:
        return None
    if crs is None:
        return (f"the input has no coordinate reference system, so its pixel size cannot be "
                f"checked against the model's {wanted:g} m")
    if crs.is_geographic:
        raise ValueError(
            f"the input is in a geographic CRS ({crs.to_string()}, degrees) but the model was "
            f"trained at {wanted:g} m pixels: reproject it to a projected CRS in metres "
            "(e.g. its UTM zone) with Raster > Projections > Warp first"
        )
    try:
        factor = crs.linear_units_factor[1]
    except Exception:  # a CRS rasterio cannot describe
        return f"the input CRS has no known linear unit; pixel size not checked against {wanted:g} m"
    size = raster_io.pixel_size(transform) * factor
    ratio = size / wanted
    if ratio > 2 or ratio < 0.5:
        return (f"the input pixel size ({size:g} m) differs more than 2x from the "
                f"{wanted:g} m the model was trained at; results may be poor "
                "(resample the input to about the model's pixel size)")
    return None


# ---------------------------------------------------------------- core loop

def tile_params(model, tile_size=None, overlap=None):
    tile = int(tile_size) if tile_size else model.tile_size
    ovl = model.overlap if overlap is None else int(overlap)
    if not 0 <= ovl < tile:
        raise ValueError(f"overlap ({ovl}) must be at least 0 and smaller than the tile size ({tile})")
    return tile, ovl


def _prepare(read_strip, r0, h, norms, stats):
    """Read one strip and normalise it (runs in the reader thread)."""
    raw, valid = read_strip(r0, r0 + h)
    x = normalize.apply(raw, valid, norms, stats)
    del raw
    return x, valid


def _padding_sides(short_rows, short_cols, both):
    """The (rows before, columns before) flags of each padding a tile batch is run with: after the data
    only, or, with ``both``, also before it along every short axis (``Symmetric`` asks for both, so
    that turning a scene, which moves its padding to the other side, does not change the answer)."""
    rows = (False, True) if both and short_rows else (False,)
    cols = (False, True) if both and short_cols else (False,)
    return [(r, c) for r in rows for c in cols]


def _predict_padded(model, batch, height, width, sides, n_out):
    """The model's answer for a (N, C, h, w) batch, reflection-padded to (height, width) with each of
    ``sides`` in turn, cropped back to (h, w) and averaged."""
    h, w = batch.shape[-2:]
    total = None
    for before in sides:
        padded = tiling.pad_to(batch, height, width, before)
        pred = model.predict(padded)
        if pred.shape[1] != n_out or pred.shape[2:] != padded.shape[2:]:
            raise ValueError(
                f"the model returned shape {pred.shape} for input {padded.shape}; "
                f"expected {n_out} outputs at the input size"
            )
        r0 = height - h if before[0] else 0
        c0 = width - w if before[1] else 0
        pred = pred[:, :, r0:r0 + h, c0:c0 + w]
        total = pred if total is None else total + pred
    return total / len(sides)


def _run(model, height, width, read_strip, emit, norms, stats, tile, overlap,
         batch_size, progress, is_canceled):
    """Tile, predict, blend and emit a height x width scene strip by strip.

    ``read_strip(r0, r1)`` -> (raw (C, h, W), valid (h, W)); ``emit(row0, probs,
    valid)`` gets final rows (probs (K, n, W), NaN where not covered).
    Reading + normalising the next strip and writing the finished rows run in
    two helper threads while onnxruntime works on the current strip (numpy,
    GDAL and onnxruntime release the GIL), so I/O hides behind inference; at
    most one strip ahead is read and one behind is being written, so memory
    stays bounded. Progress and cancellation are only called from this thread.
    Returns (tiles run, tiles skipped).
    """
    row_spans, col_spans = tiling.grid(width, height, tile, overlap)
    n_out = len(model.outputs)
    blender = tiling.StripBlender(n_out, width, tile, overlap)
    batch_size = max(1, int(batch_size))
    # Axes shorter than a tile are reflection-padded to a whole tile.
    pad_h = tile if height < tile else None
    pad_w = tile if width < tile else None
    sides = _padding_sides(pad_h is not None, pad_w is not None, getattr(model, "pad_both_sides", False))
    run = skipped = 0
    total = len(row_spans)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="waterline-read")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="waterline-write")
    writing = None
    try:
        def prepare(i):
            r0, h = row_spans[i]
            return reader.submit(_prepare, read_strip, r0, h, norms, stats)

        upcoming = prepare(0)
        for i, (r0, h) in enumerate(row_spans):
            check_cancel(is_canceled)
            x, valid = upcoming.result()
            if i + 1 < total:
                upcoming = prepare(i + 1)
            todo = []
            for c0, w in col_spans:
                if valid[:, c0:c0 + w].any():
                    todo.append((c0, w))
                else:
                    skipped += 1
            # one onnxruntime call per batch of equally sized tiles
            batches = []
            for size in sorted({w for _, w in todo}, reverse=True):
                same = [t for t in todo if t[1] == size]
                batches += [same[b:b + batch_size] for b in range(0, len(same), batch_size)]
            done = 0
            for tiles in batches:
                check_cancel(is_canceled)
                batch = np.stack([x[:, :, c0:c0 + w] for c0, w in tiles])
                preds = _predict_padded(model, batch, pad_h or h, pad_w or tiles[0][1], sides, n_out)
                for (c0, w), pred in zip(tiles, preds):
                    blender.add(r0, c0, pred)
                run += len(tiles)
                done += len(tiles)
                if progress is not None:
                    progress((i + done / len(todo)) / total)
            del x
            next_top = row_spans[i + 1][0] if i + 1 < total else height
            row0, probs = blender.finish_rows(next_top)
            if probs is not None:
                if writing is not None:
                    writing.result()  # rows are written in order; errors surface here
                writing = writer.submit(emit, row0, probs, valid[row0 - r0:next_top - r0])
            if progress is not None:
                progress((i + 1) / total)
        if writing is not None:
            writing.result()
    finally:
        # Never leave a thread touching a dataset that the caller closes or deletes.
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)
    return run, skipped


def _mask(probs, valid):
    covered = valid & np.isfinite(probs).all(axis=0)
    return np.where(covered, probs, np.float32(NODATA_PROB)).astype(np.float32), covered


def _read_strip_raster(src, bands):
    def read(r0, r1):
        window = Window(0, r0, src.width, r1 - r0)
        return raster_io.read_window(src, bands, window)
    return read


# ---------------------------------------------------------------- public API

def predict_raster(model, src_path, prob_path=None, class_path=None, band_map=None,
                   tile_size=None, overlap=None, batch_size=4, threshold=0.5,
                   progress=None, is_canceled=None, log=None, warn=None):
    """Run ``model`` over the raster at ``src_path``; write probability/class GeoTIFFs.

    At least one of ``prob_path`` / ``class_path`` is required. The pixel size
    is checked against the model's (``check_pixel_size``: a geographic CRS is
    refused, a pixel size far off goes to ``warn``, default ``log``). Returns a
    dict with tiles_run, tiles_skipped, provider, seconds, bands, tile_size,
    overlap and positive_pixels (pixels whose first output reaches ``threshold``).
    """
    if not prob_path and not class_path:
        raise ValueError("give at least one output: a probability raster or a class raster")
    t0 = time.perf_counter()
    tile, ovl = tile_params(model, tile_size, overlap)
    norms = model.meta["normalization"]
    # GDAL's block cache (5% of RAM by default) would fill with input blocks that
    # are never read again; a small cache keeps memory bounded and still holds
    # the partly written output blocks of the current strip.
    # GDAL_NUM_THREADS: (de)compress GeoTIFF blocks on all cores.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES, GDAL_NUM_THREADS="ALL_CPUS"), \
            rasterio.open(src_path) as src:
        warning = check_pixel_size(src.crs, src.transform, model.meta)
        if warning and (warn or log) is not None:
            (warn or log)(warning)
        bands = resolve_bands(model.channels, src.count, src.descriptions, band_map)
        if log is not None:
            log("Bands used: " + ", ".join(f"{c}=band {b}" for c, b in zip(model.channels, bands)))
        # the first 5 %: the statistics' read pass (seconds on a large scene), then the tiles
        stats = normalize.scene_stats(src, bands, norms,
                                      progress=(lambda f: progress(STATS_SHARE * f)) if progress else None)
        if log is not None:
            log(f"Normalisation statistics: {stats}")
        positive = 0
        with contextlib.ExitStack() as stack:
            prob_dst = class_dst = None
            if prob_path:
                # floating-point predictor: smaller and quicker to compress than plain deflate
                profile = raster_io.output_profile(src, len(model.outputs), "float32",
                                                   nodata=NODATA_PROB, predictor=3)
                prob_dst = stack.enter_context(raster_io.open_output(prob_path, profile, model.outputs))
            if class_path:
                profile = raster_io.output_profile(src, 1, "uint8", nodata=NODATA_CLASS)
                class_dst = stack.enter_context(
                    raster_io.open_output(class_path, profile, [f"{model.outputs[0]} >= {threshold:g}"]))

            def emit(row0, probs, valid):
                nonlocal positive
                probs, covered = _mask(probs, valid)
                window = Window(0, row0, src.width, probs.shape[1])
                hit = covered & (probs[0] >= threshold)
                positive += int(np.count_nonzero(hit))
                if prob_dst is not None:
                    prob_dst.write(probs, window=window)
                if class_dst is not None:
                    cls = np.where(covered, hit.astype(np.uint8), NODATA_CLASS)
                    class_dst.write(cls.astype(np.uint8), 1, window=window)

            tiles_progress = (lambda f: progress(STATS_SHARE + (1.0 - STATS_SHARE) * f)) if progress else None
            run, skipped = _run(model, src.height, src.width, _read_strip_raster(src, bands), emit,
                                norms, stats, tile, ovl, batch_size, tiles_progress, is_canceled)
            if run == 0:
                raise ValueError("the input raster has no valid pixels (every pixel is nodata)")
    result = dict(tiles_run=run, tiles_skipped=skipped, provider=model.providers_used[0],
                  seconds=time.perf_counter() - t0, bands=bands, tile_size=tile, overlap=ovl,
                  positive_pixels=positive)
    if log is not None:
        log(f"{run} tiles run, {skipped} skipped (nodata) on {result['provider']} "
            f"in {result['seconds']:.1f} s")
    return result


def predict_array(model, array, valid=None, tile_size=None, overlap=None, stats=None,
                  batch_size=4, is_canceled=None):
    """Run ``model`` on an in-memory (C, H, W) array with the same tiling and blending.

    ``valid``: (H, W) bool (default: all finite pixels). ``stats``: normalisation
    statistics (default: computed from this array). Returns (K, H, W) float32
    probabilities, ``NODATA_PROB`` (-1) where invalid.
    """
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[0] != len(model.channels):
        raise ValueError(
            f"the model expects {len(model.channels)} channels ({', '.join(model.channels)}); "
            f"got an array of shape {array.shape}"
        )
    if valid is None:
        valid = np.isfinite(array).all(axis=0) if np.issubdtype(array.dtype, np.floating) \
            else np.ones(array.shape[1:], bool)
    valid = np.asarray(valid, dtype=bool)
    norms = model.meta["normalization"]
    if stats is None:
        stats = normalize.array_stats(array, valid, norms)
    tile, ovl = tile_params(model, tile_size, overlap)
    height, width = array.shape[1:]
    out = np.full((len(model.outputs), height, width), NODATA_PROB, dtype=np.float32)

    def read(r0, r1):
        return array[:, r0:r1], valid[r0:r1]

    def emit(row0, probs, valid_rows):
        out[:, row0:row0 + probs.shape[1]] = _mask(probs, valid_rows)[0]

    _run(model, height, width, read, emit, norms, stats, tile, ovl, batch_size, None, is_canceled)
    return out
