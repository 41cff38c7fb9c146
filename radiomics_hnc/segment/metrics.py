"""Segmentation metrics (HECKTOR definitions, see reference/hecktor.md).

Per patient: Dice and HD95 (mm) for GTVp (label 1) and GTVn (label 2), volumes (ml), the voxel
counts that aggregated Dice needs and the node detection counts. Per cohort (and per centre):

- DSCagg (HECKTOR 2022) per label: 2 * sum(TP) / sum(|GT| + |Pred|) over all patients;
- mean per-patient GTVp Dice (HECKTOR 2025), over patients where GT or prediction is non-empty;
- GTVn detection F1agg (HECKTOR 2025): 2TP / (2TP + FP + FN) summed over patients, where a
  predicted node (26-connected component of label 2) is a true positive when its IoU with a
  not yet matched true node is > 0.3 (greedy one-to-one matching by decreasing IoU).

Arrays are (z, y, x) numpy label maps on the same grid; ``spacing`` is in (z, y, x) order, mm.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_hausdorff_distance
from scipy import ndimage

LABELS = {"gtvp": 1, "gtvn": 2}
#: IoU above which a predicted node detects a true node (HECKTOR 2025).
DETECTION_IOU = 0.3
_CONNECTIVITY_26 = ndimage.generate_binary_structure(3, 3)


def dice(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Dice of two boolean masks; NaN when both are empty (undefined)."""
    total = int(truth.sum()) + int(prediction.sum())
    if total == 0:
        return math.nan
    return 2.0 * int(np.logical_and(truth, prediction).sum()) / total


def hd95(truth: np.ndarray, prediction: np.ndarray, spacing: Sequence[float]) -> float:
    """95th-percentile symmetric Hausdorff distance (mm) between mask surfaces (MONAI);
    NaN when either mask is empty."""
    if not truth.any() or not prediction.any():
        return math.nan
    as_tensor = [torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
                 for m in (prediction, truth)]
    with warnings.catch_warnings():  # MONAI 1.5-1.6 warns about its own internal argument
        warnings.simplefilter("ignore", FutureWarning)
        value = compute_hausdorff_distance(*as_tensor, percentile=95.0,
                                           spacing=[float(s) for s in spacing])
    return float(value.item())


def match_nodes(truth: np.ndarray, prediction: np.ndarray,
                iou_threshold: float = DETECTION_IOU) -> tuple[int, int, int]:
    """(TP, FP, FN) node counts between the connected components of two boolean masks."""
    true_cc, n_true = ndimage.label(truth, structure=_CONNECTIVITY_26)
    pred_cc, n_pred = ndimage.label(prediction, structure=_CONNECTIVITY_26)
    if n_true == 0 or n_pred == 0:
        return 0, n_pred, n_true
    # Joint histogram of (true id, predicted id) over voxels gives every intersection at once.
    pair = true_cc.ravel().astype(np.int64) * (n_pred + 1) + pred_cc.ravel()
    overlap = np.bincount(pair, minlength=(n_true + 1) * (n_pred + 1)).reshape(
        n_true + 1, n_pred + 1)
    true_sizes, pred_sizes = overlap.sum(axis=1)[1:], overlap.sum(axis=0)[1:]
    inter = overlap[1:, 1:]
    iou = inter / (true_sizes[:, None] + pred_sizes[None, :] - inter)
    matched_true, matched_pred = set(), set()
    for t, p in sorted(zip(*np.nonzero(iou > iou_threshold), strict=True),
                       key=lambda tp: -iou[tp]):
        if t not in matched_true and p not in matched_pred:
            matched_true.add(t)
            matched_pred.add(p)
    tp = len(matched_pred)
    return tp, n_pred - tp, n_true - tp


def crop_to_labels(truth: np.ndarray, prediction: np.ndarray,
                   margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both label maps cropped to the box holding every labelled voxel of either, plus
    ``margin`` voxels (so no mask touches a new border), or to one voxel when both are empty.

    Every metric here depends only on labelled voxels and their surfaces, so it is unchanged;
    a full-scale CT grid (512 x 512 x ~150) shrinks to the lesions' box, which is what makes
    evaluation cost seconds less per patient.
    """
    occupied = (truth != 0) | (prediction != 0)
    if not occupied.any():
        return truth[:1, :1, :1], prediction[:1, :1, :1]
    box = []
    for axis in range(truth.ndim):
        others = tuple(a for a in range(truth.ndim) if a != axis)
        present = np.flatnonzero(occupied.any(axis=others))
        box.append(slice(max(int(present[0]) - margin, 0),
                         min(int(present[-1]) + margin + 1, truth.shape[axis])))
    return truth[tuple(box)], prediction[tuple(box)]


def patient_metrics(truth: np.ndarray, prediction: np.ndarray,
                    spacing: Sequence[float]) -> dict[str, float]:
    """All per-patient metrics of one label map pair (see the module docstring)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    truth, prediction = crop_to_labels(truth, prediction)
    row: dict[str, float] = {}
    for name, value in LABELS.items():
        t, p = truth == value, prediction == value
        row[f"dice_{name}"] = dice(t, p)
        row[f"hd95_{name}_mm"] = hd95(t, p, spacing)
        row[f"volume_true_{name}_ml"] = float(t.sum()) * voxel_ml
        row[f"volume_pred_{name}_ml"] = float(p.sum()) * voxel_ml
        row[f"tp_voxels_{name}"] = int(np.logical_and(t, p).sum())
        row[f"true_voxels_{name}"] = int(t.sum())
        row[f"pred_voxels_{name}"] = int(p.sum())
    tp, fp, fn = match_nodes(truth == LABELS["gtvn"], prediction == LABELS["gtvn"])
    row.update(node_tp=tp, node_fp=fp, node_fn=fn)
    return row


def dsc_agg(frame: pd.DataFrame, name: str) -> float:
    """HECKTOR 2022 aggregated Dice of one label over the rows of :func:`patient_metrics`."""
    denominator = frame[f"true_voxels_{name}"].sum() + frame[f"pred_voxels_{name}"].sum()
    return float(2.0 * frame[f"tp_voxels_{name}"].sum() / denominator) if denominator else math.nan


def f1_agg(frame: pd.DataFrame) -> float:
    """HECKTOR 2025 aggregated GTVn detection F1 over the rows of :func:`patient_metrics`."""
    tp, fp, fn = (int(frame[c].sum()) for c in ("node_tp", "node_fp", "node_fn"))
    return 2.0 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else math.nan


def cohort_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """DSCagg per label and their mean, mean per-patient GTVp Dice and GTVn F1agg."""
    gtvp, gtvn = dsc_agg(frame, "gtvp"), dsc_agg(frame, "gtvn")
    return {
        "n_patients": len(frame),
        "dsc_agg_gtvp": gtvp,
        "dsc_agg_gtvn": gtvn,
        "dsc_agg_mean": float(np.nanmean([gtvp, gtvn])) if not (
            math.isnan(gtvp) and math.isnan(gtvn)) else math.nan,
        "mean_dice_gtvp": float(frame["dice_gtvp"].mean()) if len(frame) else math.nan,
        "f1agg_gtvn": f1_agg(frame),
    }


def summarise(frame: pd.DataFrame) -> dict:
    """``{"overall": cohort_metrics, "by_center": {centre: cohort_metrics}}``."""
    return {
        "overall": cohort_metrics(frame),
        "by_center": {str(c): cohort_metrics(g) for c, g in frame.groupby("center", sort=True)},
    }
