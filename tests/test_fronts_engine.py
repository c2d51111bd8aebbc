"""Front extraction, front distances and scene names (engine, no QGIS)."""

import numpy as np
import pytest
from scipy import ndimage

from conftest import shared_path
from plugin.engine.fronts.metrics import line_distance, points_from_mask, summarize, symmetric_distance
from plugin.engine.fronts.extraction import QUALITY_GOOD, QUALITY_LOW_CONFIDENCE, QUALITY_PARTIAL, QUALITY_SHORT, extract_fronts
from plugin.engine.fronts.scene_names import match_key, parse_scene_name, sensor_kind

# ------------------------------------------------------------------ metrics


def test_symmetric_distance_of_parallel_lines():
    pred = [np.array([[0.0, 0.0], [100.0, 0.0]])]
    ref = [np.array([[0.0, 3.0], [100.0, 3.0]])]
    d = line_distance(pred, ref, pixel_size=50.0)
    assert d["mean"] == pytest.approx(3.0)
    assert d["median"] == pytest.approx(3.0)
    assert d["mean_m"] == pytest.approx(150.0)


def test_symmetric_distance_is_symmetric_and_counts_both_ways():
    # A short prediction on part of a long reference: pred->ref is 0, ref->pred grows along the gap.
    pred = np.array([[0.0, 0.0], [10.0, 0.0]])
    ref = np.array([[0.0, 0.0], [20.0, 0.0]])
    a = line_distance([pred], [ref])
    b = line_distance([ref], [pred])
    assert a["mean"] == pytest.approx(b["mean"])
    assert a["pred_to_ref"] == pytest.approx(0.0)
    assert a["ref_to_pred"] == pytest.approx(2.5, abs=0.1)  # mean of 0..10 over half the points


def test_symmetric_distance_empty_and_summary():
    assert symmetric_distance(np.zeros((0, 2)), np.ones((3, 2)))["mean"] is None
    s = summarize([1.0, None, 3.0, float("nan")])
    assert s == {"n": 2, "mean": 2.0, "median": 2.0}


def test_points_from_mask_uses_transform():
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    assert points_from_mask(mask).tolist() == [[2.5, 1.5]]
    # 50 m pixels, origin (1000, 2000), north up
    assert points_from_mask(mask, (50, 0, 1000, 0, -50, 2000)).tolist() == [[1125.0, 1925.0]]


# ------------------------------------------------------------------ extraction on synthetic maps


def _synthetic(h=120, w=100, row=60):
    """A wavy front across the image; ice below it."""
    cols = np.arange(w)
    line_rows = (row + 8 * np.sin(cols / 12.0)).round().astype(int)
    edge = np.zeros((h, w), np.float32)
    edge[line_rows, cols] = 1
    edge = ndimage.binary_dilation(edge > 0, iterations=1).astype(np.float32) * 0.9
    ice = (np.arange(h)[:, None] > line_rows[None, :]).astype(np.float32)
    return edge, ice, np.column_stack([cols + 0.5, line_rows + 0.5])


def test_extract_traces_an_ordered_line():
    edge, ice, truth = _synthetic()
    result = extract_fronts(edge, ice)
    assert len(result.fronts) == 1
    front = result.fronts[0]
    assert front.quality == QUALITY_GOOD
    assert front.confidence == pytest.approx(0.9, abs=0.01)
    assert front.length_px > 95
    # Ordered: consecutive vertices are neighbours, never jumps.
    steps = np.hypot(*np.diff(front.xy, axis=0).T)
    assert steps.max() <= np.sqrt(2) + 1e-9
    assert line_distance([front.xy], [truth])["mean"] < 0.6


def test_extract_bridges_a_gap_with_the_ice_boundary():
    edge, ice, truth = _synthetic()
    edge[:, 40:52] *= 0.35  # a faint stretch: below the edge threshold, above the boundary threshold
    with_ice = extract_fronts(edge, ice)
    without = extract_fronts(edge, None, max_gap=0)
    assert len(with_ice.accepted) == 1 and with_ice.fronts[0].length_px > 95
    assert max(f.length_px for f in without.fronts) < 60  # broken in two without the ice cue


def test_extract_fjord_mask_drops_walls_and_flags_partial():
    edge, ice, _ = _synthetic()
    fjord = np.zeros_like(edge)
    fjord[:, 20:80] = 1
    result = extract_fronts(edge, ice, fjord=fjord)
    front = result.fronts[0]
    assert front.xy[:, 0].min() > 20 and front.xy[:, 0].max() < 80
    assert front.spans_fjord and front.quality == QUALITY_GOOD
    # A front that stops half way across the fjord is flagged partial.
    edge2 = edge.copy()
    edge2[:, 50:] = 0
    ice2 = np.full_like(ice, 0.5)
    partial = extract_fronts(edge2, ice2, fjord=fjord)
    assert partial.fronts[0].quality == QUALITY_PARTIAL
    assert partial.fronts[0].spans_fjord is False


def test_extract_rejects_short_and_weak_fronts():
    edge = np.zeros((60, 60), np.float32)
    edge[30, 10:22] = 0.9  # 11 px long
    edge[10, 5:55] = 0.55  # long but weak
    result = extract_fronts(edge, min_length_px=20, min_confidence=0.6, max_fronts=10)
    flags = sorted(f.quality for f in result.fronts)
    assert flags == sorted([QUALITY_SHORT, QUALITY_LOW_CONFIDENCE])
    assert result.accepted == []
    # by default one line per scene is kept: a good one before any rejected one
    edge[50, 5:55] = 0.9
    best = extract_fronts(edge, min_length_px=20, min_confidence=0.6).fronts
    assert len(best) == 1 and best[0].quality == QUALITY_GOOD and best[0].length_px > 45
    assert extract_fronts(np.zeros((20, 20))).fronts == []


def test_extract_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        extract_fronts(np.zeros((10, 10)), ice=np.zeros((10, 11)))
    with pytest.raises(ValueError, match="rock"):
        extract_fronts(np.zeros((10, 10)), ice=np.zeros((10, 10)), rock=np.zeros((9, 10)))


def test_rock_output_tells_a_coast_from_the_front():
    """Land below a wavy line, ocean above; the left 45 columns of the land are rock (a coast), the rest
    glacier. The edge output fires along the whole boundary, as a network does at a bright coast: without
    the rock output the coast is part of the front, with it only the glacier's stretch is."""
    edge, ice, truth = _synthetic()
    rock = np.zeros_like(ice)
    rock[:, :45] = ice[:, :45]
    plain = extract_fronts(edge, ice).accepted
    assert len(plain) == 1 and plain[0].xy[:, 0].min() < 10
    with_rock = extract_fronts(edge, ice, rock=rock).accepted
    assert len(with_rock) == 1
    front = with_rock[0]
    # the front starts where the glacier does (within the rock reach of 2 px and the line's trim)
    assert 45 <= front.xy[:, 0].min() <= 50 and front.xy[:, 0].max() > 95
    glacier_part = truth[truth[:, 0] > 48]
    assert line_distance([front.xy], [glacier_part])["mean"] < 0.8
    assert front.confidence == pytest.approx(0.9, abs=0.01)
    # an unsure rock output (0.5 everywhere) halves the evidence, it does not move the line
    unsure = extract_fronts(edge, ice, rock=np.full_like(ice, 0.5), min_confidence=0.3).accepted
    assert unsure[0].confidence == pytest.approx(0.45, abs=0.01) and unsure[0].length_px > 95


# ------------------------------------------------------------------ extraction on real labels


def test_extraction_on_real_fronts_recovers_the_labelled_line():
    """Ground-truth-derived probabilities of real scenes: the traced line lies on the label."""
    from training.fronts.data import load_landsat, load_sar

    root_l = shared_path("fronts-landsat")
    root_s = shared_path("fronts-sar")
    names_l = sorted(p.name[: -len("_Subset.png")] for p in (root_l / "images").glob("*_Subset.png"))[::25]
    names_s = sorted(p.stem for p in (root_s / "images").glob("*.png"))[::100]
    samples = load_landsat(root_l, set(names_l)) + load_sar(root_s, set(names_s))
    assert len(samples) >= 8
    errors = []
    for s in samples:
        edge = ndimage.gaussian_filter(s.edge.astype(np.float32), 0.7)
        edge = edge / edge.max() * 0.9
        ice = np.where(s.ice_weight > 0, s.ice, 0.5).astype(np.float32)
        result = extract_fronts(edge, ice, max_fronts=10)  # labelled fronts may come in pieces
        assert result.accepted, f"no front traced in {s.name}"
        pred = np.concatenate([f.xy for f in result.accepted])
        errors.append(symmetric_distance(pred, points_from_mask(s.edge_1px))["mean"])
    assert np.mean(errors) < 1.0, errors
    assert max(errors) < 2.0, errors


# ------------------------------------------------------------------ scene names


def test_scene_names_for_front_scenes():
    """The shared parser (plugin.engine.fronts.scene_names) reads the names front users meet."""
    for name, date, sensor in [
        ("LE07_L1TP_022006_20000707_20170212_01_T1_B8_Subset.tif", "2000-07-07", "Landsat 7 ETM+"),
        ("S1B_IW_GRDH_1SDH_20190612T083015_20190612T083040_016651_01F56C_1A2B.tif", "2019-06-12",
         "Sentinel-1B SAR"),
        ("/data/JAC_2011-01-25_TSX_6_1_005.png", "2011-01-25", "TSX"),
        ("Helheim_LE07_L1TP_233013_20000529_20170211_01_T1_B8_Subset.tif", "2000-05-29", "Landsat 7 ETM+"),
        ("Helheim_LC08_L1TP_2016-07-05_232-013_T1_B8_Subset.tif", "2016-07-05", "Landsat 8 OLI"),
        ("helheim_2016-07-05_subset.tif", "2016-07-05", None),
        ("clove_2016-07-05.tif", "2016-07-05", None),
    ]:
        info = parse_scene_name(name)
        assert (info["date"], info["sensor"]) == (date, sensor)


def test_sensor_kind_of_scene_names():
    """Which shipped front model a scene gets follows from its name: optical, SAR or unknown (never a guess)."""
    for name, kind in [
        ("LE07_L1TP_022006_20000707_20170212_01_T1_B8_Subset.tif", "optical"),
        ("LC08_L1TP_230012_20150819_20170226_01_T1_B8.tif", "optical"),
        ("Kangerlussuaq_LT05_L1TP_1988-03-24_231-012_T1_B2_Subset.tif", "optical"),
        ("S2A_MSIL1C_20200716T151911_N0209_R068_T22WEB_20200716T171720.tif", "optical"),
        ("S1B_IW_GRDH_1SDH_20190612T083015_20190612T083040_016651_01F56C_1A2B.tif", "sar"),
        ("JAC_2011-01-25_TSX_6_1_005.png", "sar"),
        ("Mapple_2008-10-14_ENVISAT_20_3_467.tif", "sar"),
        ("DBE_2009-11-20_PALSAR_17_1_130.tif", "sar"),
        ("Jorum_2016-07-03_S1_20_2_009.tif", "sar"),
        ("SI_1996-02-10_ERS_20_2_125.tif", "sar"),
        ("helheim_2016-07-03.tif", None),
        ("scene.tif", None),
    ]:
        assert sensor_kind(parse_scene_name(name)["sensor"]) == kind, name


def test_sensor_chooser_prefers_the_scenes_sensor_then_any():
    from plugin.engine.core.model import sensor_chooser

    general, optical, sar = ("g.onnx", {"sensors": "any"}), ("o.onnx", {"sensors": "optical"}), \
        ("s.onnx", {"sensors": "sar"})
    assert sensor_chooser("optical")([general, optical]) is optical
    assert sensor_chooser("sar")([general, optical]) is general  # no SAR model: the general one
    assert sensor_chooser(None)([optical, general]) is general  # unknown sensor: the general one
    assert sensor_chooser("sar")([optical, sar, general]) is sar
    assert sensor_chooser(None)([optical]) is optical  # the only model there is


def test_match_key_pairs_images_and_labels():
    assert match_key("/x/LE07_A_B8_Subset.tif") == match_key("LE07_A_B8_Front.png") == "le07_a_b8"
    assert match_key("JAC_2011_front") == match_key("JAC_2011_layered") == "jac_2011"


def test_extract_ignores_the_scene_edge_and_nodata():
    edge, ice, truth = _synthetic()
    edge[:, -2:] = 0.95  # the network firing along the scene edge
    valid = np.ones_like(edge, bool)
    valid[:15, :] = False  # nodata strip; its boundary fires too
    edge[15:17, :] = 0.95
    result = extract_fronts(edge, ice, valid=valid)
    assert len(result.accepted) == 1
    xy = result.accepted[0].xy
    assert xy[:, 0].max() < edge.shape[1] - 2 and xy[:, 1].min() > 17
    assert line_distance([xy], [truth])["mean"] < 1.0
