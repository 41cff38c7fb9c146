"""Segmentation metrics against hand-computed cases and MONAI's DiceMetric."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from monai.metrics import DiceMetric

from radiomics_hnc.segment.metrics import (
    cohort_metrics,
    dice,
    dsc_agg,
    f1_agg,
    hd95,
    match_nodes,
    patient_metrics,
    summarise,
)


def _cube(shape, start, side):
    mask = np.zeros(shape, dtype=bool)
    z, y, x = start
    mask[z:z + side, y:y + side, x:x + side] = True
    return mask


def test_dice_hand_computed():
    truth = _cube((10, 10, 10), (0, 0, 0), 4)  # 64 voxels
    pred = _cube((10, 10, 10), (0, 0, 2), 4)  # overlaps on 4*4*2 = 32 voxels
    assert dice(truth, pred) == pytest.approx(2 * 32 / 128)
    assert dice(truth, np.zeros_like(truth)) == 0.0
    assert math.isnan(dice(np.zeros_like(truth), np.zeros_like(truth)))


def test_dice_matches_monai_on_random_masks():
    rng = np.random.default_rng(3)
    metric = DiceMetric(include_background=True, reduction="none")
    for _ in range(5):
        truth = rng.random((12, 13, 14)) < 0.3
        pred = rng.random((12, 13, 14)) < 0.4
        reference = metric(torch.from_numpy(pred)[None, None].float(),
                           torch.from_numpy(truth)[None, None].float())
        assert dice(truth, pred) == pytest.approx(float(reference.item()), rel=1e-6)


def test_hd95_shifted_cube_in_mm():
    truth = _cube((20, 20, 20), (5, 5, 5), 10)
    pred = _cube((20, 20, 20), (5, 5, 7), 10)  # shifted 2 voxels along x
    assert hd95(truth, truth, (2.0, 2.0, 2.0)) == 0.0
    assert hd95(truth, pred, (2.0, 2.0, 2.0)) == pytest.approx(4.0)
    assert hd95(truth, pred, (1.0, 1.0, 3.0)) == pytest.approx(6.0)  # x spacing 3 mm
    assert math.isnan(hd95(truth, np.zeros_like(truth), (1.0, 1.0, 1.0)))


def test_node_matching_uses_iou_above_threshold():
    shape = (30, 30, 30)
    truth = _cube(shape, (0, 0, 0), 6) | _cube(shape, (20, 20, 20), 6)
    # first node found with IoU 108/324 = 0.33; one false positive far away; second node missed
    pred = _cube(shape, (0, 0, 3), 6) | _cube(shape, (0, 20, 0), 3)
    assert match_nodes(truth, pred) == (1, 1, 1)
    # overlap 72, union 360: IoU 0.2 <= 0.3, not a detection
    assert match_nodes(_cube(shape, (0, 0, 0), 6), _cube(shape, (0, 0, 4), 6)) == (0, 1, 1)


def test_dsc_agg_and_f1_agg_worked_example():
    frame = pd.DataFrame({
        "center": ["A", "B"],
        "tp_voxels_gtvp": [5, 10], "true_voxels_gtvp": [10, 30], "pred_voxels_gtvp": [10, 10],
        "node_tp": [1, 0], "node_fp": [1, 1], "node_fn": [1, 1],
    })
    assert dsc_agg(frame, "gtvp") == pytest.approx(2 * 15 / 60)  # not the mean of 0.5 and 0.5
    assert f1_agg(frame) == pytest.approx(2 / 6)


def test_patient_metrics_and_summary_by_centre():
    labels = np.zeros((20, 20, 20), dtype=np.uint8)
    labels[2:8, 2:8, 2:8] = 1
    labels[12:16, 12:16, 12:16] = 2
    pred = labels.copy()
    pred[2:8, 2:8, 2:5] = 0  # half the primary missed
    row = patient_metrics(labels, pred, (2.0, 1.0, 1.0))
    assert row["dice_gtvp"] == pytest.approx(2 * 108 / (216 + 108))
    assert row["dice_gtvn"] == 1.0
    assert row["volume_true_gtvp_ml"] == pytest.approx(216 * 2.0 / 1000)
    assert (row["node_tp"], row["node_fp"], row["node_fn"]) == (1, 0, 0)
    frame = pd.DataFrame([{"center": "A", **row}, {"center": "B", **row}])
    summary = summarise(frame)
    assert summary["overall"]["dsc_agg_gtvn"] == 1.0
    assert summary["overall"]["f1agg_gtvn"] == 1.0
    assert set(summary["by_center"]) == {"A", "B"}
    assert cohort_metrics(frame)["dsc_agg_mean"] == pytest.approx((row["dice_gtvp"] + 1.0) / 2)


def _metrics_by_hand(truth: np.ndarray, prediction: np.ndarray, spacing) -> dict:
    """The per-label metrics computed on the whole grid, without the crop."""
    out = {}
    for name, value in (("gtvp", 1), ("gtvn", 2)):
        out[f"dice_{name}"] = dice(truth == value, prediction == value)
        out[f"hd95_{name}_mm"] = hd95(truth == value, prediction == value, spacing)
    out["nodes"] = match_nodes(truth == 2, prediction == 2)
    return out


@pytest.mark.parametrize("case", ["inside", "touching_the_border", "empty"])
def test_patient_metrics_on_the_labels_box_equal_the_whole_grid(case):
    """Evaluation crops both maps to the labels' box (a full-scale CT grid is 40 M voxels):
    every metric must equal the whole-grid value, also when a mask touches the image border
    (surfaces there) and when both maps are empty."""
    rng = np.random.default_rng(3)
    truth = np.zeros((30, 40, 50), dtype=np.uint8)
    pred = np.zeros_like(truth)
    if case != "empty":
        truth[8:16, 10:20, 12:24] = 1
        pred[9:17, 11:20, 12:22] = 1
        truth[20:24, 28:33, 30:35] = 2
        pred[20:25, 28:32, 31:35] = 2
        pred[2:4, 2:4, 44:47] = 2  # a false-positive node far from the others
        pred[(rng.random(truth.shape) < 0.002) & (truth == 0)] = 2
    if case == "touching_the_border":
        truth[0:5, 0:6, 0:4] = 1
        pred[0:4, 0:6, 0:5] = 1
    spacing = (2.0, 0.9, 1.1)
    row = patient_metrics(truth, pred, spacing)
    expected = _metrics_by_hand(truth, pred, spacing)
    for key in ("dice_gtvp", "dice_gtvn", "hd95_gtvp_mm", "hd95_gtvn_mm"):
        assert row[key] == pytest.approx(expected[key], nan_ok=True), key
    assert (row["node_tp"], row["node_fp"], row["node_fn"]) == expected["nodes"]
    assert row["true_voxels_gtvp"] == int((truth == 1).sum())
    assert row["pred_voxels_gtvn"] == int((pred == 2).sum())
