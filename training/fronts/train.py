"""Training loop for the multi-head DeepLabV3+: front edge, ice/land mask and, with a third output, rock."""

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch.nn import functional as F

from ..nets.deeplab import DeepLabV3Plus
from ..torch_model import TorchModel
from . import model_input, model_metadata
from .data import AUGMENTATIONS, Augment, sample_targets
from .evaluate import iou_counts, predict_probabilities

EDGE_POS_WEIGHT = 10.0  # fronts cover ~1-2 % of a crop
SCHEDULES = ("budget", "epochs")


def soft_iou_loss(prob, target, weight):
    """-ln of the soft IoU over the whole batch (CALFIN's IoU term)."""
    inter = (prob * target * weight).sum()
    union = ((prob + target - prob * target) * weight).sum()
    return -torch.log((inter + 1.0) / (union + 1.0))


def _masked_terms(logit, target, weight, pos_weight=None):
    """BCE over the pixels with weight (positives x ``pos_weight``) and -ln soft IoU of one head."""
    bce = F.binary_cross_entropy_with_logits(logit, target, pos_weight=pos_weight, reduction="none")
    bce = (bce * weight).sum() / weight.sum().clamp(min=1)
    return bce, soft_iou_loss(torch.sigmoid(logit), target, weight)


def loss_fn(logits, target):
    """Weighted BCE + (-ln soft IoU) on the edge head, on the ice head and (a third output) on the rock head.

    ``target`` channels (``data.targets``): edge, ice, ice weight (0 = unknown), edge weight (0 outside the
    image; ``Augment``'s coast weight on margins that are not front), rock, rock weight. Returns the total
    and its parts (four, or six with a rock head; a batch without any known rock pixel, all Landsat, adds
    exactly zero to the rock terms).
    """
    edge_t, ice_t, ice_w, edge_w, rock_t, rock_w = target.unbind(1)
    pos_weight = torch.tensor(EDGE_POS_WEIGHT, device=logits.device)
    parts = _masked_terms(logits[:, 0], edge_t, edge_w, pos_weight) + _masked_terms(logits[:, 1], ice_t, ice_w)
    if logits.shape[1] > 2:
        parts += _masked_terms(logits[:, 2], rock_t, rock_w)
    return sum(parts), parts


def load_weights(path):
    """State dict from a checkpoint written by ``python -m training fronts`` ({config, state, ...}) or a bare one."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return saved["state"] if "state" in saved else saved


def calibration_batch(samples, n=16, size=192):
    """Top-left crops of up to ``n`` images, normalised as in training, for BatchNorm statistics."""
    crops = [s.image[:, :size, :size] for s in samples[:: max(1, len(samples) // n)][:n]]
    h = min(c.shape[1] for c in crops)
    w = min(c.shape[2] for c in crops)
    return torch.from_numpy(np.stack([model_input(c[:, :h, :w]) for c in crops]))


@torch.no_grad()
def validate(net, samples, meta=None):
    """Loss and pixel metrics (ice IoU on known pixels, edge F1 within 2 px) on whole images.

    The images go through the engine's tiled inference (``meta``: the contract's
    tile size and overlap, default ``model_metadata()``), as the exported model will.
    """
    if not samples:
        return {}
    model = TorchModel(net, meta or model_metadata())
    losses, tp_p, n_p, tp_r, n_r = [], 0, 0, 0, 0
    ice_counts, rock_counts = np.zeros(2, int), np.zeros(2, int)  # (intersection, union)
    for s in samples:
        prob = predict_probabilities(model, s.image)
        target = sample_targets(s)
        logits = torch.logit(torch.from_numpy(prob).clamp(1e-6, 1 - 1e-6))[None]
        losses.append(float(loss_fn(logits, torch.from_numpy(target)[None])[0]))
        ice_counts += iou_counts(prob[1] > 0.5, s.ice > 0, s.ice_weight > 0)
        if len(prob) > 2:
            rock_counts += iou_counts(prob[2] > 0.5, s.rock > 0, s.rock_weight > 0)
        # Edge precision/recall with a 2 px tolerance against the thin reference line.
        pred_edge = prob[0] > 0.5
        near_true = ndimage.binary_dilation(s.edge_1px > 0, iterations=2)
        near_pred = ndimage.binary_dilation(pred_edge, iterations=2)
        tp_p += int((pred_edge & near_true).sum())
        n_p += int(pred_edge.sum())
        tp_r += int(((s.edge_1px > 0) & near_pred).sum())
        n_r += int((s.edge_1px > 0).sum())
    precision = tp_p / max(n_p, 1)
    recall = tp_r / max(n_r, 1)
    # plain floats: the history goes into checkpoints that torch.load(weights_only=True) reads
    rock = {"rock_iou": float(rock_counts[0] / rock_counts[1])} if rock_counts[1] else {}
    return {**rock,
        "loss": float(np.mean(losses)),
        "ice_iou": float(ice_counts[0] / max(ice_counts[1], 1)),
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


def check_share(share):
    """ValueError unless ``share`` (a chance: a sample drawn from Landsat, a SAR sample darkened) lies in 0..1."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share between 0 and 1, not {share}")


def train(train_samples, val_samples, *, net_config=None, epochs=100, minutes=None, batch_size=8,
          samples_per_epoch=512, crop=192, lr=2e-3, weight_decay=1e-4, seed=0, val_every=5, log=None,
          init=None, meta=None, lr_schedule="budget", checkpoint=None, checkpoint_every=5, resume=None,
          augment="basic", snapshots=None, split=None, coast_weight=1.0, landsat_share=0.5,
          zoom=(0.6, 1.5), wet_snow=0.0):
    """Train and return (net, history). Stops after ``epochs`` or when ``minutes`` run out.

    The learning rate follows a cosine from ``lr`` to ~0. ``lr_schedule``
    "budget": over ``epochs`` or the ``minutes`` budget, whichever ends first,
    so a budgeted run still ends at a low learning rate; "epochs": over
    ``epochs`` only (``minutes`` just stops the run), so a run continued with
    ``resume`` follows the schedule of one that never stopped. ``init`` is a
    checkpoint saved by this job (or a plain state_dict), or an ONNX model this
    job exported, to start from; the optimiser and schedule start fresh.
    ``checkpoint``: where the resumable state is written every
    ``checkpoint_every`` epochs and at the end; ``resume``: such a file, to
    continue from its epoch with its network, optimiser, RNG and history.
    ``meta``: the contract whose tiling validation uses (default ``model_metadata()``).
    ``augment``: "basic", "scale", "scale-sar" (the zoom on SAR samples only) or "strong" (``data.Augment``).
    ``snapshots``: a folder that receives the weights at every checkpoint (``save_snapshot``), for weight
    averaging (``averaged``). ``split``: how the samples were split (e.g. the held-out SAR glaciers), saved
    with the settings and compared on resume.
    ``coast_weight``: how much more the edge loss weighs the SAR margins that are not front (``data.Augment``).
    ``landsat_share``: the chance that a training sample is drawn from the Landsat images (``batches``).
    ``zoom``: the (smallest, largest) factor of the scale augmentation. ``wet_snow``: the share of SAR samples
    whose glacier is darkened (``data.wet_snow``).
    """
    if lr_schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, not {lr_schedule!r}")
    check_share(landsat_share)
    check_share(wet_snow)
    log = log or (lambda text: print(text, flush=True))
    settings = dict(epochs=epochs, lr=lr, lr_schedule=lr_schedule, batch_size=batch_size,
                    samples_per_epoch=samples_per_epoch, crop=crop, weight_decay=weight_decay, seed=seed,
                    augment=augment, **(split or {}))
    # Recorded only where they differ from the default, so checkpoints of runs before they existed resume
    # without a settings warning.
    settings.update({name: value for name, value, default in (("coast_weight", coast_weight, 1.0),
                                                              ("landsat_share", landsat_share, 0.5),
                                                              ("zoom", list(zoom), [0.6, 1.5]),
                                                              ("wet_snow", wet_snow, 0.0))
                     if value != default})
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    saved = torch.load(resume, map_location="cpu", weights_only=True) if resume else None
    net = DeepLabV3Plus(**(saved["config"] if saved else net_config or {}))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    done, history, best = 0, [], None
    if saved:
        done, history, best = _restore(saved, net, opt, rng, settings, log)
    elif init and str(init).endswith(".onnx"):
        from ..nets.from_onnx import load_onnx_into

        load_onnx_into(net, init, calibration_batch(train_samples))
    elif init:
        net.load_state_dict(load_weights(init))
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, not {augment!r}")
    augmenter = Augment(crop=crop, rng=rng, strong=augment == "strong", coast_weight=coast_weight,
                        scale=augment in ("scale", "scale-sar", "strong"),
                        scale_sources=("sar",) if augment == "scale-sar" else None, zoom=tuple(zoom),
                        wet_snow=wet_snow)
    start = time.time()
    earlier = history[-1]["seconds"] if history else 0.0  # training time of the runs this one continues
    budget = minutes * 60 if minutes else None
    for epoch in range(done + 1, epochs + 1):
        net.train()
        sums, n = np.zeros(1 + 2 * net.config["out_channels"]), 0
        for x, t in batches(train_samples, batch_size, samples_per_epoch, augmenter, rng, landsat_share):
            frac = (epoch - 1) / epochs
            if budget and lr_schedule == "budget":
                frac = max(frac, (time.time() - start) / budget)
            for group in opt.param_groups:
                group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
            total, parts = loss_fn(net(x), t)
            opt.zero_grad()
            total.backward()
            opt.step()
            sums += [float(total.detach())] + [float(p.detach()) for p in parts]
            n += 1
        row = {"epoch": epoch, "seconds": round(earlier + time.time() - start, 1), "lr": opt.param_groups[0]["lr"],
               "train_loss": float(sums[0] / n), "train_parts": [float(v) for v in sums[1:] / n]}
        out_of_time = budget is not None and time.time() - start > budget
        if val_samples and (epoch % val_every == 0 or epoch == epochs or out_of_time):
            row["val"] = validate(net, val_samples, meta)
            if best is None or row["val"]["edge_f1_2px"] > best["edge_f1_2px"]:
                best = dict(row["val"], epoch=epoch)
        history.append(row)
        done = epoch
        log(_format(row))
        if checkpoint and checkpoint_every and epoch % checkpoint_every == 0:
            save_checkpoint(checkpoint, net, opt, rng, done, history, best, settings)
            if snapshots:
                save_snapshot(snapshots, net, epoch)
        if out_of_time:
            log(f"time budget of {minutes} min reached after {epoch} epochs")
            break
    if checkpoint:
        save_checkpoint(checkpoint, net, opt, rng, done, history, best, settings)
    net.eval()
    return net, history


def save_checkpoint(path, net, opt, rng, epoch, history, best, settings):
    """Everything ``train(resume=...)`` needs to continue exactly where this run is.

    ``best``: the validation metrics of the epoch with the highest front F1
    (a record only: the last weights are the ones exported).
    Written to a temporary file first, so a run killed while saving keeps its previous checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"config": net.config, "state": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
             "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()},
             "history": history, "best": best, "settings": settings}
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def from_checkpoint(path):
    """(network in eval mode, history, training settings) of a checkpoint saved by ``train``, as it stands."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = DeepLabV3Plus(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval(), saved["history"], saved["settings"]


def save_snapshot(folder, net, epoch):
    """The weights of one epoch (``<folder>/e<epoch>.pt``), for ``averaged``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch, "config": net.config, "state": net.state_dict()}, folder / f"e{epoch:04d}.pt")


def averaged(snapshot_paths, train_samples, batches_for_bn=32, seed=0):
    """A network whose weights are the mean of the snapshots' (stochastic weight averaging: the average of
    the points a run visits at a high learning rate often generalises better than the last of them; for
    the wide front network it did not, see training/checkpoints/README.md), with its BatchNorm statistics
    recomputed on augmented training batches (averaged weights need their own).
    Returns (net in eval mode, epochs averaged)."""
    saved = [torch.load(p, map_location="cpu", weights_only=True) for p in snapshot_paths]
    if not saved:
        raise ValueError("no snapshots to average")
    if any(s["config"] != saved[0]["config"] for s in saved):
        raise ValueError("the snapshots are of different networks")
    net = DeepLabV3Plus(**saved[0]["config"])
    mean = {}
    for name, value in saved[0]["state"].items():
        if value.is_floating_point():
            mean[name] = sum(s["state"][name] for s in saved) / len(saved)
        else:
            mean[name] = value  # counters such as num_batches_tracked
    net.load_state_dict(mean)
    rng = np.random.default_rng(seed)
    loader = [x for x, _ in batches(train_samples, 8, 8 * batches_for_bn, Augment(rng=rng), rng)]
    with torch.no_grad():
        torch.optim.swa_utils.update_bn(loader, net)
    return net.eval(), sorted(s["epoch"] for s in saved)


def _restore(saved, net, opt, rng, settings, log):
    """Load a checkpoint into a fresh run; returns (epochs done, history, best)."""
    net.load_state_dict(saved["state"])
    opt.load_state_dict(saved["optimizer"])
    rng.bit_generator.state = saved["rng"]["numpy"]
    torch.set_rng_state(saved["rng"]["torch"])
    changed = {k: (saved["settings"].get(k), v) for k, v in settings.items() if saved["settings"].get(k) != v}
    if changed:
        log(f"resuming with settings other than the checkpoint's (checkpoint, now): {changed}")
    log(f"resumed from epoch {saved['epoch']}")
    return saved["epoch"], saved["history"], saved["best"]


def _format(row):
    text = f"epoch {row['epoch']:3d} {row['seconds']:7.0f}s lr {row['lr']:.2e} train {row['train_loss']:.3f}"
    if "val" in row:
        v = row["val"]
        text += (f" | val loss {v['loss']:.3f} ice IoU {v['ice_iou']:.3f}"
                 f" edge F1@2px {v['edge_f1_2px']:.3f}")
        if "rock_iou" in v:
            text += f" rock IoU {v['rock_iou']:.3f}"
    return text
