"""Readers of the workspace files the report is built from, one small function per input.

Each reader returns ``None`` (or an empty list) when its file is absent, so the section that
needs it is left out; a file that exists but cannot be read raises :class:`InputDataError`
naming the file. JSON files are read through their records (``read()`` of the class beside the
stage that writes them), in the one layout that stage writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiomics_hnc.choices import CVScheme, ModelTask
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import read_provenance
from radiomics_hnc.modeling.records import (
    IMPORTANCE_FILE,
    METRICS_FILE,
    OOF_COLUMNS,
    OOF_FILE,
    SCORE_COLUMNS,
    RunRecord,
)
from radiomics_hnc.modeling.specs import ModelSpec, load_spec
from radiomics_hnc.segment.summary import SUMMARY_FILE, SegmentationSummary
from radiomics_hnc.validate import ValidationRecord
from radiomics_hnc.workspace import Workspace

log = logging.getLogger(__name__)

def read_table(path: Path) -> pd.DataFrame:
    """A parquet table, or an :class:`InputDataError` naming it."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"table could not be read ({exc})", path=path,
                             hint="rerun the stage that wrote it") from exc


def read_manifest(ws: Workspace) -> pd.DataFrame | None:
    """The whole manifest (excluded patients included), or None."""
    return ws.load_manifest() if ws.manifest_path.is_file() else None


def read_validation(ws: Workspace) -> ValidationRecord | None:
    """validation.json (findings, excluded patients, check meanings), or None."""
    return ws.load_validation()


def read_patient_features(ws: Workspace, folder: Path | None = None) -> pd.DataFrame | None:
    """patients.parquet of ``folder`` (default ``features/``), or None."""
    path = (folder or ws.features_dir) / "patients.parquet"
    return read_table(path) if path.is_file() else None


def read_extraction_errors(ws: Workspace, folder: Path | None = None) -> pd.DataFrame | None:
    """errors.parquet of ``folder`` (default ``features/``): patient_id, lesion_id, stage,
    error_type, message; or None."""
    path = (folder or ws.features_dir) / "errors.parquet"
    return read_table(path) if path.is_file() else None


def file_provenance(path: Path) -> dict[str, Any]:
    """Provenance metadata of a parquet file (empty when absent or unreadable)."""
    if not path.is_file():
        return {}
    try:
        return read_provenance(path)
    except (OSError, ValueError):
        log.warning("no readable provenance in %s", path)
        return {}


@dataclass
class SegmentationResults:
    """Per-patient segmentation metrics and the cohort summary written by ``segment evaluate``
    (None when only the table is there)."""

    metrics: pd.DataFrame
    summary: SegmentationSummary | None


def read_segmentation(ws: Workspace) -> SegmentationResults | None:
    """segmentation/segmentation_metrics.parquet and summary.json, or None when not evaluated."""
    table_path = ws.segmentation_dir / "segmentation_metrics.parquet"
    summary_path = ws.segmentation_dir / SUMMARY_FILE
    if not table_path.is_file() and not summary_path.is_file():
        return None
    metrics = read_table(table_path) if table_path.is_file() else pd.DataFrame()
    summary = SegmentationSummary.read(summary_path) if summary_path.is_file() else None
    return SegmentationResults(metrics, summary)


@dataclass
class Run:
    """One fitted model run (``WORKSPACE/runs/<name>/``) with its out-of-fold predictions."""

    name: str
    path: Path
    record: RunRecord  # metrics.json
    spec: ModelSpec  # spec.yaml: the spec as run
    oof: pd.DataFrame
    importance: pd.DataFrame | None = None

    @property
    def task(self) -> ModelTask:
        return self.record.task

    @property
    def scheme(self) -> CVScheme:
        """The validation scheme."""
        return self.record.cv

    def metric(self, name: str) -> tuple[float, float, float]:
        """(estimate, 95 % CI low, 95 % CI high) of a metric; NaN where not reported."""
        return self.record.metric(name)

    @property
    def spec_name(self) -> str:
        return self.spec.name

    @property
    def feature_set(self) -> str:
        parts = list(self.spec.features)
        if self.spec.columns:
            parts.append(f"{len(self.spec.columns)} named columns")
        return "+".join(parts)


def read_runs(ws: Workspace) -> list[Run]:
    """Every run folder with a metrics.json and out-of-fold predictions, sorted by name."""
    if not ws.runs_dir.is_dir():
        return []
    runs = []
    for folder in sorted(p for p in ws.runs_dir.iterdir() if p.is_dir()):
        if not (folder / METRICS_FILE).is_file() or not (folder / OOF_FILE).is_file():
            log.info("skipping %s: no %s or %s (an unfinished run)", folder, METRICS_FILE,
                     OOF_FILE)
            continue
        runs.append(read_run(folder))
    return runs


def read_run(folder: Path) -> Run:
    """One run folder: metrics.json, spec.yaml, oof_predictions.parquet and importance."""
    record = RunRecord.read(folder / METRICS_FILE)
    spec = load_spec(folder / "spec.yaml")
    oof = read_table(folder / OOF_FILE)
    missing = [c for c in OOF_COLUMNS[record.task] if c not in oof.columns]
    if missing:
        raise InputDataError(f"out-of-fold predictions lack {', '.join(missing)}",
                             path=folder / OOF_FILE,
                             hint=RunRecord.rewrite_hint(folder / METRICS_FILE,
                                                         record.model_dump(mode="json")))
    importance = None
    if (folder / IMPORTANCE_FILE).is_file():  # feature, importance, method
        importance = read_table(folder / IMPORTANCE_FILE).sort_values(
            "importance", ascending=False, key=np.abs, ignore_index=True)
    return Run(folder.name, folder, record, spec, oof, importance)


def oof_scores(run: Run, manifest: pd.DataFrame | None) -> pd.DataFrame:
    """Out-of-fold predictions, one row per patient, with the outcome columns attached.

    Repeated cross-validation predicts each patient several times: the repeats are averaged.
    Returns columns patient_id, center, score (risk for RFS, probability for HPV) and
    rfs_days, relapse, hpv_status where known.
    """
    oof = run.oof
    score = SCORE_COLUMNS[run.task]
    frame = oof.groupby("patient_id", sort=True).agg(score=(score, "mean")).reset_index()
    outcome_cols = ["center", "rfs_days", "relapse", "hpv_status"]
    present = [c for c in outcome_cols if c in oof.columns]
    if present:
        firsts = oof.groupby("patient_id", sort=True)[present].first().reset_index()
        frame = frame.merge(firsts, on="patient_id", how="left")
    missing = [c for c in outcome_cols if c not in frame.columns]
    if missing and manifest is not None:
        available = [c for c in missing if c in manifest.columns]
        frame = frame.merge(manifest[["patient_id", *available]], on="patient_id", how="left")
    return frame.reindex(columns=["patient_id", "score", *outcome_cols])
