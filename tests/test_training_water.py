"""Water training on chips: the engine's reads, statistics, normalisation and inference throughout."""

import csv
import json

import numpy as np
import rasterio
from rasterio.windows import Window

from conftest import shared_path

FIELDS = ("image", "label", "source")


def _chips(folder, stack, label, windows, source):
    """make_training_chips-style chips of ``stack`` (a dB VV/VH GeoTIFF) and its labels."""
    folder.mkdir()
    rows = []
    with rasterio.open(stack) as src, rasterio.open(label) as lab:
        for i, win in enumerate(windows):
            for name, ds, descriptions in ((f"{i}.tif", src, ("VV", "VH")), (f"{i}_label.tif", lab, None)):
                profile = dict(ds.profile, width=win.width, height=win.height,
                               transform=ds.window_transform(win))
                with rasterio.open(folder / name, "w", **profile) as dst:
                    dst.write(ds.read(window=win))
                    if descriptions:
                        dst.descriptions = descriptions
            rows.append({"image": f"{i}.tif", "label": f"{i}_label.tif", "source": source})
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv"


def test_chip_training_uses_the_engine_and_selects_on_its_inference(tmp_path):
    from plugin.engine.core import normalize
    from plugin.engine.core.model import load_model
    from training.__main__ import main
    from training.water.data import ChipSet
    from training.water.train import scenes_iou

    stack = shared_path("water-s1-db", "jja10_vv_vh_db.tif")
    label = shared_path("water-s1-db", "jja10_label.tif")
    train_m = _chips(tmp_path / "train", stack, label, [Window(c, 0, 128, 128) for c in (0, 128, 256)], str(stack))
    val_m = _chips(tmp_path / "val", stack, label, [Window(c, 384, 128, 128) for c in (0, 256)], "")

    train = ChipSet(train_m, ["VV", "VH"])
    with rasterio.open(stack) as src:  # chips of a readable stack: its whole-scene statistics, as the engine
        assert train.chip_stats[0] == normalize.scene_stats(src, [1, 2], train.norms)
    x, y = train.sample(np.random.default_rng(0), 64)
    assert x.shape == (2, 64, 64) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    val = ChipSet(val_m, ["VV", "VH"])
    pooled = [np.concatenate([img[c][ok] for img, ok in zip(val.images, val.valids)]) for c in range(2)]
    assert val.chip_stats[0] == [normalize.channel_stats(v, n, True) for v, n in zip(pooled, val.norms)]
    scenes = val.validation_scenes()
    assert len(scenes) == 2 and scenes[0][0].shape == (2, 128, 128)

    out = tmp_path / "w.onnx"
    main(["water", "--chips", str(train_m), "--val-chips", str(val_m), "--channels", "VV,VH",
          "--out", str(out), "--steps", "2", "--eval-every", "1", "--batch", "2", "--tile", "64",
          "--infer-tile", "128", "--overlap", "16", "--widths", "8,8,8,8", "--threads", "1"])
    report = json.loads(out.with_suffix(".json").read_text())
    assert [s for s, _ in report["history"]] == [1, 2] and report["otsu_iou"] is None
    # The IoU measured in training is the exported model's through the plugin's engine.
    model = load_model(out, device="cpu", threads=1)
    assert abs(scenes_iou(model, scenes) - report["validation_iou"]) < 1e-3
    # Without validation chips: no selection, the last weights are exported.
    main(["water", "--chips", str(train_m), "--channels", "VV,VH", "--out", str(tmp_path / "last.onnx"),
          "--steps", "1", "--batch", "2", "--tile", "64", "--infer-tile", "128", "--widths", "8,8,8,8",
          "--threads", "1"])
    report = json.loads((tmp_path / "last.json").read_text())
    assert report["validation_iou"] is None and report["history"] == [] and report["steps"] == 1
