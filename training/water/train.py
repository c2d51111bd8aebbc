"""The water U-Net's loss, augmentation, training loop and validation through the engine's inference."""

import time

import numpy as np

from plugin.engine.core import normalize
from plugin.engine.core.inference import predict_array


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


def iou(pred, label):
    valid = label != 255
    p, t = pred & valid, (label == 1) & valid
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else float("nan")


def otsu_baseline(sar, label, stats, norms):
    """Global Otsu threshold on the sum of the normalised channels (dark = water)."""
    from skimage.filters import threshold_otsu

    valid = label != 255
    x = normalize.apply(sar, valid, norms, stats).sum(axis=0)
    t = threshold_otsu(x[valid])
    return iou((x < t) & valid, label), float(t)


def scenes_iou(model, scenes, middle=False):
    """IoU pooled over validation scenes, each run through the engine's tiled inference.

    ``scenes``: (raw (C, H, W), valid (H, W), engine stats, label (H, W)).
    ``middle``: only the middle 40 % of each scene's rows (same statistics), for cheap checks.
    """
    pred, labels = [], []
    for raw, valid, stats, label in scenes:
        h = label.shape[0]
        rows = slice(h * 3 // 10, h * 7 // 10) if middle else slice(None)
        prob = predict_array(model, raw[:, rows], valid[rows], stats=stats)[0]
        pred.append((prob > 0.5).ravel())
        labels.append(label[rows].ravel())
    return iou(np.concatenate(pred), np.concatenate(labels))


def fit(net, model, train_set, scenes, args, rng, log=print):
    """Train ``net`` on ``train_set`` crops until ``args.minutes`` / ``args.steps``; keep the best weights.

    ``model``: ``net`` as the engine's model (``TorchModel``), so validation runs the plugin's
    inference. Returns (steps, [(step, IoU)]).
    """
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60.0
    start = time.time()
    best, best_state, step, history = -1.0, None, 0, []

    def progress():
        f = (time.time() - start) / budget if budget > 0 else 0.0
        if args.steps:
            f = max(f, step / args.steps)
        return f

    # During training a middle band of the held-out block keeps checks cheap; a separate
    # selection block (--select-cols) is checked whole.
    middle = not args.select_cols
    while progress() < 1.0:
        net.train()
        xs, ys = zip(*(augment(rng, *train_set.sample(rng, args.tile)) for _ in range(args.batch)))
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
        if scenes and (step % args.eval_every == 0 or progress() >= 1.0):
            score = scenes_iou(model, scenes, middle)
            history.append((step, round(score, 4)))
            log(f"step {step}: validation IoU {score:.4f}")
            if score > best:
                best = score
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return step, history
