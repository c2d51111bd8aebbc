"""The developer tools in tools/ (demo, benchmarks, measurements) are not run by the tests: at least
they must compile, so `make demo` and `make bench` do not stop at a typo."""

import py_compile

import pytest

from conftest import ROOT

TOOLS = sorted((ROOT / "tools").glob("*.py"))


@pytest.mark.parametrize("path", TOOLS, ids=[p.name for p in TOOLS])
def test_tool_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / (path.stem + ".pyc")), doraise=True)


def measure_fronts():
    """tools/measure_fronts.py as a module (tools/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("measure_fronts", ROOT / "tools" / "measure_fronts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_summary_compares_two_models_on_the_scenes_both_find():
    """measure_fronts' paired comparison: found counts apart, distances on the common scenes only."""
    module = measure_fronts()
    these = {"a": 1.0, "b": None, "c": 3.0, "d": 40.0}
    others = {"a": 2.0, "b": 5.0, "c": None, "d": 20.0}
    p = module.paired_summary(these, others)
    assert (p["n"], p["found"], p["found_other"], p["both"]) == (4, 3, 3, 2)
    assert p["this_mean"] == pytest.approx(20.5) and p["other_mean"] == pytest.approx(11.0)
    assert p["this_median"] == pytest.approx(20.5) and p["other_median"] == pytest.approx(11.0)


def test_overlay_image_draws_reference_green_and_lines_red():
    """measure_fronts' overlay: the reference front green, a line red, the ice tinted, all scaled up."""
    import numpy as np

    module = measure_fronts()
    grey = np.full((20, 30), 100, np.uint8)
    ice = np.zeros((20, 30), np.float32)
    ice[:10] = 1.0
    ref = np.zeros((20, 30), bool)
    ref[10, 2:28] = True
    line = np.array([[3.5, 15.5], [26.5, 15.5]])
    rgb = module.overlay_image(grey, ice, ref, [line], scale=2)
    assert rgb.shape == (40, 60, 3)
    assert tuple(rgb[20, 10]) == module.REFERENCE_RGB and tuple(rgb[21, 11]) == module.REFERENCE_RGB
    assert tuple(rgb[30, 20]) == (255, 40, 40)  # row 15 of the line, scaled by 2
    assert rgb[2, 2, 2] > rgb[2, 2, 0]  # ice tinted blue
    assert tuple(rgb[36, 2]) == (100, 100, 100)  # ocean, away from both, untouched


def test_an_ensemble_of_models_gets_its_own_cache(tmp_path, monkeypatch):
    """WATERLINE_FRONT_MODEL=a.onnx+b.onnx names both models; their maps are cached apart from either's."""
    module = measure_fronts()
    a, b = tmp_path / "x" / "a.onnx", tmp_path / "y" / "b.onnx"
    for path, content in ((a, b"first"), (b, b"second")):
        path.parent.mkdir()
        path.write_bytes(content)
    assert module.model_paths(f"{a}+{b}") == (a.resolve(), b.resolve())
    dirs = []
    for models in ((a,), (b,), (a, b)):
        monkeypatch.setattr(module, "MODEL", models)
        module.cache_dir.cache_clear()
        dirs.append(module.cache_dir().name)
    assert len(set(dirs)) == 3 and dirs[2].startswith("front_probs_x_a+y_b_")


def test_static_stacks_per_track_keep_apart_the_scenes_of_different_grids(monkeypatch):
    """measure_fronts --static-groups track: CaFFe scenes of one glacier form one stack per sensor and track
    (they share a grid only there); glacier: one stack per glacier and size, as before."""
    import numpy as np

    module = measure_fronts()
    assert module.track("sar", "Jorum_2010-11-05_TSX_7_1_110") == "TSX_110"
    assert module.track("landsat", "LC08_L1TP_229012_20160729_20170322_01_T1_B8") is None
    edge = np.zeros((8, 8), np.float32)
    edge[4] = 1.0  # the same edge in every scene: static wherever the stack has >= 3 scenes
    monkeypatch.setattr(module, "load_probs", lambda stem, deg: (edge, edge, None, None))
    scenes = [("sar", "Jorum", f"Jorum_2010-11-0{k}_TSX_7_1_110") for k in range(3)]
    scenes += [("sar", "Jorum", f"Jorum_2019-01-0{k}_S1_20_3_009") for k in range(2)]
    by_glacier = module.static_masks(scenes, 0, False, groups_by="glacier")
    by_track = module.static_masks(scenes, 0, False, groups_by="track")
    assert len(by_glacier) == 5 and all(m[4].all() for m in by_glacier.values())
    assert sorted(by_track) == sorted(stem for _, _, stem in scenes[:3])  # two S1 scenes are too few
    assert all(m[4].all() and not m[1].any() for m in by_track.values())


def test_error_kind_reads_the_two_halves_of_the_distance():
    """measure_fronts errors: a line on part of the front is too short, the front plus coast too long."""
    module = measure_fronts()

    def kind(to_ref, from_ref):
        return module.error_kind({"mean": (to_ref + from_ref) / 2, "pred_to_ref": to_ref, "ref_to_pred": from_ref})

    assert kind(1.0, 3.0) == "within 5 px"
    assert kind(1.2, 37.0) == "too short"
    assert kind(21.7, 5.0) == "too long"
    assert kind(28.2, 33.8) == "elsewhere"
    assert module.error_kind({"mean": None, "pred_to_ref": None, "ref_to_pred": None}) is None
