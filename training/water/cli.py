"""Train the surface-water U-Net (ResNet encoder) and export it to ONNX.

Data: ``--etci FOLDER`` (the ETCI 2021 Sentinel-1 tiles; channels VV,VH) or
``--chips MANIFEST.csv`` (chips from the ``make_training_chips`` algorithm,
any channel set, e.g. HH,HV,RED,NIR,SWIR1,SWIR2,DEM,HAND). Loss: binary
cross-entropy with a positive-class weight plus soft Dice, both ignoring
label 255. Training stops after ``--minutes`` (wall time) or ``--steps``;
the learning rate follows a cosine over that budget and the weights with the
best validation IoU (the engine's tiled inference on raw values) are exported.
"""

import json
import time
from pathlib import Path

import numpy as np

DEFAULT_WIDTHS = "16,32,64,128"


def add_arguments(parser):
    parser.add_argument("--channels", default="VV,VH",
                        help="comma-separated channel names in model input order "
                             "(VV,VH | HH,HV[,DEM,HAND] | HH,HV,RED,NIR,SWIR1,SWIR2,DEM,HAND)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--etci", help="folder of the ETCI 2021 tiles (vv/, vh/, flood_label/, water_body_label/)")
    src.add_argument("--chips", help="CSV manifest written by make_training_chips")
    parser.add_argument("--val-chips", help="manifest of validation chips (with --chips; "
                                            "default: no validation, the last weights are exported)")
    parser.add_argument("--val-cols", default="8,13",
                        help="ETCI tile columns held out for validation (first,last; a spatial block)")
    parser.add_argument("--select-cols", default=None,
                        help="ETCI tile columns (first,last) of a second held-out block used to pick the "
                             "checkpoint, so the --val-cols block stays an untouched test; default: pick on "
                             "the middle of the --val-cols block")
    parser.add_argument("--small-scenes", type=float, default=0.0,
                        help="share of ETCI crops normalised by the percentiles of 1-3 tile blocks")
    parser.add_argument("--out", required=True, help="output .onnx path")
    parser.add_argument("--tile", type=int, default=128, help="training crop size in pixels")
    parser.add_argument("--infer-tile", type=int, default=256,
                        help="tile size written to the metadata (inference and validation)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--widths", default=DEFAULT_WIDTHS, help="encoder widths of the four ResNet stages")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--minutes", type=float, default=35.0, help="wall-time budget for training")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: time only)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--pos-weight", type=float, default=2.0, help="BCE weight of the water class")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overlap", type=int, default=32, help="recommended inference overlap (metadata)")
    parser.add_argument("--pixel-size", type=float, default=10.0, help="training pixel size in metres (metadata)")
    parser.add_argument("--training-data", default=None, help="training data credit (metadata)")
    parser.add_argument("--license", default="CC BY 4.0", help="licence of the weights (metadata)")
    parser.add_argument("--version", default="1.0")
    parser.add_argument("--input-scale", choices=("auto", "any", "calibrated", "render8"), default="auto",
                        help="what the model's input values are (metadata input_scale); auto: render8 for "
                             "--etci (8-bit tiles, each stretched on its own), any for chips")
    parser.add_argument("--init", help="start from these torch weights (.pt written by an earlier run)")
    parser.add_argument("--report", help="write the measured numbers as JSON here (default: OUT.json)")


ETCI_CREDIT = (
    "ETCI 2021 Competition on Flood Detection (NASA IMPACT / ESA): Sentinel-1 VV/VH tiles of "
    "Bangladesh, 2017-03-14, with flood and permanent water body labels; contains modified "
    "Copernicus Sentinel data 2017. Water = flood OR permanent water body."
)



def etci_data(args, log=print):
    """(training set, validation scenes, Otsu IoU, credit) from the ETCI tiles."""
    from plugin.engine.core import normalize

    from . import data
    from .train import otsu_baseline

    a, b = (int(v) for v in args.val_cols.split(","))
    select = tuple(int(v) for v in args.select_cols.split(",")) if args.select_cols else None
    train = data.EtciScene(args.etci, val_cols=(a, b), small_scenes=args.small_scenes, select_cols=select)
    sar, label = train.validation_block(select)
    valid = label != data.IGNORE
    if select:
        # Checkpoints are picked on the selection block as a raster of its own (its own percentiles),
        # the way the plugin meets a user's GeoTIFF; the --val-cols block is only measured afterwards.
        stats = normalize.array_stats(sar, valid, train.norms)
    else:
        # Validation the way the plugin runs on the mosaicked scene: the whole scene's percentiles.
        stats = normalize.array_stats(train.sar, train.valid, train.norms)
    otsu_iou, _ = otsu_baseline(sar, label, stats, train.norms)
    block = f"selection block x {select[0]}-{select[1]}" if select else f"held-out block x {a}-{b}"
    log(f"{block}: {label.shape[1]} x {label.shape[0]} px, "
        f"water {np.mean(label[valid] == 1):.3f}; global Otsu IoU {otsu_iou:.3f}")
    return train, [(sar, valid, stats, label)], otsu_iou, args.training_data or ETCI_CREDIT


def chip_data(args, channels):
    """(training set, validation scenes, None, credit) from make_training_chips manifests."""
    from . import data

    train = data.ChipSet(args.chips, channels)
    scenes = data.ChipSet(args.val_chips, channels).validation_scenes() if args.val_chips else []
    return train, scenes, None, args.training_data or f"user chips from {Path(args.chips).name}"


def model_metadata(args, channels, norms, credit):
    return {
        "task": "water",
        "channels": channels,
        "normalization": norms,
        "tile_size": args.infer_tile,
        "overlap": args.overlap,
        "outputs": [{"name": "water", "description": "probability that the pixel is open surface water"}],
        "pixel_size_m": args.pixel_size,
        "version": args.version,
        "training_data": credit,
        "license": args.license,
        "description": f"ResNet-U-Net (widths {args.widths}) surface water from {','.join(channels)}",
        "input_scale": ("render8" if args.etci else "any") if args.input_scale == "auto" else args.input_scale,
    }


def main(args):
    import torch

    from training.export import export_onnx
    from training.torch_model import TorchModel

    from .train import build_net, fit, scenes_iou

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    widths = [int(w) for w in args.widths.split(",")]
    out = Path(args.out)
    log = print

    if args.etci:
        if channels != ["VV", "VH"]:
            raise SystemExit("--etci provides VV,VH only; use --channels VV,VH")
        train, scenes, otsu_iou, credit = etci_data(args, log)
    else:
        train, scenes, otsu_iou, credit = chip_data(args, channels)
    meta = model_metadata(args, channels, train.norms, credit)
    net = build_net(len(channels), widths)
    if args.init:
        net.load_state_dict(torch.load(args.init, map_location="cpu"))
    model = TorchModel(net, meta)
    start = time.time()
    step, history = fit(net, model, train, scenes, args, rng, log)
    final = scenes_iou(model, scenes) if scenes else None
    minutes = (time.time() - start) / 60.0
    log(f"trained {step} steps in {minutes:.1f} min; exported weights validation IoU {final}")

    export_onnx(net.eval(), out, meta, sample_size=args.infer_tile)
    report_path = Path(args.report or out.with_suffix(".json"))
    # The torch weights, to continue training with --init (kept out of weights/).
    torch.save(net.state_dict(), report_path.with_suffix(".pt"))
    report = {
        "channels": channels, "steps": step, "minutes": round(minutes, 1), "batch": args.batch,
        "tile": args.tile, "infer_tile": args.infer_tile, "widths": widths, "validation_iou": final,
        "otsu_iou": otsu_iou, "val_cols": args.val_cols if args.etci else None, "select_cols": args.select_cols,
        "history": history,
        "size_bytes": out.stat().st_size,
    }
    report_path.write_text(json.dumps(report, indent=1))
    log(json.dumps(report))
    return report
