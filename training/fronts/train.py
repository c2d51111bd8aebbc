"""Training loop for the dual-head (front edge, ice/land mask) DeepLabV3+."""

import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from ..nets.deeplab import DeepLabV3Plus
from .data import Augment

EDGE_POS_WEIGHT = 10.0  # fronts cover ~1-2 % of a crop


def soft_iou_loss(prob, target, weight):
    """-ln of the soft IoU over the whole batch (CALFIN's IoU term)."""
    inter = (prob * target * weight).sum()
    union = ((prob + target - prob * target) * weight).sum()
    return -torch.log((inter + 1.0) / (union + 1.0))


def loss_fn(logits, target):
    """Weighted BCE + (-ln soft IoU) on the edge head and on the ice head.

    ``target`` channels: edge, ice, ice weight (0 = unknown), inside image.
    Returns the total and its four parts.
    """
    edge_t, ice_t, ice_w, inside = target.unbind(1)
    pos_weight = torch.tensor(EDGE_POS_WEIGHT, device=logits.device)
    bce_edge = F.binary_cross_entropy_with_logits(logits[:, 0], edge_t, pos_weight=pos_weight, reduction="none")
    bce_edge = (bce_edge * inside).sum() / inside.sum().clamp(min=1)
    iou_edge = soft_iou_loss(torch.sigmoid(logits[:, 0]), edge_t, inside)
    bce_ice = F.binary_cross_entropy_with_logits(logits[:, 1], ice_t, reduction="none")
    bce_ice = (bce_ice * ice_w).sum() / ice_w.sum().clamp(min=1)
    iou_ice = soft_iou_loss(torch.sigmoid(logits[:, 1]), ice_t, ice_w)
    parts = (bce_edge, iou_edge, bce_ice, iou_ice)
    return sum(parts), parts


def load_weights(path):
    """State dict from a checkpoint written by ``python -m training fronts`` ({config, state}) or a bare one."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return saved["state"] if "state" in saved else saved


def calibration_batch(samples, n=16, size=192):
    """Top-left crops of up to ``n`` images, scaled as in training, for BatchNorm statistics."""
    crops = [s.image[:, :size, :size] for s in samples[:: max(1, len(samples) // n)][:n]]
    h = min(c.shape[1] for c in crops)
    w = min(c.shape[2] for c in crops)
    return torch.from_numpy(np.stack([c[:, :h, :w] for c in crops]).astype(np.float32) / 255.0)


def pad_to(x, multiple=16):
    """Pad a (C, H, W) array at the bottom/right so H and W are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return np.pad(x, ((0, 0), (0, ph), (0, pw))), (h, w)


@torch.no_grad()
def predict_samples(net, samples):
    """Probabilities (2, H, W) per sample, whole images, with the net in eval mode."""
    net.eval()
    out = []
    for s in samples:
        x, (h, w) = pad_to(s.image.astype(np.float32) / 255.0)
        prob = torch.sigmoid(net(torch.from_numpy(x)[None]))[0, :, :h, :w].numpy()
        out.append(prob)
    return out


@torch.no_grad()
def validate(net, samples):
    """Loss and pixel metrics (ice IoU on known pixels, edge F1 within 2 px) on whole images."""
    if not samples:
        return {}
    probs = predict_samples(net, samples)
    losses, inter, union, tp_p, n_p, tp_r, n_r = [], 0, 0, 0, 0, 0, 0
    for s, prob in zip(samples, probs):
        target = np.stack([s.edge, s.ice, s.ice_weight, np.ones_like(s.edge)]).astype(np.float32)
        logits = torch.logit(torch.from_numpy(prob).clamp(1e-6, 1 - 1e-6))[None]
        losses.append(float(loss_fn(logits, torch.from_numpy(target)[None])[0]))
        known = s.ice_weight > 0
        pred_ice, true_ice = prob[1] > 0.5, s.ice > 0
        inter += int((pred_ice & true_ice & known).sum())
        union += int(((pred_ice | true_ice) & known).sum())
        # Edge precision/recall with a 2 px tolerance against the thin reference line.
        from scipy import ndimage
        pred_edge = prob[0] > 0.5
        near_true = ndimage.binary_dilation(s.edge_1px > 0, iterations=2)
        near_pred = ndimage.binary_dilation(pred_edge, iterations=2)
        tp_p += int((pred_edge & near_true).sum())
        n_p += int(pred_edge.sum())
        tp_r += int(((s.edge_1px > 0) & near_pred).sum())
        n_r += int((s.edge_1px > 0).sum())
    precision = tp_p / max(n_p, 1)
    recall = tp_r / max(n_r, 1)
    return {
        "loss": float(np.mean(losses)),
        "ice_iou": inter / max(union, 1),
        "edge_precision_2px": precision,
        "edge_recall_2px": recall,
        "edge_f1_2px": 2 * precision * recall / max(precision + recall, 1e-9),
    }


def batches(train, batch_size, samples_per_epoch, augment, rng, landsat_share=0.5):
    """Random batches; Landsat and SAR drawn in ``landsat_share`` proportion (fewer Landsat images)."""
    landsat = [s for s in train if s.source == "landsat"]
    sar = [s for s in train if s.source != "landsat"]
    for _ in range(max(1, samples_per_epoch // batch_size)):
        xs, ts = [], []
        for _ in range(batch_size):
            pool = landsat if (landsat and (not sar or rng.random() < landsat_share)) else sar
            x, t = augment(pool[int(rng.integers(len(pool)))])
            xs.append(x)
            ts.append(t)
        yield torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


def train(train_samples, val_samples, *, net_config=None, epochs=100, minutes=None, batch_size=8,
          samples_per_epoch=512, crop=192, lr=2e-3, weight_decay=1e-4, seed=0, val_every=5, log=None,
          init=None):
    """Train and return (net, history). Stops after ``epochs`` or when ``minutes`` run out.

    The learning rate follows a cosine from ``lr`` to ~0 over the run; with a
    time budget the schedule runs on elapsed time so a budgeted run still ends
    at a low learning rate. ``init`` is a checkpoint saved by this job (or a
    plain state_dict), or an ONNX model this job exported, to start from; the
    optimiser and schedule start fresh.
    """
    log = log or (lambda text: print(text, flush=True))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DeepLabV3Plus(**(net_config or {}))
    if init and str(init).endswith(".onnx"):
        from ..nets.from_onnx import load_onnx_into

        load_onnx_into(net, init, calibration_batch(train_samples))
    elif init:
        net.load_state_dict(load_weights(init))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    augment = Augment(crop=crop, rng=rng)
    history = []
    start = time.time()
    budget = minutes * 60 if minutes else None
    epoch = 0
    for epoch in range(1, epochs + 1):
        net.train()
        sums, n = np.zeros(5), 0
        for x, t in batches(train_samples, batch_size, samples_per_epoch, augment, rng):
            frac = (epoch - 1) / epochs
            if budget:
                frac = max(frac, (time.time() - start) / budget)
            for group in opt.param_groups:
                group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
            total, parts = loss_fn(net(x), t)
            opt.zero_grad()
            total.backward()
            opt.step()
            sums += [float(total.detach())] + [float(p.detach()) for p in parts]
            n += 1
        row = {"epoch": epoch, "seconds": round(time.time() - start, 1), "lr": opt.param_groups[0]["lr"],
               "train_loss": sums[0] / n, "train_parts": list(sums[1:] / n)}
        out_of_time = budget is not None and time.time() - start > budget
        if val_samples and (epoch % val_every == 0 or epoch == epochs or out_of_time):
            row["val"] = validate(net, val_samples)
        history.append(row)
        log(_format(row))
        if out_of_time:
            log(f"time budget of {minutes} min reached after {epoch} epochs")
            break
    net.eval()
    return net, history


def _format(row):
    text = f"epoch {row['epoch']:3d} {row['seconds']:7.0f}s lr {row['lr']:.2e} train {row['train_loss']:.3f}"
    if "val" in row:
        v = row["val"]
        text += (f" | val loss {v['loss']:.3f} ice IoU {v['ice_iou']:.3f}"
                 f" edge F1@2px {v['edge_f1_2px']:.3f}")
    return text
