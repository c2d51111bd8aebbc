"""Train and export the CALFIN-style calving-front model (DeepLabV3+, front edge + ice/land mask).

``python -m training fronts --out weights/calving_front.onnx`` loads the
Landsat and SAR front datasets from ``../shared/data``, holds out one Landsat
glacier and one SAR glacier for validation, trains, exports ONNX with the
Waterline model contract, evaluates front distances on the held-out glaciers
through the plugin's engine, and writes a metrics JSON next to the model.
"""

import json
import time
from pathlib import Path

import torch

MODEL_VERSION = "1.0.0"
TRAINING_DATA = (
    "Landsat 5/7/8 calving-front subsets of Greenland glaciers from Mohajerani, Wood, Velicogna & Rignot (2019), "
    "Detection of Glacier Calving Margins with Convolutional Neural Networks: A Case Study, Remote Sensing 11(1):74, "
    "doi:10.3390/rs11010074, licence CC BY 4.0; SAR images, fronts and zones (subset of CaFFe) from Gourmelon et al. "
    "(2022), Calving fronts and where to find them: a benchmark dataset and methodology for automatic glacier "
    "calving front extraction from SAR imagery, Earth System Science Data 14:4287, doi:10.5194/essd-14-4287-2022, "
    "licence CC BY 4.0."
)
CHANNELS = "RAW,LOCAL_CONTRAST,SHADOWS_HIGHLIGHTS"
NET_CONFIG = dict(widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), aspp_channels=64, low_channels=24,
                  decoder_channels=64)


def add_arguments(parser):
    parser.add_argument("--data", default="../shared/data", help="folder holding fronts-landsat/ and fronts-sar/")
    parser.add_argument("--out", default="weights/calving_front.onnx", help="ONNX file to write")
    parser.add_argument("--metrics", default=None, help="metrics JSON (default: <out>.metrics.json)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=None, help="stop training after this wall time")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples-per-epoch", type=int, default=512)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--init", default=None,
                        help="start from saved weights: a torch checkpoint of this job or an ONNX model it exported "
                             "(e.g. weights/calving_front.onnx), same NET_CONFIG")
    parser.add_argument("--checkpoint", default=None,
                        help="where to save the final torch weights (default: build/fronts/<out stem>.pt)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use at most this many images per dataset")
    parser.add_argument("--tile-size", type=int, default=256, help="tile size written into the model contract")
    parser.add_argument("--overlap", type=int, default=64, help="overlap written into the model contract")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the front-distance evaluation")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="only evaluate the existing --out model on the held-out glaciers")


def model_metadata(tile_size=256, overlap=64, history_note=""):
    return {
        "task": "calving_front",
        "channels": CHANNELS,
        "normalization": [{"method": "scale", "scale": 1 / 255.0, "offset": 0.0} for _ in range(3)],
        "tile_size": tile_size,
        "overlap": overlap,
        "outputs": [
            {"name": "front", "description": "probability that the pixel lies on the calving front (3 px wide)"},
            {"name": "ice", "description": "probability of glacier ice or land (versus ocean and ice melange)"},
        ],
        "pixel_size_m": 50.0,
        "version": MODEL_VERSION,
        "training_data": TRAINING_DATA,
        "license": "CC BY 4.0 (weights derived from CC BY 4.0 data; credit both datasets)",
        "description": "CALFIN-style DeepLabV3+ calving-front model (front edge + ice/land mask) " + history_note,
    }


def load_data(data_root, limit=None, log=print):
    from .data import load_landsat, load_sar, split

    root = Path(data_root)
    t = time.time()
    names_l = names_s = None
    if limit:
        # A few images of each dataset, training and validation glaciers alike.
        from .data import LANDSAT_VAL_PATHROWS, SAR_VAL_GLACIERS, landsat_glacier
        all_l = sorted(p.name[: -len("_Subset.png")] for p in (root / "fronts-landsat/images").glob("*_Subset.png"))
        all_s = sorted(p.stem for p in (root / "fronts-sar/images").glob("*.png"))
        names_l = set([n for n in all_l if landsat_glacier(n) not in LANDSAT_VAL_PATHROWS][:limit]
                      + [n for n in all_l if landsat_glacier(n) in LANDSAT_VAL_PATHROWS][: max(1, limit // 4)])
        names_s = set([n for n in all_s if n.split("_")[0] not in SAR_VAL_GLACIERS][:limit]
                      + [n for n in all_s if n.split("_")[0] in SAR_VAL_GLACIERS][: max(1, limit // 4)])
    samples = load_landsat(root / "fronts-landsat", names_l) + load_sar(root / "fronts-sar", names_s)
    train, val = split(samples)
    log(f"loaded {len(samples)} images in {time.time() - t:.0f}s: {len(train)} training, {len(val)} validation "
        f"({sorted({s.glacier for s in val})})")
    return train, val


def main(args):
    from ..export import export_onnx
    from .train import train

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    metrics_path = Path(args.metrics) if args.metrics else out.with_suffix(".metrics.json")
    train_set, val_set = load_data(args.data, args.limit)
    if args.evaluate_only:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        _evaluate(out, val_set, metrics, metrics_path)
        return
    net, history = train(
        train_set, val_set, net_config=NET_CONFIG, epochs=args.epochs, minutes=args.minutes,
        batch_size=args.batch_size, samples_per_epoch=args.samples_per_epoch, crop=args.crop, lr=args.lr,
        seed=args.seed, init=args.init,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = Path(args.checkpoint) if args.checkpoint else Path("build/fronts") / (out.stem + ".pt")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": net.config, "state": net.state_dict()}, ckpt)
    note = f"(trained {len(history)} epochs on CPU)"
    if args.init:
        note = f"(continued for {len(history)} epochs on CPU from {Path(args.init).name})"
    meta = model_metadata(args.tile_size, args.overlap, note)
    export_onnx(net, out, meta)
    metrics = {
        "settings": {k: v for k, v in vars(args).items() if k != "run"},
        "net_config": net.config,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_images": len(train_set),
        "validation_images": len(val_set),
        "validation_glaciers": sorted({s.glacier for s in val_set}),
        "history": history,
    }
    metrics_path.write_text(json.dumps(metrics, indent=2))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {metrics_path}")
    if not args.no_evaluate and val_set:
        _evaluate(out, val_set, metrics, metrics_path)


def _evaluate(out, val_set, metrics, metrics_path):
    """Held-out front distances through the engine, into the metrics JSON and the model card."""
    from .card import write_card
    from .evaluate import evaluate_model

    metrics["evaluation"] = evaluate_model(out, val_set)
    metrics_path.write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics["evaluation"]["summary"], indent=2))
    card = write_card(out.with_suffix(".md"), metrics, out)
    print(f"wrote {card}")
