"""Train and export the CALFIN-style calving-front model (DeepLabV3+, front edge + ice/land mask).

``python -m training fronts --out weights/calving_front.onnx`` loads the
Landsat and SAR front datasets from ``../shared/data``, holds out one Landsat
glacier and one SAR glacier for validation, trains, exports ONNX with the
Waterline model contract, evaluates front distances on the held-out glaciers
through the plugin's engine, and writes a metrics JSON next to the model.
Long runs continue across sessions: ``--checkpoint`` is saved every
``--checkpoint-every`` epochs and ``--resume`` picks it up.
"""

import json
import time
from pathlib import Path

from plugin.engine.core.contract import SENSORS

from . import NET_CONFIG, model_metadata
from .data import AUGMENTATIONS, LANDSAT_VAL_PATHROWS, SAR_VAL_GLACIERS, landsat_pathrows, sar_glaciers


def _zoom_range(text):
    import argparse

    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"two factors, smallest first (e.g. 0.8,1.25), not {text!r}")
    if not 0 < low <= 1 <= high:
        raise argparse.ArgumentTypeError(f"the range must hold 1 (0 < smallest <= 1 <= largest), not {text!r}")
    return low, high


def add_arguments(parser):
    parser.add_argument("--data", default="../shared/data", help="folder holding fronts-landsat/ and fronts-sar/")
    parser.add_argument("--out", default="weights/calving_front.onnx", help="ONNX file to write")
    parser.add_argument("--metrics", default=None, help="metrics JSON (default: <out>.metrics.json)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=None, help="stop training after this wall time")
    parser.add_argument("--lr-schedule", choices=("budget", "epochs"), default="budget",
                        help="cosine learning rate over --epochs or the --minutes budget, whichever ends first "
                             "(budget), or over --epochs only, --minutes just stopping this run (epochs; for "
                             "runs continued with --resume)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples-per-epoch", type=int, default=512)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--widths", default=",".join(map(str, NET_CONFIG["widths"])),
                        help="encoder widths of the four ResNet stages")
    parser.add_argument("--aspp-channels", type=int, default=NET_CONFIG["aspp_channels"])
    parser.add_argument("--decoder-channels", type=int, default=NET_CONFIG["decoder_channels"])
    parser.add_argument("--augment", choices=AUGMENTATIONS, default="basic",
                        help="basic: crops, flips, turns, small rotations, contrast and noise; scale adds scale "
                             "(--zoom); scale-sar zooms SAR samples only; strong adds scale, brightness "
                             "curves, speckle and blur (for unseen glaciers and SAR sensors)")
    parser.add_argument("--zoom", type=_zoom_range, default=(0.6, 1.5),
                        help="smallest and largest factor of the scale augmentation, e.g. 0.8,1.25 (default 0.6,1.5)")
    parser.add_argument("--wet-snow", type=float, default=0.0,
                        help="share of SAR samples whose glacier is darkened by 0.15-0.4 of the grey range, as "
                             "melt darkens a glacier in SAR (default 0: none)")
    parser.add_argument("--rock", action="store_true",
                        help="a third output, rock (land that is not glacier), learnt from the CaFFe zones (unknown "
                             "on Landsat), so the extraction can tell a front from a rocky coast; with --init from "
                             "a two-output model the new head starts fresh")
    parser.add_argument("--coast-weight", type=float, default=1.0,
                        help="weigh the edge loss this many times on SAR land/ocean margins that the front label "
                             "does not cover (lateral margins, coasts; from the CaFFe zones): hard negatives, so "
                             "coast is not taken for front")
    parser.add_argument("--landsat-share", type=float, default=0.5,
                        help="share of the training samples drawn from the Landsat images, the rest from SAR "
                             "(0.5: half and half; higher for a network that serves optical scenes only)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--init", default=None,
                       help="start from saved weights: a torch checkpoint of this job or an ONNX model it exported "
                            "(e.g. weights/calving_front.onnx), same network size; optimiser and schedule start "
                            "fresh")
    start.add_argument("--resume", default=None,
                       help="continue a run exactly from its --checkpoint file (network size, weights, optimiser, "
                            "epoch, random state, history)")
    parser.add_argument("--checkpoint", default=None,
                        help="where to save the resumable torch checkpoint (default: build/fronts/<out stem>.pt)")
    parser.add_argument("--checkpoint-every", type=int, default=5, help="save the checkpoint every N epochs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use at most this many images per dataset")
    parser.add_argument("--tile-size", type=int, default=256, help="tile size written into the model contract")
    parser.add_argument("--overlap", type=int, default=64, help="overlap written into the model contract")
    parser.add_argument("--sensors", choices=SENSORS, default="any",
                        help="which scenes the model is for (contract key sensors): the plugin gives an optical "
                             "model to optical scenes and the 'any' model to the others")
    parser.add_argument("--export-only", action="store_true",
                        help="no training: export the --resume checkpoint as it is to --out (with its history), "
                             "then evaluate it unless --no-evaluate")
    parser.add_argument("--snapshots", default=None,
                        help="folder that receives the weights at every checkpoint, for --average")
    parser.add_argument("--average", nargs="+", default=None,
                        help="with --export-only: export the mean of these snapshot files' weights (stochastic "
                             "weight averaging), BatchNorm statistics recomputed on training batches")
    parser.add_argument("--sar-validation", default=",".join(SAR_VAL_GLACIERS),
                        help="SAR glaciers held out for validation (comma-separated CaFFe codes; '' for none)")
    parser.add_argument("--landsat-validation", default=",".join(LANDSAT_VAL_PATHROWS),
                        help="Landsat path/rows held out for validation (comma-separated, all path/rows of a "
                             "glacier; '' for none: with --sar-validation '' a final model trained on every "
                             "glacier)")
    parser.add_argument("--sar-unused", default="",
                        help="SAR glaciers used neither for training nor for validation (comma-separated), to "
                             "measure what a glacier adds")
    parser.add_argument("--landsat-unused", default="",
                        help="Landsat path/rows used neither for training nor for validation (comma-separated, "
                             "all path/rows of a glacier, e.g. 008011,009011,010011): a glacier the network never "
                             "sees, to choose settings on")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the front-distance evaluation")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="only evaluate the existing --out model on the held-out glaciers")


def net_config(args):
    widths = tuple(int(w) for w in args.widths.split(","))
    if len(widths) != 4:
        raise SystemExit(f"--widths needs four numbers (one per ResNet stage), not {args.widths!r}")
    if args.resume:  # the checkpoint's own network
        import torch

        return torch.load(args.resume, map_location="cpu", weights_only=True)["config"]
    return dict(NET_CONFIG, widths=widths, aspp_channels=args.aspp_channels, decoder_channels=args.decoder_channels,
                out_channels=3 if args.rock else 2)


def _split_glaciers(args):
    """(held-out, unused) SAR glacier codes and (held-out, unused) Landsat path/rows, checked (unknown codes,
    part of a Landsat glacier, a glacier in both lists)."""
    try:
        held, unused = sar_glaciers(args.sar_validation), sar_glaciers(args.sar_unused)
        landsat_held, landsat_unused = landsat_pathrows(args.landsat_validation), landsat_pathrows(args.landsat_unused)
    except ValueError as exc:
        raise SystemExit(f"--sar-validation / --sar-unused / --landsat-validation / --landsat-unused: {exc}")
    for a, b in ((held, unused), (landsat_held, landsat_unused)):
        if set(a) & set(b):
            raise SystemExit(f"{', '.join(sorted(set(a) & set(b)))} is both held out and unused")
    return held, unused, landsat_held, landsat_unused


def _split_record(held, unused, landsat_held, landsat_unused):
    """The split as a checkpoint records it; the Landsat keys only when they differ from their defaults, so
    checkpoints from before those options resume without a warning."""
    split = {"sar_validation": ",".join(held), "sar_unused": ",".join(unused)}
    if landsat_held != LANDSAT_VAL_PATHROWS:
        split["landsat_validation"] = ",".join(landsat_held)
    if landsat_unused:
        split["landsat_unused"] = ",".join(landsat_unused)
    return split


def _same_split(checkpoint, split):
    """SystemExit unless ``checkpoint`` was trained with ``split``. A key it lacks had its default (checkpoints
    from before an option): Jorum held out, nothing unused."""
    import torch

    settings = torch.load(checkpoint, map_location="cpu", weights_only=True)["settings"]
    defaults = dict(sar_validation=",".join(SAR_VAL_GLACIERS), sar_unused="",
                    landsat_validation=",".join(LANDSAT_VAL_PATHROWS), landsat_unused="")
    differ = {k: (settings.get(k, d), split.get(k, d)) for k, d in defaults.items()
              if settings.get(k, d) != split.get(k, d)}
    if differ:
        raise SystemExit("the checkpoint was trained with another split (checkpoint, this command): "
                         f"{differ}; give the same --sar-validation, --sar-unused, --landsat-validation and "
                         "--landsat-unused")


def load_data(data_root, limit=None, log=print, sar_validation=SAR_VAL_GLACIERS, sar_unused=(), landsat_unused=(),
              landsat_validation=LANDSAT_VAL_PATHROWS):
    from .data import load_landsat, load_sar, split

    root = Path(data_root)
    t = time.time()
    names_l = names_s = None
    if limit:
        # A few images of each dataset, training and validation glaciers alike.
        from .data import landsat_glacier
        all_l = sorted(p.name[: -len("_Subset.png")] for p in (root / "fronts-landsat/images").glob("*_Subset.png"))
        all_s = sorted(p.stem for p in (root / "fronts-sar/images").glob("*.png"))
        all_l = [n for n in all_l if landsat_glacier(n) not in landsat_unused]
        names_l = set([n for n in all_l if landsat_glacier(n) not in landsat_validation][:limit]
                      + [n for n in all_l if landsat_glacier(n) in landsat_validation][: max(1, limit // 4)])
        all_s = [n for n in all_s if n.split("_")[0] not in sar_unused]
        names_s = set([n for n in all_s if n.split("_")[0] not in sar_validation][:limit]
                      + [n for n in all_s if n.split("_")[0] in sar_validation][: max(1, limit // 4)])
    samples = load_landsat(root / "fronts-landsat", names_l) + load_sar(root / "fronts-sar", names_s)
    train, val = split(samples, sar_validation, sar_unused, landsat_unused, landsat_validation)
    log(f"loaded {len(samples)} images in {time.time() - t:.0f}s: {len(train)} training, {len(val)} validation "
        f"({sorted({s.glacier for s in val})})")
    return train, val


def main(args):
    import torch

    from ..export import export_onnx
    from .train import averaged, check_share, from_checkpoint, train

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    metrics_path = Path(args.metrics) if args.metrics else out.with_suffix(".metrics.json")
    for option, share in (("--landsat-share", args.landsat_share), ("--wet-snow", args.wet_snow)):
        try:  # before the data are loaded
            check_share(share)
        except ValueError as exc:
            raise SystemExit(f"{option}: {exc}")
    held, unused, landsat_held, landsat_unused = _split_glaciers(args)
    split = _split_record(held, unused, landsat_held, landsat_unused)
    if args.resume:  # before the data are loaded: a resumed or exported run keeps its checkpoint's split
        _same_split(args.resume, split)
    train_set, val_set = load_data(args.data, args.limit, sar_validation=held, sar_unused=unused,
                                   landsat_unused=landsat_unused, landsat_validation=landsat_held)
    if args.evaluate_only:
        if not val_set:
            raise SystemExit("--evaluate-only: no glacier is held out (--sar-validation and --landsat-validation)")
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        _evaluate(out, val_set, metrics, metrics_path, args.threads)
        return
    ckpt = Path(args.checkpoint) if args.checkpoint else Path("build/fronts") / (out.stem + ".pt")
    averaged_epochs = None
    settings = {k: v for k, v in vars(args).items() if k != "run"}
    if args.average and not args.export_only:
        raise SystemExit("--average goes with --export-only")
    if args.export_only:
        if not args.resume:
            raise SystemExit("--export-only needs --resume CHECKPOINT (the checkpoint to export)")
        net, history, trained_with = from_checkpoint(args.resume)
        settings.update(trained_with)  # how the checkpoint was trained, not this command's defaults
        ckpt = Path(args.resume)
        if args.average:
            net, averaged_epochs = averaged(args.average, train_set)
            print(f"averaged the weights of {len(averaged_epochs)} snapshots "
                  f"(epochs {averaged_epochs[0]}-{averaged_epochs[-1]})")
    else:
        config = net_config(args)
        net, history = train(
            train_set, val_set, net_config=config, epochs=args.epochs, minutes=args.minutes,
            batch_size=args.batch_size, samples_per_epoch=args.samples_per_epoch, crop=args.crop, lr=args.lr,
            seed=args.seed, init=args.init,
            meta=model_metadata(args.tile_size, args.overlap, outputs=config.get("out_channels", 2)),
            lr_schedule=args.lr_schedule, checkpoint=ckpt, checkpoint_every=args.checkpoint_every,
            resume=args.resume, augment=args.augment, snapshots=args.snapshots, split=split,
            coast_weight=args.coast_weight, landsat_share=args.landsat_share, zoom=args.zoom,
            wet_snow=args.wet_snow,
        )
    outputs = net.config.get("out_channels", 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    note = f"(trained {len(history)} epochs on CPU)"
    if args.init:
        note = f"(continued for {len(history)} epochs on CPU from {Path(args.init).name})"
    if averaged_epochs:
        note = (f"(trained {len(history)} epochs on CPU; weights averaged over epochs {averaged_epochs[0]}-"
                f"{averaged_epochs[-1]})")
    meta = model_metadata(args.tile_size, args.overlap, note, outputs=outputs, sensors=args.sensors)
    export_onnx(net, out, meta)
    metrics = {
        "settings": settings,
        "net_config": net.config,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_images": len(train_set),
        "validation_images": len(val_set),
        "validation_glaciers": sorted({s.glacier for s in val_set}),
        "train_glaciers": sorted({s.glacier for s in train_set}),
        "history": history,
        "averaged_epochs": averaged_epochs,
    }
    metrics_path.write_text(json.dumps(metrics, indent=2))
    saved = "exported from the checkpoint" if args.export_only else "and the checkpoint"
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), {metrics_path} {saved} {ckpt}")
    if not args.no_evaluate and val_set:
        _evaluate(out, val_set, metrics, metrics_path, args.threads)


def _evaluate(out, val_set, metrics, metrics_path, threads):
    """Held-out front distances through the engine, into the metrics JSON and the model card."""
    from .card import write_card
    from .evaluate import evaluate_model

    metrics["evaluation"] = evaluate_model(out, val_set, threads=threads)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics["evaluation"]["summary"], indent=2))
    card = write_card(out.with_suffix(".md"), metrics, out)
    print(f"wrote {card}")
