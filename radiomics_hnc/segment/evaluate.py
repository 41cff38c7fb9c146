"""Evaluation of masks against ground-truth labels: writes
``WORKSPACE/segmentation/segmentation_metrics.parquet`` (one row per patient, see
:func:`radiomics_hnc.segment.metrics.patient_metrics`, plus ``trained_on`` when the segmenter's
model folder is known) and ``summary.json``
(:class:`~radiomics_hnc.segment.summary.SegmentationSummary`): cohort and per-centre DSCagg,
mean GTVp Dice and GTVn F1agg over every evaluated patient (``overall``, ``by_center``) and over
the patients the segmenter was not trained on (``not_trained_on``,
``not_trained_on_by_center``: the headline, since a segmenter scores higher on its own training
patients), and the patients that could not be evaluated."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.geometry import grid_mismatch
from radiomics_hnc.io import read_image, write_parquet
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.segment.metrics import patient_metrics, summarise
from radiomics_hnc.segment.summary import SUMMARY_FILE, SegmentationSummary
from radiomics_hnc.segment.train import MODEL_INFO_FILE, segmenter_training, trained_patients
from radiomics_hnc.workspace import Workspace, manifest_records, patient_file

log = logging.getLogger(__name__)

METRICS_FILE = "segmentation_metrics.parquet"
#: Column of the metrics table: True for a patient in the segmenter's ``train_patients``.
TRAINED_ON = "trained_on"


@dataclass(frozen=True)
class EvaluationResult:
    """Per-patient metrics, the summary written to summary.json, and the skipped patients."""

    metrics: pd.DataFrame
    summary: SegmentationSummary
    failures: list[PatientFailure]


def _nan_to_none(value: object) -> object:
    """Undefined metrics (NaN) as JSON null."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and np.isnan(value) else value


def _workspace_relative(folder: Path, ws: Workspace) -> str:
    """``folder`` relative to the workspace when inside it (the workspace may move), else
    absolute."""
    folder, root = folder.absolute(), ws.root.absolute()
    return str(folder.relative_to(root)) if root in folder.parents else str(folder)


def evaluate_patient(args: tuple[str, str, str]) -> dict[str, float]:
    """Metrics of one patient from ``(patient_id, ground-truth path, predicted mask path)``."""
    pid, truth_path, mask_path = args
    truth = read_image(truth_path, pid)
    mask = read_image(mask_path, pid)
    mismatch = grid_mismatch(mask, truth)
    if mismatch is not None:
        raise InputDataError(
            f"the mask is not on the label's grid: expected {mismatch.expected}; found "
            f"{mismatch.found}", patient_id=pid, path=mask_path,
            hint="masks must be on the CT grid; re-run 'radiomics-hnc segment predict'",
        )
    spacing_zyx = truth.GetSpacing()[::-1]
    return patient_metrics(sitk.GetArrayFromImage(truth), sitk.GetArrayFromImage(mask),
                           spacing_zyx)


def default_model_dir(workspace: str | Path) -> Path | None:
    """``WORKSPACE/segmenter`` when it holds a finished training run, else None."""
    folder = Workspace(workspace).segmenter_dir
    return folder if (folder / MODEL_INFO_FILE).is_file() else None


def summarise_by_training(frame: pd.DataFrame, trained: set[str] | None) -> dict:
    """:func:`~radiomics_hnc.segment.metrics.summarise` over every patient and, when
    ``trained`` is known, over the patients not in it (None when there are none), every scope
    with its ``n_trained_on``."""
    if trained is None:
        return summarise(frame)
    summary = _summarise_counting_trained(frame)
    unseen = frame[~frame[TRAINED_ON]]
    counted = _summarise_counting_trained(unseen) if len(unseen) else {}
    summary["not_trained_on"] = counted.get("overall")
    summary["not_trained_on_by_center"] = counted.get("by_center")
    return summary


def _summarise_counting_trained(frame: pd.DataFrame) -> dict:
    summary = summarise(frame)
    summary["overall"]["n_trained_on"] = int(frame[TRAINED_ON].sum())
    for centre, group in frame.groupby("center", sort=True):
        summary["by_center"][str(centre)]["n_trained_on"] = int(group[TRAINED_ON].sum())
    return summary


def evaluate_masks(workspace: str | Path, masks_dir: str | Path | None = None, *,
                   model_dir: str | Path | None = None, jobs: int = 1,
                   progress: bool = False) -> EvaluationResult:
    """Compare ``masks_dir/<PID>.nii.gz`` (default ``WORKSPACE/masks``) with the labels of every
    eligible patient that has both; patients without a mask or label are reported, not fatal.

    ``model_dir`` is the segmenter's model folder, whose ``model.json`` says which patients it
    was trained on (default ``WORKSPACE/segmenter`` when it holds one); without one the summary
    has no ``not_trained_on`` figures and ``segmenter`` is null.
    """
    ws = Workspace(workspace)
    masks_dir = Path(masks_dir) if masks_dir else ws.masks_dir
    model_dir = Path(model_dir) if model_dir else default_model_dir(ws.root)
    trained = trained_patients(model_dir) if model_dir is not None else None
    manifest = ws.eligible_manifest()
    centre = dict(zip(manifest["patient_id"], manifest["center"], strict=True))
    tasks, failures = [], []
    for record in manifest_records(manifest, ["patient_id", "label_path"]):
        pid = record["patient_id"]
        mask = patient_file(masks_dir, pid, ".nii.gz")
        if record["label_path"] is None or not mask.is_file():
            missing = "ground-truth label" if record["label_path"] is None else f"mask {mask}"
            failures.append(PatientFailure(pid, "MissingInput", f"no {missing}", True))
            continue
        tasks.append((pid, (pid, record["label_path"], str(mask))))
    rows = []
    for pid, result in map_patients(evaluate_patient, tasks, jobs=jobs, progress=progress,
                                    description="evaluating"):
        if isinstance(result, PatientFailure):
            failures.append(result)
        else:
            rows.append({"patient_id": pid, "center": centre[pid], **result})
    for failure in failures:
        log.warning("not evaluated %s: %s", failure.patient_id, failure.message)
    if not rows:
        raise InputDataError("no patient could be evaluated", path=masks_dir,
                             hint="predict masks first or pass --masks")
    frame = pd.DataFrame(rows).sort_values("patient_id", ignore_index=True)
    if trained is not None:
        frame[TRAINED_ON] = frame["patient_id"].isin(trained)
    summary = summarise_by_training(frame, trained)
    summary["segmenter"] = str(model_dir) if model_dir is not None else None
    training = segmenter_training(model_dir) if model_dir is not None else None
    summary["segmenter_training"] = None if training is None else training.model_dump()
    summary["masks_dir"] = _workspace_relative(masks_dir, ws)
    summary["not_evaluated"] = [{"patient_id": f.patient_id, "message": f.message}
                                for f in failures]
    record = SegmentationSummary.model_validate(_nan_to_none(summary))
    write_parquet(frame, ws.segmentation_dir / METRICS_FILE)
    record.write(ws.segmentation_dir / SUMMARY_FILE)
    return EvaluationResult(frame, record, failures)
