"""Train the surface-water U-Net (ResNet encoder) and export it to ONNX.

Data: ``--etci FOLDER`` (the ETCI 2021 Sentinel-1 tiles; channels VV,VH) or
``--chips MANIFEST.csv`` (chips from the ``make_training_chips`` algorithm,
any channel set, e.g. HH,HV,RED,NIR,SWIR1,SWIR2,DEM,HAND). Loss: binary
cross-entropy with a positive-class weight plus soft Dice, both ignoring
label 255. Training stops after ``--minutes`` (wall time) or ``--steps``;
the learning rate follows a cosine over that budget and the weights with the
best validation IoU are exported.
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
    parser.add_argument("--init", help="start from these torch weights (.pt written by an earlier run)")
    parser.add_argument("--report", help="write the measured numbers as JSON here (default: OUT.json)")


ETCI_CREDIT = (
    "ETCI 2021 Competition on Flood Detection (NASA IMPACT / ESA): Sentinel-1 VV/VH tiles of "
    "Bangladesh, 2017-03-14, with flood and permanent water body labels; contains modified "
    "Copernicus Sentinel data 2017. Water = flood OR permanent water body."
)


def build_net(n_in, widths):
    from training.nets.unet import ResNetUNet

    return ResNetUNet(n_in, classes=1, widths=tuple(widths))


def loss_fn(logits, target, pos_weight):
    import torch
    from torch.nn import functional as F

    valid = (target != 255).float()
    y = (target == 1).float()
    weight = valid * (1.0 + (pos_weight - 1.0) * y)
    bce = F.binary_cross_entropy_with_logits(logits, y, weight=weight, reduction="sum")
    bce = bce / valid.sum().clamp(min=1.0)
    p = torch.sigmoid(logits) * valid
    inter = (p * y).sum()
    dice = 1.0 - (2 * inter + 1.0) / (p.sum() + (y * valid).sum() + 1.0)
    return bce + dice


def augment(rng, x, y):
    """Flips, 90-degree turns and a random affine change of each channel's stretch."""
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    valid = y != 255
    gain = rng.uniform(0.8, 1.25, size=(x.shape[0], 1, 1)).astype(np.float32)
    bias = rng.uniform(-0.1, 0.1, size=(x.shape[0], 1, 1)).astype(np.float32)
    x = np.clip(x * gain + bias, 0.0, 1.0) * valid
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y)


def predict_scene(net, x, tile=256, overlap=32, batch=8):
    """Probabilities (H, W) for a normalised (C, H, W) array, tiled with overlap."""
    import torch

    c, h, w = x.shape
    step = tile - 2 * overlap
    hh, ww = -(-h // step) * step, -(-w // step) * step
    pads = ((0, 0), (overlap, overlap + hh - h), (overlap, overlap + ww - w))
    mode = "reflect" if max(overlap + hh - h, overlap + ww - w) < min(h, w) else "constant"
    xp = np.pad(x, pads, mode=mode)
    out = np.zeros((hh, ww), np.float32)
    origins = [(r, col) for r in range(0, hh, step) for col in range(0, ww, step)]
    net.eval()
    with torch.no_grad():
        for i in range(0, len(origins), batch):
            part = origins[i:i + batch]
            t = torch.from_numpy(np.stack([xp[:, r:r + tile, col:col + tile] for r, col in part]))
            p = torch.sigmoid(net(t))[:, 0].numpy()
            for (r, col), pi in zip(part, p):
                core = pi[overlap:overlap + step, overlap:overlap + step]
                out[r:r + step, col:col + step] = core
    return out[:h, :w]


def iou(pred, label):
    valid = label != 255
    p, t = pred & valid, (label == 1) & valid
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else float("nan")


def otsu_baseline(sar, label, limits, norms):
    """Global Otsu threshold on the sum of the normalised channels (dark = water)."""
    from skimage.filters import threshold_otsu

    from . import normalize

    valid = label != 255
    x = sum(normalize.apply(sar[c], norms[c], limits[c]) for c in range(len(norms)))
    t = threshold_otsu(x[valid])
    return iou((x < t) & valid, label), float(t)


def main(args):
    import torch

    from training.export import export_onnx

    from . import data, normalize

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    widths = [int(w) for w in args.widths.split(",")]
    out = Path(args.out)
    log = print

    val_x = val_y = None
    if args.etci:
        if channels != ["VV", "VH"]:
            raise SystemExit("--etci provides VV,VH only; use --channels VV,VH")
        a, b = (int(v) for v in args.val_cols.split(","))
        select = tuple(int(v) for v in args.select_cols.split(",")) if args.select_cols else None
        train = data.EtciScene(args.etci, val_cols=(a, b), small_scenes=args.small_scenes, select_cols=select)
        norms = train.norms
        if select:
            # Checkpoints are picked on the selection block as a raster of its own (its own percentiles),
            # the way the plugin meets a user's GeoTIFF; the --val-cols block is only measured afterwards.
            sar, val_y = train.validation_block(select)
            limits = [normalize.scene_limits(sar[c][val_y != 255], norms[c], sar.dtype) for c in range(2)]
        else:
            # Validation the way the plugin runs on the mosaicked scene: the whole scene's percentiles.
            limits = train.scene_limits()
            sar, val_y = train.validation_block()
        val_x = np.stack([normalize.apply(sar[c], norms[c], limits[c]) for c in range(2)])
        val_x[:, val_y == 255] = 0.0
        otsu_iou, _ = otsu_baseline(sar, val_y, limits, norms)
        block = f"selection block x {select[0]}-{select[1]}" if select else f"held-out block x {a}-{b}"
        log(f"{block}: {val_y.shape[1]} x {val_y.shape[0]} px, "
            f"water {np.mean(val_y[val_y != 255] == 1):.3f}; global Otsu IoU {otsu_iou:.3f}")
        credit = args.training_data or ETCI_CREDIT
    else:
        train = data.ChipSet(args.chips, channels)
        norms = train.norms
        otsu_iou = None
        if args.val_chips:
            val = data.ChipSet(args.val_chips, channels)
            xs, ys = zip(*(val.sample(np.random.default_rng(i), args.infer_tile) for i in range(len(val))))
            val_x, val_y = np.concatenate(xs, axis=2), np.concatenate(ys, axis=1)
        credit = args.training_data or f"user chips from {Path(args.chips).name}"

    net = build_net(len(channels), widths)
    if args.init:
        net.load_state_dict(torch.load(args.init, map_location="cpu"))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60.0
    start = time.time()
    best, best_state, step, history = -1.0, None, 0, []

    def progress():
        f = (time.time() - start) / budget if budget > 0 else 0.0
        if args.steps:
            f = max(f, step / args.steps)
        return f

    def evaluate(full=True):
        if val_x is None:
            return None
        # During training a middle band of the held-out block keeps checks cheap.
        rows = slice(None) if full or args.select_cols else slice(val_x.shape[1] * 3 // 10, val_x.shape[1] * 7 // 10)
        prob = predict_scene(net, val_x[:, rows], args.infer_tile, args.overlap)
        return iou(prob > 0.5, val_y[rows])

    while progress() < 1.0:
        net.train()
        xs, ys = zip(*(augment(rng, *train.sample(rng, args.tile)) for _ in range(args.batch)))
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys).astype(np.int64)).unsqueeze(1)
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * min(progress(), 1.0)))
        for group in opt.param_groups:
            group["lr"] = max(lr, args.lr * 0.01)
        loss = loss_fn(net(x), y, args.pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 20 == 0:
            log(f"step {step} loss {loss.item():.4f} lr {lr:.2e} {time.time() - start:.0f}s")
        if step % args.eval_every == 0 or progress() >= 1.0:
            score = evaluate(full=False)
            if score is not None:
                history.append((step, round(score, 4)))
                log(f"step {step}: validation IoU {score:.4f}")
                if score > best:
                    best = score
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    final = evaluate()
    minutes = (time.time() - start) / 60.0
    log(f"trained {step} steps in {minutes:.1f} min; exported weights validation IoU {final}")

    meta = {
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
    }
    export_onnx(net.eval(), out, meta, sample_size=args.infer_tile)
    # The torch weights, to continue training with --init (kept out of weights/).
    state_path = Path(args.report or out.with_suffix(".json")).with_suffix(".pt")
    torch.save(net.state_dict(), state_path)
    report = {
        "channels": channels, "steps": step, "minutes": round(minutes, 1), "batch": args.batch,
        "tile": args.tile, "infer_tile": args.infer_tile, "widths": widths, "validation_iou": final,
        "otsu_iou": otsu_iou, "val_cols": args.val_cols if args.etci else None, "select_cols": args.select_cols,
        "history": history,
        "size_bytes": out.stat().st_size,
    }
    Path(args.report or out.with_suffix(".json")).write_text(json.dumps(report, indent=1))
    log(json.dumps(report))
    return report
