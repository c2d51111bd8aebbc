"""One scene through the calving-front pipeline (Qt-free).

grey or layered scene -> (CALFIN layering, windowed) -> tiled model inference
(``inference.predict_raster``; ``predict_scene``) -> front extraction
(``extraction.extract_fronts``; ``extract_scene``) -> lines in map coordinates,
ice/ocean polygons and a QA image. ``detect_scene`` does both steps for one
scene. For several scenes of one domain on one grid, predict them all first:
``static_edges_of`` finds the static edges (rock walls, coast) from the stack
and ``extract_scene`` takes them into account.

The algorithm ``detect_calving_fronts`` is QGIS glue around these functions.
Extraction needs the whole scene's two probability bands in memory (the
skeleton graph is global); front scenes are subsets of a few thousand pixels,
so this is small (a 5000 x 5000 subset needs 200 MB).
"""

import os
from dataclasses import dataclass, field

import numpy as np
import rasterio
import rasterio.errors
from rasterio import features
from rasterio.warp import Resampling, reproject

from ..core import outputs, raster_io
from ..core.cancel import check_cancel
from .layering import layer_calfin_raster
from .extraction import ice_classes, extract_fronts
from .scene_names import parse_scene_name

QA_FRONT_RGB = (255, 40, 40)
QA_REJECTED_RGB = (255, 200, 0)
QA_ICE_TINT = (60, 140, 255)


@dataclass
class SceneResult:
    info: dict  # scene_names.parse_scene_name: scene, date, sensor
    crs: object
    transform: object
    pixel_size: float
    fronts: list = field(default_factory=list)  # fronts.Front, xy in pixels
    lines: list = field(default_factory=list)  # (N, 2) map coordinates, parallel to ``fronts``
    ice_polygons: list = field(default_factory=list)  # (class 1 ice / 0 ocean, GeoJSON-like geometry)


def read_fjord(fjord_path, like):
    """The fjord mask resampled (nearest) onto the scene grid of dataset ``like``; 1 inside, 0 elsewhere."""
    with rasterio.open(fjord_path) as fj:
        if fj.crs is None and like.crs is not None:
            raise ValueError(f"the fjord mask {os.path.basename(fjord_path)} has no coordinate reference system")
        out = np.zeros((like.height, like.width), np.float32)
        src = fj.read(1, masked=True).filled(0).astype(np.float32)
        reproject(src, out, src_transform=fj.transform, src_crs=fj.crs, dst_transform=like.transform,
                  dst_crs=like.crs, resampling=Resampling.nearest, src_nodata=None, dst_nodata=0)
    fjord = (out > 0.5).astype(np.uint8)
    if not fjord.any():
        raise ValueError(f"the fjord mask {os.path.basename(fjord_path)} does not overlap the scene "
                         "(or holds no fjord pixels with value 1)")
    return fjord


def pixel_to_map(transform, xy):
    xy = np.asarray(xy, np.float64)
    a, b, c, d, e, f = transform[:6]
    return np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f])


def qa_image(raw, fronts, classes=None, rejected=()):
    """RGB (H, W, 3) uint8: the scene's raw layer, ice tinted, accepted fronts red, rejected yellow."""
    from skimage.draw import line as draw_line

    grey = np.asarray(raw, np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    if classes is not None:
        ice = classes == 1
        rgb[ice] = 0.8 * rgb[ice] + 0.2 * np.array(QA_ICE_TINT, np.float32)
    rgb = rgb.astype(np.uint8)
    h, w = grey.shape
    for colour, group in ((QA_REJECTED_RGB, rejected), (QA_FRONT_RGB, fronts)):
        for front in group:
            pts = np.floor(front.xy).astype(int)
            for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
                rr, cc = draw_line(y0, x0, y1, x1)
                for dr in (-1, 0, 1):  # 3 px wide so it shows on a large scene
                    for dc in (-1, 0, 1):
                        r, c = np.clip(rr + dr, 0, h - 1), np.clip(cc + dc, 0, w - 1)
                        rgb[r, c] = colour
    return rgb


def write_png(path, rgb):
    """An RGB PNG written atomically (no georeferencing)."""
    import warnings

    with outputs.atomic_output(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", driver="PNG", width=rgb.shape[1], height=rgb.shape[0], count=3,
                           dtype="uint8") as dst:
            dst.write(np.moveaxis(rgb, 2, 0))
    return path


@dataclass
class ScenePrediction:
    """One scene after inference (``predict_scene``), before front extraction (``extract_scene``)."""

    src_path: str
    layered: str  # the 3-band layering (the input itself when it was layered already)
    prob_path: str  # band ``i_front`` front, ``i_ice`` ice, ``i_rock`` rock probability, nodata -1
    i_front: int
    i_ice: object  # int or None
    crs: object
    transform: object
    pixel_size: float
    fjord: object = None  # uint8 (H, W) on the scene grid, or None
    i_rock: object = None  # int or None (a model without a rock output)


def predict_scene(model, src_path, work_dir, fjord_path=None, prob_path=None, progress=None, is_canceled=None,
                  log=None, symmetric=True):
    """Layer (when grey) and run the model over one scene; returns a ``ScenePrediction``.

    ``src_path`` is a 1-band grey scene (layered here) or the 3-band layered
    image. ``work_dir`` receives temporary files (caller removes it). A fjord
    mask is read (and checked) here, before the model runs. ``symmetric``:
    average the network over the eight flips and quarter turns of each tile
    (``core.symmetry``), so the result does not depend on the scene's orientation.
    """
    from ..core.inference import predict_raster
    from ..core.symmetry import Symmetric

    names = list(model.outputs)
    if "front" not in names:
        raise ValueError(f"the model {os.path.basename(str(model.path))} has outputs {', '.join(names)}; "
                         "a calving-front model needs an output named 'front'")
    i_front = names.index("front")
    i_ice = names.index("ice") if "ice" in names else None
    i_rock = names.index("rock") if "rock" in names else None

    def step(start, span):
        return (lambda f: progress(start + span * f)) if progress else None

    name = os.path.basename(src_path)
    with rasterio.open(src_path) as src:
        count, crs, transform = src.count, src.crs, src.transform
        pixel_size = raster_io.pixel_size(transform)
        fjord = read_fjord(fjord_path, src) if fjord_path else None
    if count not in (1, 3):
        raise ValueError(f"{name} has {count} bands: give a 1-band grey scene or the 3-band CALFIN layering "
                         "(RAW, LOCAL_CONTRAST, SHADOWS_HIGHLIGHTS)")
    layered = src_path
    os.makedirs(work_dir, exist_ok=True)
    stem = os.path.splitext(name)[0]
    if count == 1:
        layered = os.path.join(work_dir, stem + "_layered.tif")
        layer_calfin_raster(src_path, layered, progress=step(0.0, 0.2), is_canceled=is_canceled)
    probs = prob_path or os.path.join(work_dir, stem + "_prob.tif")
    predict_raster(Symmetric(model) if symmetric else model, layered, prob_path=probs, progress=step(0.2, 0.8),
                   is_canceled=is_canceled, log=log,
                   warn=(lambda message: log(f"{name}: {message}")) if log else None)
    if progress:
        progress(1.0)
    return ScenePrediction(src_path, layered, probs, i_front, i_ice, crs, transform, pixel_size, fjord, i_rock)


def static_edges_of(predictions, min_scenes=None):
    """Static-edge masks for scenes that share one grid: ``{index: bool (H, W) mask}`` for every
    prediction in a group of at least ``min_scenes`` (``static_edges.MIN_SCENES``) scenes on one grid
    (same CRS, transform and size); scenes in smaller groups get none."""
    from . import static_edges

    min_scenes = static_edges.MIN_SCENES if min_scenes is None else min_scenes
    groups = {}
    for k, p in enumerate(predictions):
        with rasterio.open(p.prob_path) as src:
            groups.setdefault(static_edges.grid_key(src), []).append(k)
    out = {}
    for members in groups.values():
        if len(members) < min_scenes:
            continue
        mask = static_edges.static_edge_mask_from_rasters(
            [predictions[k].prob_path for k in members], band=predictions[members[0]].i_front + 1,
            min_scenes=min_scenes)
        for k in members:
            out[k] = mask
    return out


def extract_scene(prediction, qa_path=None, static=None, edge_threshold=0.5, min_confidence=0.5,
                  min_length_m=1000.0, max_fronts=1, include_rejected=False, is_canceled=None):
    """Front lines, ice/ocean polygons and the QA image of one predicted scene; returns a ``SceneResult``.

    ``static``: optional bool mask of static edges on the scene grid (``static_edges_of``).
    """
    p = prediction
    name = os.path.basename(p.src_path)
    with rasterio.open(p.prob_path) as src:
        prob = src.read().astype(np.float32)
        nodata = src.nodata
    with rasterio.open(p.layered) as lay:
        raw = lay.read(1)
        valid = raster_io.valid_mask(lay)
    valid &= np.isfinite(prob).all(axis=0)
    if nodata is not None:
        valid &= (prob != nodata).all(axis=0)
    check_cancel(is_canceled)
    if not valid.any():
        raise ValueError(f"{name} holds no valid pixels (all nodata)")
    edge = np.where(valid, prob[p.i_front], 0.0)
    ice = np.where(valid, prob[p.i_ice], np.nan) if p.i_ice is not None else None
    rock = np.where(valid, prob[p.i_rock], 0.0) if p.i_rock is not None else None
    min_length_px = min_length_m / p.pixel_size if p.pixel_size > 0 else 0.0
    extraction = extract_fronts(edge, None if ice is None else np.nan_to_num(ice, nan=0.0), p.fjord, valid,
                                edge_threshold=edge_threshold, min_confidence=min_confidence,
                                min_length_px=min_length_px, max_fronts=max_fronts, static=static, rock=rock)
    fronts = extraction.fronts if include_rejected else extraction.accepted
    classes = ice_classes(ice, valid) if ice is not None else None
    result = SceneResult(parse_scene_name(p.src_path), p.crs, p.transform, p.pixel_size, fronts,
                         [pixel_to_map(p.transform, f.xy) for f in fronts])
    if classes is not None:
        result.ice_polygons = [(int(v), geom) for geom, v in
                               features.shapes(classes, mask=classes != 255, transform=p.transform)]
    if qa_path:
        accepted = extraction.accepted
        rejected = [f for f in extraction.fronts if not any(f is a for a in accepted)]
        write_png(qa_path, qa_image(raw, accepted, classes, rejected))
    return result


def detect_scene(model, src_path, work_dir, fjord_path=None, prob_path=None, qa_path=None,
                 edge_threshold=0.5, min_confidence=0.5, min_length_m=1000.0, max_fronts=1,
                 include_rejected=False, static=None,
                 progress=None, is_canceled=None, log=None, symmetric=True):
    """Run the whole pipeline on one scene file; returns a ``SceneResult``.

    ``src_path`` is a 1-band grey scene (layered here) or the 3-band layered
    image. ``work_dir`` receives temporary files (caller removes it).
    ``static``: optional static-edge mask on the scene grid. For a stack, run
    ``predict_scene`` on every scene, ``static_edges_of`` once, then
    ``extract_scene`` per scene.
    """
    prediction = predict_scene(model, src_path, work_dir, fjord_path, prob_path,
                               progress=(lambda f: progress(0.9 * f)) if progress else None,
                               is_canceled=is_canceled, log=log, symmetric=symmetric)
    result = extract_scene(prediction, qa_path, static, edge_threshold, min_confidence, min_length_m, max_fronts,
                           include_rejected, is_canceled)
    if progress:
        progress(1.0)
    return result
