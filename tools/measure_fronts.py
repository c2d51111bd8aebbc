"""Front extraction measured on the real front data, in three orientations, from cached probabilities.

``python tools/measure_fronts.py cache`` runs the shipped ONNX model once over
every Landsat and SAR image of ../shared/data in three orientations (the grey
scene turned by 0, 90 and 180 degrees counter-clockwise, then layered and
predicted exactly as ``training/fronts/evaluate.py`` does) and stores the two
probability maps as float16 in ``build/front_probs_<folder>_<model>_<hash>_sym2/<scene>_r<deg>.npz``
(about 150 MB in all, under two minutes on one core). Every later step reads
only this cache.

``python tools/measure_fronts.py report --split both`` prints the before/after
table of issue 16 (training glaciers, then held-out glaciers: Landsat
229-231/012 and SAR Jorum), for the configurations in ``CONFIGS``: the
extraction as shipped before issue 16 (``old``: ``plugin/engine/fronts.py`` at
commit a756084, read with ``git show``) and the engine's evidence extraction
with one front, with up to five, and with up to five plus static edges found
from the stack (``shipped``: every scene of one glacier on one grid, >= 3,
as detect_calving_fronts does). Each is run on the network's output for the
scene turned by 0, 90 and 180 degrees; lines are turned back into the
scene's own frame and scored with CALFIN's symmetric mean distance against
the 1 px reference. A second block turns the upright probability maps
instead (the extraction's own orientation dependence), a third relates each
line's confidence to how much of it lies on the labelled front. About four
minutes per split on one core.

``python tools/measure_fronts.py network`` reports how much the network's
outputs themselves change with orientation (turned back, compared pixel by
pixel with the upright output).

``python tools/measure_fronts.py paired --other OTHER.onnx`` compares the model with another on
the scenes both find a front in (per orientation: scenes found by each and by both, and each one's mean
and median over the common scenes), for rules that weigh the found count and the distance apart.

``python tools/measure_fronts.py overlay --glacier G [--scene STEM,...]`` draws each scene upright with
its lines (red) over the reference front (green) into build/overlays, and prints how much of each line
lies more than 5 px from the reference: where a scene's error comes from, at a glance.

``python tools/measure_fronts.py errors --glacier G [--per-scene]`` sorts each scene's error into kinds
(too short, too long, elsewhere) from the two halves of the symmetric distance, with each kind's share
of the mean: whether the extraction or the network's outputs are to blame is read from there.

``python tools/measure_fronts.py measure`` is for experiments on the training
glaciers (``--option name=value`` passes extract_fronts keywords,
``--static``, ``--by-glacier``, ``--per-scene``, ``--turn-probs``).
"""

import argparse
import functools
import os
import subprocess
import sys
import time
import types
from collections import OrderedDict, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
DATA = ROOT.parent / "shared" / "data"
# WATERLINE_FRONT_MODEL measures another model (e.g. a checkpoint exported by a continued
# training run) with its own cache; the default is the shipped model. Several models joined by "+"
# (a.onnx+b.onnx) are measured as one ensemble: the mean of their probabilities.
# WATERLINE_FRONT_SYMMETRIC=0 runs the network once per tile instead of averaging over the eight flips and
# quarter turns (``core.symmetry``, what detect_calving_fronts does by default).
def model_paths(spec):
    """The model files of a WATERLINE_FRONT_MODEL-style spec (one path, or several joined by "+")."""
    return tuple(Path(p).resolve() for p in str(spec).split("+"))


MODEL = model_paths(os.environ.get("WATERLINE_FRONT_MODEL", ROOT / "weights" / "calving_front.onnx"))
# WATERLINE_FRONT_ROCK=0 ignores a model's rock output in the extraction.
USE_ROCK = os.environ.get("WATERLINE_FRONT_ROCK", "1") != "0"
SYMMETRIC = os.environ.get("WATERLINE_FRONT_SYMMETRIC", "1") != "0"


@functools.lru_cache(maxsize=None)
def cache_dir():
    """build/front_probs_<folder>_<model>_<first 8 hex of its SHA-1>[_sym2]: maps of a retrained model, or of
    the padding before 0.5.0 (``_sym``: after the data only), are never read for another. Worked out on first
    use, so importing this module (``evaluate_held_out`` does) reads no model."""
    import hashlib

    name = "+".join(f"{path.parent.name}_{path.stem}" for path in MODEL)
    digest = "missing"
    if all(path.exists() for path in MODEL):
        sha = hashlib.sha1()
        for path in MODEL:
            sha.update(path.read_bytes())
        digest = sha.hexdigest()[:8]
    return ROOT / "build" / (f"front_probs_{name}_{digest}" + ("_sym2" if SYMMETRIC else ""))

# WATERLINE_FRONT_TURNS=0 caches and measures the upright scenes only (a third of the time).
ORIENTATIONS = tuple(int(d) for d in os.environ.get("WATERLINE_FRONT_TURNS", "0,90,180").split(","))
OLD_COMMIT = "a756084"  # last commit with the extraction as shipped before issue 16
OLD_PATH = "plugin/engine/fronts.py"


# ------------------------------------------------------------------ data


def scene_list():
    """[(source, glacier, stem)] of every image in ../shared/data/fronts-*."""
    from training.fronts.data import landsat_glacier

    out = []
    for p in sorted((DATA / "fronts-landsat" / "images").glob("*_Subset.png")):
        stem = p.name[: -len("_Subset.png")]
        out.append(("landsat", landsat_glacier(stem), stem))
    for p in sorted((DATA / "fronts-sar" / "images").glob("*.png")):
        out.append(("sar", p.stem.split("_")[0], p.stem))
    return out


def held_out(source, glacier):
    from training.fronts.data import LANDSAT_VAL_PATHROWS, SAR_VAL_GLACIERS

    return glacier in (LANDSAT_VAL_PATHROWS if source == "landsat" else SAR_VAL_GLACIERS)


def read_scene(source, stem):
    """(grey band, 1 px reference front mask) in the scene's own frame."""
    from skimage import io
    from skimage.morphology import skeletonize

    if source == "landsat":
        root = DATA / "fronts-landsat"
        grey = io.imread(root / "images" / f"{stem}_Subset.png")[..., 0]
        ref = io.imread(root / "labels_1px" / f"{stem}_Front.png")[..., 0] == 0
    else:
        root = DATA / "fronts-sar"
        grey = io.imread(root / "images" / f"{stem}.png")
        grey = grey[..., 0] if grey.ndim == 3 else grey
        front = io.imread(root / "fronts" / f"{stem}_front.png")
        front = (front[..., 0] if front.ndim == 3 else front) > 0
        ref = skeletonize(front) if front.any() else front
    return grey, ref


def cache_path(stem, deg):
    return cache_dir() / f"{stem}_r{deg}.npz"


def load_probs(stem, deg):
    """(edge, ice, reference, rock or None) of one cached scene and orientation (rock None with
    WATERLINE_FRONT_ROCK=0)."""
    with np.load(cache_path(stem, deg)) as z:
        rock = z["rock"].astype(np.float32) if USE_ROCK and "rock" in z else None
        return z["edge"].astype(np.float32), z["ice"].astype(np.float32), z["ref"], rock


# ------------------------------------------------------------------ geometry of turns


def turn(array, deg):
    """The 2-D array turned counter-clockwise by ``deg`` (0, 90, 180, 270), as np.rot90."""
    return np.ascontiguousarray(np.rot90(array, (deg // 90) % 4))


def unturn_xy(xy, deg, shape):
    """Pixel coordinates ``(x, y)`` of a line found in the scene turned by ``deg`` back in the upright
    scene of ``shape`` (H, W)."""
    xy = np.asarray(xy, np.float64)
    h, w = shape
    x, y = xy[:, 0], xy[:, 1]
    k = (deg // 90) % 4
    if k == 0:
        return xy.copy()
    if k == 1:  # np.rot90 once: turned[i, j] = upright[j, W - 1 - i]
        return np.column_stack([w - y, x])
    if k == 2:
        return np.column_stack([w - x, h - y])
    return np.column_stack([y, h - x])


# ------------------------------------------------------------------ cache


def cmd_cache(args):
    from plugin.engine.core.inference import predict_array
    from plugin.engine.core.model import load_model
    from training.fronts.data import layer_grey

    cache_dir().mkdir(parents=True, exist_ok=True)
    models = [load_model(str(path), device="cpu", threads=args.threads) for path in MODEL]
    if SYMMETRIC:
        from plugin.engine.core.symmetry import Symmetric

        models = [Symmetric(model) for model in models]
    t0, done = time.time(), 0
    for source, glacier, stem in select("all", "all", args.glacier):
        grey, ref = read_scene(source, stem)
        for deg in ORIENTATIONS:
            path = cache_path(stem, deg)
            if path.exists() and not args.force:
                continue
            image = layer_grey(turn(grey, deg)).astype(np.float32)
            valid = np.ones(image.shape[1:], bool)
            prob = np.mean([predict_array(model, image, valid) for model in models], axis=0)
            extra = {"rock": prob[2].astype(np.float16)} if len(prob) > 2 else {}
            np.savez_compressed(path, edge=prob[0].astype(np.float16), ice=prob[1].astype(np.float16),
                                ref=ref, **extra)
            done += 1
    print(f"cached {done} probability maps in {time.time() - t0:.0f} s under {cache_dir()}")


def cmd_network(args):
    """How the network's own outputs change with orientation (turned back to upright)."""
    rows = defaultdict(list)
    for source, glacier, stem in scene_list():
        e0, i0, _, _ = load_probs(stem, 0)
        for deg in ORIENTATIONS[1:]:
            e, i, _, _ = load_probs(stem, deg)
            e, i = turn(e, -deg % 360), turn(i, -deg % 360)
            valid = (e0 >= 0) & (e >= 0)
            both = (e0 >= 0.5) | (e >= 0.5)
            rows[(source, deg)].append((
                float(np.abs(e - e0)[valid].mean()), float(np.abs(i - i0)[valid].mean()),
                float(((i >= 0.5) != (i0 >= 0.5))[valid].mean()),
                float(((e >= 0.5) & (e0 >= 0.5)).sum() / max(1, both.sum()))))
    print("network outputs turned back vs upright (all images, training and held-out)")
    print(f"{'source':8} {'turn':>4} {'n':>4} {'|d edge|':>9} {'|d ice|':>8} {'ice flips':>9} {'edge IoU@0.5':>12}")
    for (source, deg), vals in sorted(rows.items()):
        v = np.array(vals)
        print(f"{source:8} {deg:>4} {len(v):>4} {v[:, 0].mean():9.4f} {v[:, 1].mean():8.4f} "
              f"{100 * v[:, 2].mean():8.2f}% {v[:, 3].mean():12.3f}")


# ------------------------------------------------------------------ extraction


def old_extractor():
    """``extract_fronts`` as shipped before issue 16 (git show of the pinned commit)."""
    try:
        text = subprocess.run(["git", "show", f"{OLD_COMMIT}:{OLD_PATH}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"--method old needs the git history ({OLD_COMMIT}:{OLD_PATH}): {exc}")
    module = types.ModuleType("fronts_before_issue16")
    exec(compile(text, OLD_PATH, "exec"), module.__dict__)
    return lambda edge, ice, **kw: module.extract_fronts(edge, ice).accepted


def new_extractor(**options):
    from plugin.engine.fronts.extraction import extract_fronts

    return lambda edge, ice, **kw: extract_fronts(edge, ice, **options, **kw).accepted


def track(source, stem):
    """The SAR sensor and track of a CaFFe name (``Jorum_2010-11-05_TSX_7_1_110`` -> ``TSX_110``): CaFFe
    scenes of one glacier share a grid only within a track. Landsat: None (a path/row is its glacier)."""
    if source != "sar":
        return None
    parts = stem.split("_")
    return f"{parts[2]}_{parts[-1]}"


def static_masks(scenes, deg, turn_probs, fraction=None, groups_by="glacier"):
    """Static-edge mask per stack and orientation from all scenes of the stack (>= 3). A stack is a glacier
    and image size (``groups_by`` "glacier") or, for SAR, a glacier, sensor and track ("track")."""
    from plugin.engine.fronts.static_edges import MIN_SCENES, static_edge_mask

    groups = defaultdict(list)
    for source, glacier, stem in scenes:
        e, i, _, _ = load_probs(stem, 0 if turn_probs else deg)
        if turn_probs:
            e, i = turn(e, deg), turn(i, deg)
        groups[(glacier, e.shape, track(source, stem) if groups_by == "track" else None)].append((stem, e, i))
    masks = {}
    for key, items in groups.items():
        if len(items) < MIN_SCENES:
            continue
        mask = static_edge_mask([e for _, e, _ in items], **({} if fraction is None else {"fraction": fraction}))
        for stem, _, _ in items:
            masks[stem] = mask
    return masks


def measure(scenes, method, deg, turn_probs=False, static=False, options=None, static_fraction=None,
            static_groups="glacier"):
    """{stem: (lines in the upright frame, distance dict, fronts)}."""
    from plugin.engine.fronts.metrics import points_from_lines, points_from_mask, symmetric_distance

    extract = old_extractor() if method == "old" else new_extractor(**(options or {}))
    masks = static_masks(scenes, deg, turn_probs, static_fraction, static_groups) if static else {}
    out = {}
    for source, glacier, stem in scenes:
        e, i, ref, rock = load_probs(stem, 0 if turn_probs else deg)
        if turn_probs:
            e, i = turn(e, deg), turn(i, deg)
            rock = None if rock is None else turn(rock, deg)
        kw = {"static": masks[stem]} if stem in masks else {}
        if rock is not None:
            kw["rock"] = rock
        fronts = extract(e, i, **kw)
        lines = [unturn_xy(f.xy, deg, ref.shape) for f in fronts]
        d = symmetric_distance(points_from_lines(lines), points_from_mask(ref))
        out[stem] = (lines, d, fronts)
    return out


# The configurations the report compares. The rule for what ships was fixed on the training glaciers
# before the held-out glaciers were measured: "shipped" = the engine's extraction with up to 5 fronts
# per scene (the recommended default of the algorithm's MAX_FRONTS) and static edges from the stack
# when >= 3 scenes of one glacier share a grid, as detect_calving_fronts does.
CONFIGS = OrderedDict([
    ("old", dict(method="old", note="before issue 16 (longest line, one per scene)")),
    ("new-1", dict(method="new", options={"max_fronts": 1}, note="evidence, one front (MAX_FRONTS=1)")),
    ("new-5", dict(method="new", options={"max_fronts": 5}, note="evidence, up to 5 fronts")),
    ("shipped", dict(method="new", options={"max_fronts": 5}, static=True,
                     note="evidence, up to 5 fronts, static edges from the stack")),
])


def select(split="train", source="all", glaciers=""):
    scenes = [s for s in scene_list() if (split == "all" or held_out(s[0], s[1]) == (split == "heldout"))
              and (source == "all" or s[0] == source)]
    if glaciers:
        scenes = [s for s in scenes if s[1] in glaciers.split(",")]
    return scenes


def table(scenes, name, method, options=None, static=False, turn_probs=False, by_glacier=False,
          static_fraction=None, per_scene=None, out=print, static_groups="glacier"):
    """Print one block of rows (per source or glacier and orientation) for one configuration."""
    from plugin.engine.fronts.metrics import points_from_lines, symmetric_distance

    results = {deg: measure(scenes, method, deg, turn_probs, static, options, static_fraction, static_groups)
               for deg in ORIENTATIONS}
    for group in sorted({s[1] if by_glacier else s[0] for s in scenes}):
        stems = [s[2] for s in scenes if (s[1] if by_glacier else s[0]) == group]
        for deg in ORIENTATIONS:
            found = np.array([results[deg][st][1]["mean"] for st in stems
                              if results[deg][st][1]["mean"] is not None] or [np.nan])
            agree, one_only = [], 0
            for st in stems:
                a, b = results[0][st][0], results[deg][st][0]
                if a and b:
                    agree.append(symmetric_distance(points_from_lines(b), points_from_lines(a))["mean"])
                elif a or b:
                    one_only += 1
            n_found = int(np.isfinite(found).sum())
            out(f"{group:8} {name:8} {deg:>4} {len(stems):>4} {n_found / len(stems):6.0%} {np.mean(found):8.2f} "
                f"{np.median(found):7.2f} {np.max(found):7.1f} {int((found > 10).sum()):>5} "
                f"{np.mean(agree) if agree else np.nan:8.2f} {one_only:>5}")
        if per_scene is not None:
            for st in stems:
                per_scene.setdefault(st, {})[name] = [results[deg][st][1]["mean"] for deg in ORIENTATIONS]
    return results


HEADER = (f"{'set':8} {'config':8} {'turn':>4} {'n':>4} {'found':>6} {'mean px':>8} {'median':>7} {'worst':>7} "
          f"{'>10px':>5} {'vs 0deg':>8} {'1-of-2':>5}")
LEGEND = ("mean px: mean over scenes of CALFIN's symmetric mean distance to the 1 px reference (scenes with a "
          "front); median: median of the scene means; worst: largest scene mean; >10px: scenes above 10 px; "
          "vs 0deg: mean distance between the lines found in the turned and in the upright scene (turned back); "
          "1-of-2: scenes with a front in only one of the two orientations")


def print_per_scene(per_scene):
    print("\nper scene: mean distance at " + "/".join(map(str, ORIENTATIONS)) + " deg")
    for st, by_config in per_scene.items():
        cells = "  ".join(f"{m}: " + "/".join("-" if v is None else f"{v:.1f}" for v in vals)
                          for m, vals in by_config.items())
        print(f"{st[:60]:60} {cells}")


def cmd_measure(args):
    scenes = select(args.split, args.source, args.glacier)
    options = {k: eval(v, {"None": None}) for k, v in (o.split("=") for o in args.option)}
    print(f"split {args.split}; {'upright probabilities turned' if args.turn_probs else 'network run on turned scenes'}"
          f"{'; static edges from the stack' if args.static else ''}"
          f"{' of each track' if args.static and args.static_groups == 'track' else ''}")
    print(HEADER)
    per_scene = {} if args.per_scene else None
    for method in args.method.split(","):
        table(scenes, method, method, options if method == "new" else None, args.static and method == "new",
              args.turn_probs, args.by_glacier, args.static_fraction, per_scene, static_groups=args.static_groups)
    if per_scene:
        print_per_scene(per_scene)


def confidence_table(scenes, out=print):
    """Share of each line within 3 px of the labelled front, by the line's confidence: every line the
    shipped configuration traces (accepted or not; not the short ones), in every orientation."""
    from plugin.engine.fronts.extraction import QUALITY_SHORT, extract_fronts
    from plugin.engine.fronts.metrics import nearest_distances, points_from_lines, points_from_mask

    bins = [(0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]
    rows = defaultdict(list)
    for deg in ORIENTATIONS:
        masks = static_masks(scenes, deg, False)
        for source, glacier, stem in scenes:
            e, i, ref, rock = load_probs(stem, deg)
            ref_pts = points_from_mask(turn(ref, deg))
            for f in extract_fronts(e, i, static=masks.get(stem), max_fronts=None, rock=rock).fronts:
                if f.quality == QUALITY_SHORT:
                    continue
                share = float(np.mean(nearest_distances(points_from_lines([f.xy]), ref_pts) <= 3.0))
                for lo, hi in bins:
                    if lo <= f.confidence < hi:
                        rows[(lo, hi, f.quality)].append(share)
    for quality in sorted({k[2] for k in rows}):
        for lo, hi in bins:
            v = rows[(lo, hi, quality)]
            if v:
                out(f"  {quality:15} confidence {lo:.1f}-{min(hi, 1.0):.1f}: {len(v):5d} lines, "
                    f"{np.mean(v):.2f} of their length within 3 px of the labelled front")


def cmd_report(args):
    """The before/after table on the training glaciers and (``--split both``/``heldout``) the held-out ones."""
    splits = ["train", "heldout"] if args.split == "both" else [args.split]
    print(LEGEND)
    for split in splits:
        scenes = select(split)
        print(f"\n== {split} glaciers: network run on the scene turned by 0/90/180 degrees")
        for name, c in CONFIGS.items():
            print(f"   {name}: {c['note']}")
        print(HEADER)
        per_scene = {} if args.per_scene else None
        for name, c in CONFIGS.items():
            table(scenes, name, c["method"], c.get("options"), c.get("static", False), per_scene=per_scene)
        print(f"\n== {split} glaciers: extraction alone (the upright probability maps turned)")
        print(HEADER)
        for name in ("old", "shipped"):
            c = CONFIGS[name]
            table(scenes, name, c["method"], c.get("options"), c.get("static", False), turn_probs=True)
        print(f"\n== {split} glaciers: confidence of every line the shipped configuration traces (all turns)")
        confidence_table(scenes)
        if per_scene:
            print_per_scene(per_scene)


def paired_summary(these, others):
    """Two models on one set of scenes: ``{stem: scene mean or None}`` each. Returns the scenes each finds a
    front in, those both find, and each one's mean and median over the scenes both find (a mean over each
    one's own found scenes punishes a model for finding harder scenes)."""
    both = [st for st in these if these[st] is not None and others.get(st) is not None]
    out = {"n": len(these), "found": sum(v is not None for v in these.values()),
           "found_other": sum(others.get(st) is not None for st in these), "both": len(both)}
    for key, values in (("this", these), ("other", others)):
        vals = np.array([values[st] for st in both]) if both else np.array([np.nan])
        out[key + "_mean"], out[key + "_median"] = float(np.mean(vals)), float(np.median(vals))
    return out


def cmd_paired(args):
    """This model (WATERLINE_FRONT_MODEL) against ``--other``, per orientation, on the scenes both find."""
    global MODEL
    scenes = select(args.split, args.source, args.glacier)
    shipped = CONFIGS["shipped"]
    this_model, other = MODEL, model_paths(args.other)
    print(f"split {args.split}, {args.source}; this {'+'.join(map(str, this_model))}, "
          f"other {'+'.join(map(str, other))}; {shipped['note']}")
    print(f"{'turn':>4} {'n':>4} {'found':>5} {'other':>5} {'both':>5} {'mean':>7} {'other':>7} {'median':>7} "
          f"{'other':>7}")
    try:
        for deg in ORIENTATIONS:
            means = []
            for model in (this_model, other):
                MODEL = model
                cache_dir.cache_clear()
                if not cache_dir().exists():
                    raise SystemExit(f"no cache under {cache_dir()}: run 'cache' with this model first")
                results = measure(scenes, shipped["method"], deg, static=shipped["static"],
                                  options=shipped["options"])
                means.append({st: r[1]["mean"] for st, r in results.items()})
            p = paired_summary(*means)
            print(f"{deg:>4} {p['n']:>4} {p['found']:>5} {p['found_other']:>5} {p['both']:>5} {p['this_mean']:7.2f} "
                  f"{p['other_mean']:7.2f} {p['this_median']:7.2f} {p['other_median']:7.2f}")
    finally:
        MODEL = this_model
        cache_dir.cache_clear()


REFERENCE_RGB = (40, 220, 40)


ERROR_KINDS = ("within 5 px", "too short", "too long", "elsewhere")


def error_kind(distance, limit=5.0):
    """What kind of error a scene's lines make (``metrics.symmetric_distance``'s dict): within ``limit`` px;
    too short (the lines lie on the front but leave part of it uncovered: line to reference within the
    limit, reference to line beyond it); too long (the whole front and more: coast, a margin); elsewhere
    (both halves beyond the limit). None: no front found."""
    if distance["mean"] is None:
        return None
    if distance["mean"] <= limit:
        return ERROR_KINDS[0]
    short, long_ = distance["pred_to_ref"] <= limit, distance["ref_to_pred"] <= limit
    return ERROR_KINDS[1] if short else ERROR_KINDS[2] if long_ else ERROR_KINDS[3]


def cmd_errors(args):
    """Each found scene's error by kind (upright, shipped configuration) and each kind's share of the mean."""
    scenes = select(args.split, args.source, args.glacier)
    shipped = CONFIGS["shipped"]
    results = measure(scenes, shipped["method"], 0, static=shipped["static"], options=shipped["options"])
    found = {st: r[1] for st, r in results.items() if r[1]["mean"] is not None}
    total = sum(d["mean"] for d in found.values())
    print(f"split {args.split}, {args.source}, upright; {shipped['note']}; {len(found)} of {len(results)} scenes "
          f"with a front, mean {total / max(len(found), 1):.2f} px")
    print(f"{'kind':12} {'scenes':>6} {'share of the mean (px)':>23}")
    for kind in ERROR_KINDS:
        members = [d["mean"] for d in found.values() if error_kind(d) == kind]
        print(f"{kind:12} {len(members):>6} {sum(members) / max(len(found), 1):23.2f}")
    if args.per_scene:
        print(f"\n{'scene':60} {'mean':>6} {'line->ref':>9} {'ref->line':>9} kind")
        for st, d in sorted(found.items(), key=lambda item: -item[1]["mean"]):
            print(f"{st[:60]:60} {d['mean']:6.1f} {d['pred_to_ref']:9.1f} {d['ref_to_pred']:9.1f} {error_kind(d)}")


def overlay_image(grey, ice, ref, lines, scale=3):
    """RGB (H*scale, W*scale, 3): the engine's QA image of the scene (ice tinted, lines red) with the
    reference front drawn green over it, each pixel repeated ``scale`` times so a 256 px scene can be read."""
    from plugin.engine.fronts.extraction import ice_classes
    from plugin.engine.fronts.scene import qa_image

    rgb = qa_image(grey, [types.SimpleNamespace(xy=xy) for xy in lines], ice_classes(ice))
    rgb[np.asarray(ref, bool)] = REFERENCE_RGB
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def cmd_overlay(args):
    """One PNG per scene (upright, shipped configuration): where the lines are against the reference,
    and how much of each line lies more than 5 px from it."""
    from plugin.engine.fronts.metrics import nearest_distances, points_from_lines, points_from_mask
    from plugin.engine.fronts.scene import write_png

    scenes = select(args.split, args.source, args.glacier)
    wanted = {s.strip() for s in args.scene.split(",") if s.strip()} if args.scene else None
    missing = sorted(wanted - {stem for _, _, stem in scenes}) if wanted else []
    if missing:
        raise SystemExit(f"not in the selection (--split/--source/--glacier): {', '.join(missing)}")
    shipped = CONFIGS["shipped"]
    # static edges come from every scene of a glacier, so the whole selection is measured, the wanted ones drawn
    results = measure(scenes, shipped["method"], 0, static=shipped["static"], options=shipped["options"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for source, glacier, stem in scenes:
        if wanted is not None and stem not in wanted:
            continue
        lines, d, _ = results[stem]
        grey, _ = read_scene(source, stem)
        _, ice, ref, _ = load_probs(stem, 0)
        ref_pts = points_from_mask(ref)
        far = [f"{np.mean(nearest_distances(points_from_lines(xy), ref_pts) > 5):.0%}" if len(ref_pts) else "-"
               for xy in lines]
        write_png(out / f"{stem}.png", overlay_image(grey, ice, ref, lines, args.scale))
        mean = "no front" if d["mean"] is None else f"{d['mean']:.2f} px"
        print(f"{stem}: {mean}, {len(lines)} line(s), share > 5 px from the reference: {', '.join(far) or '-'}")
    print(f"overlays under {out} (reference green, lines red, ice tinted blue)")


def add_scene_selection(parser, split):
    """--split (default ``split``), --source and --glacier: which scenes a command measures (``select``)."""
    parser.add_argument("--split", choices=("train", "heldout", "all"), default=split)
    parser.add_argument("--source", choices=("landsat", "sar", "all"), default="all")
    parser.add_argument("--glacier", default="", help="comma-separated glaciers (path/rows or SAR codes) only")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="run the model once per image and orientation into "
                                     "build/front_probs_<folder>_<model>_<hash>_sym2")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--force", action="store_true", help="recompute cached maps")
    c.add_argument("--glacier", default="", help="comma-separated glaciers (path/rows or SAR codes) only")
    sub.add_parser("network", help="orientation dependence of the network's outputs")
    r = sub.add_parser("report", help="the before/after table of the report (configurations in CONFIGS)")
    r.add_argument("--split", choices=("train", "heldout", "both"), default="train")
    r.add_argument("--per-scene", action="store_true")
    m = sub.add_parser("measure", help="extract, score and print the table")
    add_scene_selection(m, split="train")
    m.add_argument("--method", default="old,new", help="old, new or old,new")
    m.add_argument("--turn-probs", action="store_true",
                   help="turn the upright probability maps instead of running the network on turned scenes")
    m.add_argument("--static", action="store_true",
                   help="new method: remove static edges found from all scenes of a glacier (>= 3, same grid)")
    m.add_argument("--static-fraction", type=float, default=None,
                   help="with --static: share of scenes an edge must fire in (default: the engine's)")
    m.add_argument("--static-groups", choices=("glacier", "track"), default="glacier",
                   help="with --static: one stack per glacier and image size, or (SAR) per glacier, sensor and "
                        "track, the scenes that share a grid when georeferenced")
    m.add_argument("--per-scene", action="store_true")
    m.add_argument("--by-glacier", action="store_true", help="one row per glacier instead of per source")
    m.add_argument("--option", action="append", default=[],
                   help="extract_fronts keyword for the new method, e.g. max_fronts=None (for experiments)")
    p = sub.add_parser("paired", help="this model against --other on the scenes both find a front in")
    p.add_argument("--other", required=True, help="the other ONNX model (cached with 'cache' too)")
    add_scene_selection(p, split="heldout")
    e = sub.add_parser("errors", help="each scene's error by kind (too short, too long, elsewhere) and each "
                                      "kind's share of the mean")
    add_scene_selection(e, split="heldout")
    e.add_argument("--per-scene", action="store_true")
    o = sub.add_parser("overlay", help="one PNG per scene: lines against the reference (upright, shipped "
                                       "configuration)")
    add_scene_selection(o, split="heldout")
    o.add_argument("--scene", default="", help="comma-separated scene names only (every scene of the selection "
                                                "is still measured, for the static edges)")
    o.add_argument("--out", default=str(ROOT / "build" / "overlays"))
    o.add_argument("--scale", type=int, default=3, help="each pixel drawn as scale x scale")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent: this measurement needs ../shared/data beside the checkout")
    if args.command != "cache" and not cache_dir().exists():
        raise SystemExit(f"no cache under {cache_dir()}: run 'python tools/measure_fronts.py cache' first")
    {"cache": cmd_cache, "network": cmd_network, "measure": cmd_measure, "report": cmd_report,
     "paired": cmd_paired, "overlay": cmd_overlay, "errors": cmd_errors}[args.command](args)


if __name__ == "__main__":
    main()
