"""Front training: datasets, a tiny CPU run that learns, export -> engine load, resume."""

import argparse
import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from conftest import ROOT, shared_path
from training.fronts.data import Augment, ice_from_front, load_landsat, load_sar, split

SHIPPED = ROOT / "weights" / "calving_front.onnx"


def _tiny_run(epochs, samples):
    """``python -m training`` arguments of a seconds-long front run on a few real images (no evaluation)."""
    return ["fronts", "--data", str(shared_path("fronts-landsat").parent), "--limit", "2", "--epochs", str(epochs),
            "--samples-per-epoch", str(samples), "--batch-size", "2", "--crop", "64", "--tile-size", "128",
            "--overlap", "32", "--threads", "1", "--no-evaluate", "--widths", "8,8,16,16",
            "--aspp-channels", "8", "--decoder-channels", "8"]


def _few(n_landsat=4, n_sar=4):
    root_l = shared_path("fronts-landsat")
    root_s = shared_path("fronts-sar")
    names_l = sorted(p.name[: -len("_Subset.png")] for p in (root_l / "images").glob("*_Subset.png"))
    names_s = sorted(p.stem for p in (root_s / "images").glob("*.png"))
    return (load_landsat(root_l, set(names_l[3:3 + n_landsat * 7:7]))
            + load_sar(root_s, set(names_s[5:5 + n_sar * 40:40])))


def test_ice_from_front_marks_below_as_ice_and_leaves_other_columns_unknown():
    front = np.zeros((6, 4), bool)
    front[2, 1] = front[3, 2] = True
    ice, weight = ice_from_front(front)
    assert ice[:, 1].tolist() == [0, 0, 0, 1, 1, 1]
    assert weight[:, 1].tolist() == [1, 1, 0, 1, 1, 1]
    assert weight[:, 0].sum() == 0 and weight[:, 3].sum() == 0  # no front in these columns: unknown


def test_datasets_are_layered_by_the_plugin_and_split_by_glacier():
    from plugin.engine.fronts.enhance import layer_calfin, stretch_limits
    from skimage import io

    samples = _few(2, 2)
    s = samples[0]
    band = io.imread(shared_path("fronts-landsat", "images", s.name + "_Subset.png"))[..., 0]
    valid = np.ones(band.shape, bool)
    assert np.array_equal(s.image, layer_calfin(band, valid, stretch_limits(band)))
    for s in samples:
        assert s.image.shape[0] == 3 and s.image.dtype == np.uint8
        assert s.edge.shape == s.ice.shape == s.image.shape[1:]
        assert s.edge.sum() > s.edge_1px.sum() > 20
        known = s.ice_weight > 0
        assert 0 < s.ice[known].mean() < 1  # both ice and ocean present
    # Landsat: glacier (ice) lies below the front, ocean above.
    landsat = [s for s in samples if s.source == "landsat"][0]
    cols = np.flatnonzero(landsat.edge_1px.any(axis=0))
    c = cols[len(cols) // 2]
    r = np.flatnonzero(landsat.edge_1px[:, c])
    assert landsat.ice[r.max() + 1:, c].all() and not landsat.ice[: r.min(), c].any()
    train, val = split(samples)
    assert {s.glacier for s in train}.isdisjoint({s.glacier for s in val})


def test_split_can_hold_out_another_sar_glacier_and_leave_one_unused():
    """--sar-validation / --sar-unused: SI held out, Jorum in neither set; Landsat keeps its split."""
    from types import SimpleNamespace

    samples = [SimpleNamespace(source=src, glacier=g) for src, g in
               [("sar", "JAC"), ("sar", "SI"), ("sar", "Jorum"), ("landsat", "229012"), ("landsat", "020007")]]
    train, val = split(samples, sar_validation=("SI",), sar_unused=("Jorum",))
    assert [s.glacier for s in train] == ["JAC", "020007"]
    assert [s.glacier for s in val] == ["SI", "229012"]
    train, val = split(samples)  # the shipped split: Jorum held out
    assert [s.glacier for s in val] == ["Jorum", "229012"]
    train, val = split(samples, sar_unused=("SI",), landsat_unused=("020007",))  # a network to whom they are unseen
    assert [s.glacier for s in train] == ["JAC"]
    assert [s.glacier for s in val] == ["Jorum", "229012"]
    train, val = split(samples, sar_validation=(), landsat_validation=())  # a final model: every glacier
    assert [s.glacier for s in train] == ["JAC", "SI", "Jorum", "229012", "020007"] and val == []


def test_landsat_path_rows_are_taken_as_whole_glaciers_only():
    from training.fronts.data import landsat_pathrows

    assert landsat_pathrows(" 008011,010011, 009011 ") == ("008011", "010011", "009011") and landsat_pathrows("") == ()
    assert landsat_pathrows("229012,230012,231012") == ("229012", "230012", "231012")  # the held-out glacier
    for bad in ("22006", "JAC", "022007"):
        with pytest.raises(ValueError, match="not a Landsat path/row of ../shared"):
            landsat_pathrows(bad)
    with pytest.raises(ValueError, match="name all of them, not only 229012"):
        landsat_pathrows("229012")
    # 022/006 and 023/006 are one glacier with 020/007, 021/006, 021/007 and 024/006: left out alone, it is
    # still trained on
    with pytest.raises(ValueError, match="show one glacier: name all of them, not only 022006, 023006"):
        landsat_pathrows("022006,023006")


def test_card_states_the_split_a_run_used():
    from training.fronts.card import _split_text

    shipped = _split_text({"settings": {}, "train_images": 513, "validation_images": 100})
    assert "the SAR glacier Jorum" in shipped and "SAR JAC, DBE, SI)" in shipped
    assert "Landsat: 2 glaciers, path/rows 008/011, 009/011, 010/011; 020/007," in shipped
    experiment = _split_text({"settings": {"sar_validation": "SI", "sar_unused": "Jorum"}})
    assert "the SAR glacier SI" in experiment and "SAR JAC, DBE)" in experiment
    assert "glacier Jorum is used neither way" in experiment
    dev = _split_text({"settings": {"sar_unused": "SI", "landsat_unused": "008011,009011,010011"}})
    assert "Landsat path/rows 008/011, 009/011, 010/011 are used neither way" in dev and "SAR JAC, DBE)" in dev
    assert "Landsat: 1 glacier, path/rows 020/007, 021/006, 021/007, 022/006, 023/006, 024/006;" in dev
    everything = _split_text({"settings": {"sar_validation": "", "sar_unused": ""}})
    assert "no SAR glacier is held out" in everything and "SAR JAC, DBE, SI, Jorum)" in everything
    final = _split_text({"settings": {"sar_validation": "", "landsat_validation": ""}, "train_images": 636})
    assert "Validation: none. This final model is trained on every glacier" in final
    assert "Training: 636 images (Landsat: 3 glaciers," in final and "; 229/012, 230/012, 231/012;" in final
    assert "SAR JAC, DBE, SI, Jorum)" in final


def test_card_of_a_final_model_says_its_held_out_numbers_are_the_recipes(tmp_path):
    from training.fronts.card import write_card

    metrics = json.loads((ROOT / "weights" / "calving_front.metrics.json").read_text())
    metrics.pop("final", None)  # the shipped model's metrics have one: first a run that held glaciers out
    plain = write_card(tmp_path / "plain.md", metrics, ROOT / "weights" / "calving_front.onnx").read_text()
    assert "trained further on every glacier" not in plain and "SAR JAC, DBE, SI); the SAR images" in plain
    metrics["final"] = {"command": "python -m training fronts --sar-validation '' --landsat-validation ''",
                        "epochs": 311, "minutes": 125.0, "train_loss": 0.9, "rule": "Rule: no worse.",
                        "rows": [["SAR Jorum (77)", "10.14 (75 found)", "3.10 (77 found)"]], "note": ""}
    card = write_card(tmp_path / "final.md", metrics, ROOT / "weights" / "calving_front.onnx").read_text()
    assert card.index("## The shipped weights: trained further on every glacier") < card.index("## Training data")
    assert "**311 epochs** (125 min on CPU, 1 thread), `python -m training" in card and "| SAR Jorum (77) | 10.14 (75 found) | 3.10 (77 found) |" in card
    assert "## Measured on the held-out glaciers (the recipe: the network before its final training" in card
    assert "Landsat 3 glaciers, path/rows 008/011" in card and "SAR JAC, DBE, SI, Jorum (Jorum holds" in card
    assert "229-231/012, SAR JAC, DBE, SI, Jorum); the SAR images" in card
    # a final training in two steps names both, in order
    step = dict(metrics["final"], epochs=164, minutes=70.0, threads=2, train_loss=0.5,
                command="python -m training fronts --crop 256")
    metrics["final"]["steps"] = [dict(metrics["final"]), step]
    card = write_card(tmp_path / "steps.md", metrics, ROOT / "weights" / "calving_front.onnx").read_text()
    assert ("**311 epochs** (125 min on CPU, 1 thread), `python -m training fronts --sar-validation '' "
            "--landsat-validation ''`; then **164 epochs** (70 min on CPU, 2 threads), `python -m training "
            "fronts --crop 256`; final training loss 0.500") in card
    assert "the last stages of the recipe that the rest of this card measures" in card


def test_rock_target_from_the_sar_zones_and_unknown_on_landsat():
    """CaFFe zones 2 (rock) -> rock 1, 3 (glacier) and 4 (ocean) -> 0, 1 (no information) unknown; no
    Landsat pixel has a known rock class. Rock is land: it is part of the ice/land target too."""
    from skimage import io

    samples = _few(1, 2)
    landsat = [s for s in samples if s.source == "landsat"]
    assert landsat and all(s.rock_weight.sum() == 0 for s in landsat)
    for s in (s for s in samples if s.source == "sar"):
        zones = io.imread(shared_path("fronts-sar", "zones", s.name + "_zones.png"))
        assert np.array_equal(s.rock > 0, zones == 2)
        assert np.array_equal(s.rock_weight > 0, zones != 1)
        assert (zones == 2).any() and (zones == 3).any()
        assert s.ice[s.rock > 0].all()


def test_rock_head_loss_is_zero_without_known_rock():
    """The rock terms of the loss count only known pixels: a Landsat-only batch adds exactly nothing,
    and a wrong rock answer on known pixels costs more than a right one."""
    from training.fronts.data import targets
    from training.fronts.train import loss_fn

    h = w = 16
    ones, zeros = np.ones((h, w), np.float32), np.zeros((h, w), np.float32)
    landsat = torch.from_numpy(targets(zeros, ones, ones, ones, zeros, zeros)[None])
    logits = torch.randn(1, 3, h, w)
    total3, parts3 = loss_fn(logits, landsat)
    total2, parts2 = loss_fn(logits[:, :2], landsat)
    assert len(parts3) == 6 and len(parts2) == 4
    assert float(parts3[4]) == 0.0 and float(parts3[5]) == 0.0
    assert float(total3) == pytest.approx(float(total2))
    sar = torch.from_numpy(targets(zeros, ones, ones, ones, ones, ones)[None])
    right, wrong = logits.clone(), logits.clone()
    right[:, 2], wrong[:, 2] = 5.0, -5.0
    assert float(loss_fn(right, sar)[0]) < float(loss_fn(wrong, sar)[0])


def test_augmentation_covers_all_orientations():
    samples = _few(1, 0)
    aug = Augment(crop=96, max_angle=0, noise=0, rng=np.random.default_rng(1))
    x, t = aug(samples[0])
    assert x.shape == (3, 96, 96) and t.shape == (6, 96, 96)  # data.targets: edge, ice, weight, edge weight, rock x2
    # Where is ice relative to the front? Over many draws it must appear on every side.
    sides = set()
    for _ in range(60):
        x, t = aug(samples[0])
        ice, weight = t[1], t[2]
        known = weight > 0
        if known.sum() < 200 or ice[known].mean() in (0, 1):
            continue
        rows, cols = np.nonzero(known)
        gy = np.corrcoef(rows, ice[known])[0, 1]
        gx = np.corrcoef(cols, ice[known])[0, 1]
        sides.add(("down" if gy > 0 else "up") if abs(gy) > abs(gx) else ("right" if gx > 0 else "left"))
    assert sides == {"up", "down", "left", "right"}


def test_strong_augmentation_changes_scale_and_brightness_but_keeps_targets_binary():
    """--augment strong: the same image comes out at other scales and brightness curves; targets stay 0/1 and
    line up with the image (the front lies on the ice/ocean boundary of the zoomed sample too)."""
    sample = _few(0, 1)[0]
    basic = Augment(crop=128, max_angle=0, noise=0, rng=np.random.default_rng(3))
    strong = Augment(crop=128, max_angle=0, noise=0, rng=np.random.default_rng(3), strong=True)
    means = {"basic": [], "strong": []}
    for name, aug in (("basic", basic), ("strong", strong)):
        for _ in range(40):
            x, t = aug(sample)
            assert x.shape == (3, 128, 128) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
            for channel in (0, 1, 2, 3, 4, 5):
                assert set(np.unique(t[channel])) <= {0.0, 1.0}
            means[name].append(float(x.mean()))
            edge, ice, known = t[0] > 0, t[1] > 0, t[2] > 0
            if edge.sum() > 20:
                boundary = (ndimage.binary_dilation(ice & known, iterations=3)
                            & ndimage.binary_dilation(~ice & known, iterations=3))
                assert (edge & boundary).sum() > 0.8 * edge.sum()
    # brightness curves spread the image mean far wider than gain/bias jitter alone
    assert np.std(means["strong"]) > 1.3 * np.std(means["basic"])


def test_scale_augmentation_zooms_without_changing_brightness():
    """--augment scale: the zoom of strong alone. The front's length in a crop varies with the zoom, while
    the image's grey stays what basic gives (no brightness curves, speckle or blur)."""
    sample = _few(0, 1)[0]
    lengths, spreads = {}, {}
    for name in ("basic", "scale"):
        aug = Augment(crop=256, max_angle=0, noise=0, rng=np.random.default_rng(5), scale=name == "scale")
        draws = [aug(sample) for _ in range(30)]
        lengths[name] = [float(t[0].sum()) for _, t in draws]
        inside = [x[0][x[0] > 0] for x, _ in draws]
        spreads[name] = np.std([float(np.median(v)) for v in inside])
    # the whole 256 px scene in every basic draw: the front keeps its length; zoomed draws change it
    assert np.std(lengths["basic"]) < 0.1 * np.mean(lengths["basic"])
    assert np.std(lengths["scale"]) > 2 * np.std(lengths["basic"])
    assert spreads["scale"] < 2 * spreads["basic"] + 0.02


def test_scale_sar_zooms_sar_samples_and_leaves_landsat_at_scale_one():
    """--augment scale-sar: the zoom of --augment scale on SAR samples only; a Landsat sample's front keeps the
    length basic gives it in every draw."""
    landsat, sar = _few(1, 1)
    aug = Augment(crop=256, max_angle=0, noise=0, rng=np.random.default_rng(5), scale=True, scale_sources=("sar",))
    basic = Augment(crop=256, max_angle=0, noise=0, rng=np.random.default_rng(5))

    def spread(augment, sample):
        return np.std([float(augment(sample)[1][0].sum()) for _ in range(30)])

    assert spread(aug, sar) > 2 * spread(basic, sar) + 1
    assert spread(aug, landsat) == pytest.approx(spread(basic, landsat), abs=1e-6)


def test_zoom_range_bounds_the_scale_augmentation():
    """--zoom 0.8,1.25: every zoomed sample is 0.8-1.25 times as large, and both ends of the range are drawn;
    a range that does not hold 1 is refused."""
    from training.fronts.cli import _zoom_range

    aug = Augment(crop=64, rng=np.random.default_rng(3), scale=True, zoom=_zoom_range("0.8,1.25"))
    sizes = [aug._zoom(np.zeros((1, 100, 100), np.float32)).shape[1] for _ in range(200)]
    assert 80 <= min(sizes) <= 83 and 122 <= max(sizes) <= 125
    with pytest.raises(argparse.ArgumentTypeError):
        _zoom_range("1.2,1.5")


def test_wet_snow_darkens_the_glacier_of_sar_samples_only():
    """--wet-snow: on a real SAR sample the glacier's grey layer drops by the darkening, ocean and rock away
    from it keep their values, nodata stays 0, and the layers are the plugin's layering of the darker grey;
    Landsat samples are never darkened (the same draws as without it)."""
    from plugin.engine.fronts.enhance import layer_calfin
    from training.fronts.data import wet_snow

    landsat, sar = _few(1, 1)
    glacier = sar.glacier_ice
    far = ndimage.distance_transform_edt(~glacier) > 4
    image = sar.image.copy()
    image[:, :3] = 0  # a strip of nodata
    dark = wet_snow(image, glacier, 0.3)
    inner = ndimage.binary_erosion(glacier, iterations=4) & (image[0] > 90)  # not clipped at black
    drop = (image[0][inner].astype(float) - dark[0][inner]) / 254
    assert glacier.sum() > 1000 and np.median(drop) == pytest.approx(0.3, abs=0.01)
    assert np.abs(dark[0][far & (image[0] > 0)].astype(int) - image[0][far & (image[0] > 0)]).max() <= 1
    assert (dark[:, :3] == 0).all() and (dark[:, 3:] > 0).all()
    grey = (dark[0].astype(np.float32) - 1) / 254
    again = np.abs(layer_calfin(grey, image[0] > 0, (0.0, 1.0)).astype(int) - dark)
    assert again.mean() < 0.2 and again.max() <= 8  # the grey layer's rounding moves local contrast a little
    with_snow = Augment(crop=128, rng=np.random.default_rng(4), wet_snow=1.0)
    without = Augment(crop=128, rng=np.random.default_rng(4))
    for _ in range(3):
        assert np.array_equal(with_snow(landsat)[0], without(landsat)[0])
    from training.__main__ import main
    from training.fronts.train import train

    with pytest.raises(ValueError, match="between 0 and 1"):
        train([landsat], [], wet_snow=1.5)
    with pytest.raises(SystemExit, match="--wet-snow: a share between 0 and 1"):  # before the data are loaded
        main(["fronts", "--wet-snow", "1.5"])


def test_coast_weight_weighs_the_margins_that_are_not_front():
    """--coast-weight k: on a real SAR sample the land/ocean margin away from the labelled front gets edge weight
    k, the front and everything else 1, outside the image 0; k = 1 gives the old all-ones weight."""
    sample = _few(0, 1)[0]
    coast = sample.coast > 0
    assert coast.any() and not (coast & (sample.edge > 0)).any()  # the margin, never the front itself
    land, ocean = sample.ice > 0, (sample.ice == 0) & (sample.ice_weight > 0)
    near_margin = ndimage.binary_dilation(land, iterations=3) & ndimage.binary_dilation(ocean, iterations=3)
    assert near_margin[coast].mean() > 0.95
    for k in (1.0, 5.0):
        aug = Augment(crop=128, max_angle=0, noise=0, rng=np.random.default_rng(5), coast_weight=k)
        seen = set()
        for _ in range(10):
            _, t = aug(sample)
            seen |= set(np.unique(t[3]).tolist())
        assert seen <= {0.0, 1.0, k} and k in seen


def test_coast_weight_makes_a_line_on_the_coast_cost_more():
    """The edge loss with coast weight 5 punishes a front answer on the coast more than weight 1 does."""
    from training.fronts.data import targets
    from training.fronts.train import loss_fn

    h = w = 16
    ones, zeros = np.ones((h, w), np.float32), np.zeros((h, w), np.float32)
    logits = torch.full((1, 2, h, w), -4.0)
    logits[0, 0, :, 8] = 4.0  # a "front" where there is coast only
    edge_w = ones.copy()
    edge_w[:, 8] = 5.0
    plain = loss_fn(logits, torch.from_numpy(targets(zeros, ones, ones, ones, zeros, zeros)[None]))[1][0]
    hard = loss_fn(logits, torch.from_numpy(targets(zeros, ones, ones, edge_w, zeros, zeros)[None]))[1][0]
    assert float(hard) > 2 * float(plain)


def test_export_only_writes_a_checkpoint_with_its_sensors(tmp_path):
    """--export-only --resume CKPT --sensors optical: the checkpoint's weights as an ONNX model the engine loads,
    declared for optical scenes, with the checkpoint's history in its metrics; no epoch is trained."""
    from plugin.engine.core.model import load_model
    from training.__main__ import main

    common = _tiny_run(epochs=1, samples=2)
    main(common + ["--out", str(tmp_path / "a.onnx"), "--checkpoint", str(tmp_path / "a.pt")])
    before = (tmp_path / "a.pt").read_bytes()
    main(common + ["--out", str(tmp_path / "opt.onnx"), "--resume", str(tmp_path / "a.pt"), "--export-only",
                   "--sensors", "optical"])
    assert (tmp_path / "a.pt").read_bytes() == before  # exporting does not touch the checkpoint
    model = load_model(tmp_path / "opt.onnx")
    assert model.meta["sensors"] == "optical" and model.meta["task"] == "calving_front"
    assert "for optical scenes" in model.meta["description"]
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    a = load_model(tmp_path / "a.onnx").session.run(None, {"input": x})[0]
    assert np.allclose(model.session.run(None, {"input": x})[0], a, atol=1e-5)  # the same weights
    assert load_model(tmp_path / "a.onnx").meta["sensors"] == "any"
    metrics = json.loads((tmp_path / "opt.metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1]
    # The checkpoint keeps its split, and exporting it as if it held out another glacier is refused.
    assert metrics["settings"]["sar_validation"] == "Jorum" and metrics["settings"]["sar_unused"] == ""
    assert "Jorum" in metrics["validation_glaciers"] and "Jorum" not in metrics["train_glaciers"]
    with pytest.raises(SystemExit, match="give the same --sar-validation"):
        main(common + ["--out", str(tmp_path / "si.onnx"), "--resume", str(tmp_path / "a.pt"), "--export-only",
                       "--sar-validation", "SI"])
    assert not (tmp_path / "si.onnx").exists()
    # Resuming to train on with a glacier left out that the checkpoint trained on is refused too, both ways.
    with pytest.raises(SystemExit, match=r"'landsat_unused': \('', '008011,009011,010011'\)"):
        main(common + ["--out", str(tmp_path / "b.onnx"), "--resume", str(tmp_path / "a.pt"),
                       "--landsat-unused", "008011,009011,010011"])
    assert (tmp_path / "a.pt").read_bytes() == before and not (tmp_path / "b.onnx").exists()
    with pytest.raises(SystemExit, match=r"'landsat_validation': \('229012,230012,231012', ''\)"):
        main(common + ["--out", str(tmp_path / "b.onnx"), "--resume", str(tmp_path / "a.pt"),
                       "--landsat-validation", "", "--sar-validation", ""])
    assert (tmp_path / "a.pt").read_bytes() == before and not (tmp_path / "b.onnx").exists()


@pytest.mark.parametrize("option, message", [
    (["--sar-validation", "si"], "unknown SAR glacier si"),
    (["--sar-validation", "SI", "--sar-unused", "SI,Jorum"], "SI is both held out and unused"),
    (["--landsat-unused", "229012,230012,231012"], "229012, 230012, 231012 is both held out and unused"),
    (["--landsat-validation", "230012"], "name all of them, not only 230012"),
])
def test_sar_glacier_options_are_checked(option, message):
    from training.__main__ import main

    with pytest.raises(SystemExit, match=message):
        main(_tiny_run(epochs=1, samples=2) + ["--out", "never.onnx"] + option)


def test_tiny_training_run_learns():
    """Under a minute of CPU (uncontended) on 8 real images: training and held-in losses drop clearly."""
    from training.fronts.train import train, validate
    from training.nets.deeplab import DeepLabV3Plus

    torch.set_num_threads(2)
    samples = _few(4, 4)
    config = dict(widths=(8, 16, 32, 64), blocks=(1, 1, 1, 1), aspp_channels=32, low_channels=16,
                  decoder_channels=32)
    torch.manual_seed(0)
    before = validate(DeepLabV3Plus(**config), samples)
    net, history = train(samples, [], net_config=config, epochs=8, batch_size=4, samples_per_epoch=24,
                         crop=128, lr=5e-3, seed=0, log=lambda _: None)
    after = validate(net, samples)
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    # Measured: train 6.5 -> 5.2, whole-image loss 7.3 -> 6.4 (an untrained net sits at ~6.5 / ~7.3).
    assert last < 0.9 * first, [h["train_loss"] for h in history]
    assert after["loss"] < before["loss"] - 0.4, (before, after)
    assert after["edge_recall_2px"] > before["edge_recall_2px"], (before, after)


def test_export_loads_through_the_engine(tmp_path):
    from plugin.engine.core.inference import predict_array
    from plugin.engine.core.model import load_model
    from training.export import export_onnx
    from training.fronts import NET_CONFIG, model_metadata
    from training.nets.deeplab import DeepLabV3Plus

    torch.manual_seed(0)
    net = DeepLabV3Plus(**NET_CONFIG).eval()
    path = export_onnx(net, tmp_path / "cf.onnx", model_metadata(tile_size=128, overlap=32), sample_size=128)
    model = load_model(path, device="cpu", threads=1)
    assert model.meta["task"] == "calving_front"
    assert model.channels == ["RAW", "LOCAL_CONTRAST", "SHADOWS_HIGHLIGHTS"]
    assert model.outputs == ["front", "ice"]
    assert "CC BY 4.0" in model.meta["training_data"] and "10.5194/essd-14-4287-2022" in model.meta["training_data"]
    assert path.stat().st_size < 5e6
    # Engine tiling on a whole image equals the torch net on the scaled input (one tile, no padding).
    image = np.random.default_rng(0).integers(1, 256, (3, 128, 128)).astype(np.float32)
    got = predict_array(model, image, np.ones((128, 128), bool))
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(image / 255.0)[None]))[0].numpy()
    assert got.shape == (2, 128, 128)
    assert np.allclose(got, want, atol=1e-4)


def test_command_line_trains_and_exports(tmp_path):
    from training.__main__ import main

    out = tmp_path / "cf.onnx"
    shared_path("fronts-landsat")
    main(["fronts", "--data", str(shared_path()), "--out", str(out), "--limit", "2", "--epochs", "1",
          "--samples-per-epoch", "8", "--batch-size", "4", "--crop", "96", "--tile-size", "128",
          "--overlap", "32", "--threads", "1"])
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert out.exists() and metrics["history"][0]["epoch"] == 1
    assert set(metrics["validation_glaciers"]) & {"229012", "230012", "231012", "Jorum"}
    summary = metrics["evaluation"]["summary"]
    assert set(summary) == {"landsat", "sar"}
    # The found fraction must be what the engine gives for the held-out image(s) of this run.
    from plugin.engine.core.inference import predict_array
    from plugin.engine.core.model import load_model
    from plugin.engine.fronts.extraction import extract_fronts
    from training.fronts.data import load_landsat

    landsat = [r for r in metrics["evaluation"]["per_scene"] if r["source"] == "landsat"]
    assert summary["landsat"]["scenes"] == len(landsat) == 1  # --limit 2: one held-out Landsat image
    (sample,) = load_landsat(shared_path("fronts-landsat"), {landsat[0]["scene"]})
    prob = predict_array(load_model(out, device="cpu"), sample.image.astype(np.float32),
                         np.ones(sample.image.shape[1:], bool))
    found = bool(extract_fronts(prob[0], prob[1]).accepted)
    assert summary["landsat"]["front_found_fraction"] == pytest.approx(float(found), abs=1e-9)


@pytest.mark.parametrize("as_checkpoint", [True, False])
def test_init_starts_from_saved_weights(tmp_path, as_checkpoint):
    from training.fronts.train import train
    from training.nets.deeplab import DeepLabV3Plus

    config = dict(widths=(8, 8, 8, 8), blocks=(1, 1, 1, 1), aspp_channels=8, low_channels=8, decoder_channels=8)
    torch.manual_seed(123)
    saved = DeepLabV3Plus(**config)
    path = tmp_path / "saved.pt"
    torch.save({"config": saved.config, "state": saved.state_dict()} if as_checkpoint else saved.state_dict(), path)
    # seed=0 would initialise different weights; zero epochs leaves exactly what --init loaded.
    net, history = train([], [], net_config=config, epochs=0, seed=0, init=path)
    assert history == []
    for name, value in saved.state_dict().items():
        assert torch.equal(net.state_dict()[name], value), name
    fresh, _ = train([], [], net_config=config, epochs=0, seed=0)
    assert not torch.equal(next(iter(fresh.parameters())), next(iter(saved.parameters())))


def _init_from_shipped(**config):
    """(torch network's probabilities, onnxruntime's) on real crops after --init from the shipped ONNX."""
    import onnxruntime as ort
    from training.fronts import NET_CONFIG
    from training.fronts.train import train

    samples = _few(2, 2)
    net, _ = train(samples, [], net_config=dict(NET_CONFIG, **config), epochs=0, init=SHIPPED)
    x = torch.from_numpy(np.stack([s.image[:, :128, :128] for s in samples]).astype(np.float32) / 255.0)
    session = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x.numpy()})[0]
    net.eval()
    with torch.no_grad():
        return torch.sigmoid(net(x)).numpy(), expected


@pytest.mark.weights
def test_init_from_the_shipped_onnx_reproduces_it_in_torch():
    """--init weights/calving_front.onnx: the folded convolutions go back into the torch network."""
    got, expected = _init_from_shipped()
    assert np.abs(got - expected).max() < 1e-4


@pytest.mark.weights
def test_onnx_weights_calibrate_batchnorm_for_train_mode():
    """Train mode normalises with batch statistics: calibrated on a batch, it gives the same function there."""
    import onnxruntime as ort
    from training.fronts import NET_CONFIG
    from training.nets.deeplab import DeepLabV3Plus
    from training.nets.from_onnx import load_onnx_into

    x = torch.from_numpy(np.stack([s.image[:, :128, :128] for s in _few(2, 2)]).astype(np.float32) / 255.0)
    session = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x.numpy()})[0]
    net = load_onnx_into(DeepLabV3Plus(**NET_CONFIG), SHIPPED, x)
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    with torch.no_grad():
        got = torch.sigmoid(net(x)).numpy()
    assert np.abs(got - expected).max() < 1e-3
    uncalibrated = load_onnx_into(DeepLabV3Plus(**NET_CONFIG), SHIPPED, x[:1])  # statistics of another batch
    uncalibrated.train()
    with torch.no_grad():
        other = torch.sigmoid(uncalibrated(x)).numpy()
    assert np.abs(other - expected).max() > 1e-2  # so the check above is not trivially met


@pytest.mark.weights
def test_init_from_a_two_output_onnx_adds_a_fresh_rock_head():
    """--rock --init weights/calving_front.onnx: front and ice come back exactly, the rock head is new."""
    got, expected = _init_from_shipped(out_channels=3)
    assert got.shape[1] == 3 and expected.shape[1] == 2
    assert np.abs(got[:, :2] - expected).max() < 1e-4
    for k in (0, 1):  # a fresh head, not a copy of a trained one
        assert np.abs(got[:, 2] - got[:, k]).max() > 0.05


@pytest.mark.weights
def test_init_from_onnx_refuses_a_different_network():
    from training.nets.deeplab import DeepLabV3Plus
    from training.nets.from_onnx import load_onnx_into

    small = DeepLabV3Plus(widths=(8, 16, 32, 64), aspp_channels=8, low_channels=8, decoder_channels=8)
    with pytest.raises(ValueError, match="convolution of shape"):
        load_onnx_into(small, SHIPPED, torch.rand(2, 3, 64, 64))


def test_resume_continues_the_epoch_count_weights_and_random_state(tmp_path):
    """A run stopped after one epoch and resumed from its checkpoint ends exactly like a run that never stopped."""
    from training.__main__ import main

    common = _tiny_run(epochs=2, samples=4) + ["--lr-schedule", "epochs", "--checkpoint-every", "1"]
    main(common + ["--out", str(tmp_path / "a.onnx"), "--checkpoint", str(tmp_path / "a.pt")])
    # --minutes this small stops after the first epoch; with the epochs schedule the learning rate ignores it.
    main(common + ["--out", str(tmp_path / "b.onnx"), "--checkpoint", str(tmp_path / "b.pt"), "--minutes", "1e-6"])
    stopped = torch.load(tmp_path / "b.pt", weights_only=True)
    assert stopped["epoch"] == 1 and [h["epoch"] for h in stopped["history"]] == [1]
    main(common + ["--out", str(tmp_path / "b.onnx"), "--checkpoint", str(tmp_path / "b.pt"),
                   "--resume", str(tmp_path / "b.pt")])
    straight, resumed = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in "ab")
    assert resumed["epoch"] == straight["epoch"] == 2
    assert resumed["config"]["widths"] == [8, 8, 16, 16]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == stopped["history"][0]  # carried over
    for key in ("train_loss", "lr", "val"):
        assert resumed["history"][1][key] == straight["history"][1][key], key
    # The stopped run also validated at epoch 1 (its last): the best score covers both epochs.
    assert resumed["best"]["edge_f1_2px"] == max(h["val"]["edge_f1_2px"] for h in resumed["history"])
    for name, value in straight["state"].items():
        assert torch.equal(resumed["state"][name], value), name
    trained = [n for n, v in stopped["state"].items()
               if v.is_floating_point() and not torch.equal(v, resumed["state"][n])]
    assert trained  # the second epoch did change the weights
    metrics = json.loads((tmp_path / "b.metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]


def test_snapshots_and_their_weight_average(tmp_path):
    """--snapshots keeps the weights at every checkpoint; --export-only --average exports their mean, with
    BatchNorm statistics recomputed on training batches (not averaged)."""
    from plugin.engine.core.model import load_model
    from training.__main__ import main
    from training.fronts.train import averaged

    common = _tiny_run(epochs=2, samples=4) + ["--checkpoint-every", "1"]
    main(common + ["--out", str(tmp_path / "a.onnx"), "--checkpoint", str(tmp_path / "a.pt"),
                   "--snapshots", str(tmp_path / "snap")])
    snaps = sorted((tmp_path / "snap").glob("e*.pt"))
    assert [p.name for p in snaps] == ["e0001.pt", "e0002.pt"]
    one, two = (torch.load(p, weights_only=True)["state"] for p in snaps)
    net, epochs = averaged(snaps, _few(2, 2), batches_for_bn=2)
    assert epochs == [1, 2]
    state = net.state_dict()
    conv = next(n for n, v in one.items() if v.ndim == 4)
    assert not torch.equal(one[conv], two[conv])
    assert torch.allclose(state[conv], (one[conv] + two[conv]) / 2)
    bn = next(n for n in one if n.endswith("running_mean"))
    assert not torch.allclose(state[bn], (one[bn] + two[bn]) / 2)  # recomputed, not averaged
    main(common + ["--out", str(tmp_path / "avg.onnx"), "--resume", str(tmp_path / "a.pt"), "--export-only",
                   "--average", *map(str, snaps)])
    assert load_model(tmp_path / "avg.onnx").meta["task"] == "calving_front"
    assert json.loads((tmp_path / "avg.metrics.json").read_text())["averaged_epochs"] == [1, 2]


@pytest.mark.parametrize("share", [0.0, 0.5, 0.9, 1.0])
def test_landsat_share_sets_the_mix_of_each_epoch(share):
    """--landsat-share: the share of training samples drawn from Landsat images, the rest from SAR."""
    from types import SimpleNamespace

    from training.fronts.train import batches

    pool = [SimpleNamespace(source="landsat")] * 3 + [SimpleNamespace(source="sar")] * 7
    drawn = []

    def record(sample):
        drawn.append(sample.source)
        return np.zeros((1, 2, 2), np.float32), np.zeros((6, 2, 2), np.float32)

    for x, t in batches(pool, 8, 4000, record, np.random.default_rng(0), share):
        assert x.shape == (8, 1, 2, 2) and t.shape == (8, 6, 2, 2)
    assert len(drawn) == 4000
    assert abs(drawn.count("landsat") / len(drawn) - share) < 0.03


def test_landsat_share_outside_zero_to_one_is_refused():
    """A share is a chance: train() refuses 1.5 before it builds a network, and so does the command line."""
    from training.__main__ import main
    from training.fronts.train import train

    with pytest.raises(ValueError, match="between 0 and 1"):
        train([], [], landsat_share=1.5)
    with pytest.raises(SystemExit, match="between 0 and 1"):
        main(["fronts", "--landsat-share", "-0.1"])
