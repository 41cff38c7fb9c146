"""Workspace records as the stages write them, built directly for report and headline tests."""

from __future__ import annotations

from typing import Any

from radiomics_hnc.modeling.records import RunRecord
from radiomics_hnc.segment.summary import SegmentationSummary


def estimate(value: float, half_width: float = 0.05) -> dict[str, float]:
    """A metric entry: the estimate, a symmetric 95 % interval and 200 replicates."""
    return {"estimate": value, "ci_low": value - half_width, "ci_high": value + half_width,
            "n_bootstrap": 200}


def run_record(spec: str, task: str, cv: str, metrics: dict[str, dict[str, float]],
               **fields: Any) -> RunRecord:
    """A run's metrics.json record: ``metrics`` and any key of :class:`RunRecord` given, the
    rest as ``fit`` writes them for a run without warnings."""
    metric = "c_index" if task == "rfs" else "roc_auc"
    record: dict[str, Any] = {
        "task": task, "cv": cv, "spec": spec, "n_patients": 40, "n_labelled": 35,
        "n_features_in": 4, "metrics": metrics,
        "headline": {"metric": f"{metric}_fold_aware", "definition": f"fold-aware {metric}"},
        "folds": [], "degenerate": None, "pooled_centers": [],
        "fold_summary": {"metric": metric, "mean": 0.7, "sd": 0.04, "n_folds": 3,
                         "n_scored": 3},
        "inputs": {"n_inputs": 4, "n_usable": 4, "n_used_by_final_model": 4,
                   "mostly_missing": [], "n_mostly_missing": 0, "constant": [],
                   "n_constant": 0, "warning": None},
    }
    record.update(fields)
    return RunRecord.model_validate(record)


def scores(dsc: float, n: int = 10, **fields: Any) -> dict[str, Any]:
    """Segmentation figures of a group of ``n`` patients."""
    return {"n_patients": n, "dsc_agg_gtvp": dsc, "dsc_agg_gtvn": dsc - 0.1,
            "dsc_agg_mean": dsc - 0.05, "mean_dice_gtvp": dsc - 0.02, "f1agg_gtvn": 0.6,
            **fields}


def segmentation_summary(overall: dict[str, Any], by_center: dict[str, dict[str, Any]],
                         masks_dir: str = "masks", **fields: Any) -> SegmentationSummary:
    """A summary.json record evaluated without the segmenter's model folder, unless
    ``fields`` say otherwise."""
    return SegmentationSummary.model_validate({
        "overall": overall, "by_center": by_center, "segmenter": None,
        "masks_dir": masks_dir, "not_evaluated": [], **fields})
