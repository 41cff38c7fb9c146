"""Readers of the workspace files the report is built from, one small function per input.

Each reader returns ``None`` (or an empty list) when its file is absent, so the section that
needs it is left out; a file that exists but cannot be read raises :class:`InputDataError`
naming the file. The formats of the other stages' outputs are read here and nowhere else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import read_provenance
from radiomics_hnc.workspace import Workspace

log = logging.getLogger(__name__)

#: Accepted spellings of each metric in a run's metrics.json (first found wins).
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "c_index": ("c_index", "harrell_c", "cindex", "c_harrell", "concordance_index"),
    "uno_c": ("uno_c", "c_uno", "uno_c_index", "uno"),
    "c_index_within_centre": ("c_index_within_centre",),
    # Runs written before the fold-aware key: under LOCO the within-centre C is that figure.
    "c_index_fold_aware": ("c_index_fold_aware", "c_index_within_centre"),
    "ibs": ("ibs", "integrated_brier_score"),
    "roc_auc": ("roc_auc", "auc"),
    "roc_auc_within_centre": ("roc_auc_within_centre",),
    "roc_auc_fold_aware": ("roc_auc_fold_aware", "roc_auc_within_centre"),
    "balanced_accuracy": ("balanced_accuracy", "bacc"),
    "sensitivity": ("sensitivity", "recall"),
    "specificity": ("specificity",),
    "brier": ("brier", "brier_score"),
}
_ESTIMATE_KEYS = ("estimate", "value", "mean", "point")
_LOW_KEYS = ("ci_low", "lower", "low", "ci_lower")
_HIGH_KEYS = ("ci_high", "upper", "high", "ci_upper")
_RISK_COLUMNS = ("risk", "risk_score", "predicted_risk", "prediction")
_PROBABILITY_COLUMNS = ("probability", "hpv_probability", "p_hpv", "predicted_probability",
                        "prediction")


def read_json(path: Path) -> Any:
    """A JSON file, or an :class:`InputDataError` naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputDataError(f"JSON file could not be read ({exc})", path=path,
                             hint="rerun the stage that wrote it") from exc


def read_table(path: Path) -> pd.DataFrame:
    """A parquet or CSV table, or an :class:`InputDataError` naming it."""
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"table could not be read ({exc})", path=path,
                             hint="rerun the stage that wrote it") from exc


def read_manifest(ws: Workspace) -> pd.DataFrame | None:
    """The whole manifest (excluded patients included), or None."""
    return ws.load_manifest() if ws.manifest_path.is_file() else None


def read_validation(ws: Workspace) -> dict[str, Any] | None:
    """validation.json (findings, excluded patients, check meanings), or None."""
    return read_json(ws.validation_path) if ws.validation_path.is_file() else None


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
    """Per-patient segmentation metrics and the cohort summary written by ``segment evaluate``."""

    metrics: pd.DataFrame
    summary: dict[str, Any]


def read_segmentation(ws: Workspace) -> SegmentationResults | None:
    """segmentation/segmentation_metrics.parquet and summary.json, or None when not evaluated."""
    table_path = ws.segmentation_dir / "segmentation_metrics.parquet"
    summary_path = ws.segmentation_dir / "summary.json"
    if not table_path.is_file() and not summary_path.is_file():
        return None
    metrics = read_table(table_path) if table_path.is_file() else pd.DataFrame()
    summary = read_json(summary_path) if summary_path.is_file() else {}
    return SegmentationResults(metrics, summary)


@dataclass
class Run:
    """One fitted model run (``WORKSPACE/runs/<name>/``) with its out-of-fold predictions."""

    name: str
    path: Path
    task: str  # "rfs" or "hpv"
    scheme: str  # validation scheme, e.g. "loco", "kfold", "holdout"
    metrics: dict[str, Any]
    spec: dict[str, Any]
    oof: pd.DataFrame
    importance: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> tuple[float, float, float]:
        """(estimate, 95 % CI low, 95 % CI high) of a metric; NaN where not reported."""
        return metric_triplet(self.metrics, name)

    @property
    def spec_name(self) -> str:
        return str(self.spec.get("name") or self.metrics.get("spec") or self.name)

    @property
    def feature_set(self) -> str:
        value = self.spec.get("features") or self.spec.get("feature_set") or ""
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        parts = [str(v) for v in values if v]
        if named := self.spec.get("columns"):
            parts.append(f"{len(named)} named columns")
        return "+".join(parts)


def read_runs(ws: Workspace) -> list[Run]:
    """Every run folder with a metrics.json and out-of-fold predictions, sorted by name."""
    if not ws.runs_dir.is_dir():
        return []
    runs = []
    for folder in sorted(p for p in ws.runs_dir.iterdir() if p.is_dir()):
        if not (folder / "metrics.json").is_file() or not (folder / "oof_predictions.parquet"
                                                           ).is_file():
            log.info("skipping %s: no metrics.json or oof_predictions.parquet", folder)
            continue
        runs.append(read_run(folder))
    return runs


def read_run(folder: Path) -> Run:
    """One run folder (metrics.json, oof_predictions.parquet, spec and importance if present)."""
    metrics = read_json(folder / "metrics.json")
    if not isinstance(metrics, dict):
        raise InputDataError("metrics.json is not a JSON object", path=folder / "metrics.json")
    spec = _read_spec(folder)
    oof = read_table(folder / "oof_predictions.parquet")
    task = str(metrics.get("task") or spec.get("task") or _guess_task(oof)).lower()
    scheme = str(metrics.get("cv") or metrics.get("validation") or metrics.get("scheme")
                 or spec.get("cv") or "unknown")
    return Run(folder.name, folder, task, scheme, metrics, spec, oof, _read_importance(folder))


def _read_spec(folder: Path) -> dict[str, Any]:
    for name in ("spec.yaml", "spec.yml", "spec.json", "model.yaml"):
        path = folder / name
        if path.is_file():
            try:
                loaded = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise InputDataError(f"model spec could not be read ({exc})", path=path) from exc
            return loaded if isinstance(loaded, dict) else {}
    return {}


def _read_importance(folder: Path) -> pd.DataFrame | None:
    """The run's feature importance: ``feature``, ``importance`` (descending), ``method``."""
    for name in ("importance.parquet", "feature_importance.parquet", "importance.csv",
                 "feature_importance.csv"):
        path = folder / name
        if path.is_file():
            table = read_table(path)
            value = next((c for c in ("importance", "mean_abs_shap", "importance_mean", "value")
                          if c in table.columns), None)
            if "feature" not in table.columns or value is None:
                log.warning("%s has no feature/importance columns; ignored", path)
                return None
            keep = ["feature", value, *(["method"] if "method" in table.columns else [])]
            out = table[keep].rename(columns={value: "importance"})
            return out.sort_values("importance", ascending=False, key=np.abs).reset_index(
                drop=True)
    return None


def _guess_task(oof: pd.DataFrame) -> str:
    return "hpv" if any(c in oof.columns for c in _PROBABILITY_COLUMNS[:-1]) else "rfs"


def metric_triplet(metrics: Mapping[str, Any], name: str) -> tuple[float, float, float]:
    """Find a metric in a metrics.json mapping, however its estimate and CI are spelled."""
    scopes = [metrics]
    for key in ("metrics", "overall", "pooled"):
        if isinstance(metrics.get(key), Mapping):
            scopes.insert(0, metrics[key])
    for scope in scopes:
        for alias in METRIC_ALIASES.get(name, (name,)):
            if alias in scope:
                return _triplet(scope[alias])
    return (np.nan, np.nan, np.nan)


def _triplet(value: Any) -> tuple[float, float, float]:
    if isinstance(value, Mapping):
        estimate = next((value[k] for k in _ESTIMATE_KEYS if k in value), np.nan)
        ci = value.get("ci") or value.get("ci95")
        if isinstance(ci, Sequence) and len(ci) == 2:
            low, high = ci
        else:
            low = next((value[k] for k in _LOW_KEYS if k in value), np.nan)
            high = next((value[k] for k in _HIGH_KEYS if k in value), np.nan)
        return (_float(estimate), _float(low), _float(high))
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3:
        return tuple(_float(v) for v in value)  # type: ignore[return-value]
    return (_float(value), np.nan, np.nan)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def oof_scores(run: Run, manifest: pd.DataFrame | None) -> pd.DataFrame:
    """Out-of-fold predictions, one row per patient, with the outcome columns attached.

    Repeated cross-validation predicts each patient several times: the repeats are averaged.
    Returns columns patient_id, center, score (risk for RFS, probability for HPV) and
    rfs_days, relapse, hpv_status where known.
    """
    oof = run.oof
    candidates = _RISK_COLUMNS if run.task == "rfs" else _PROBABILITY_COLUMNS
    score = next((c for c in candidates if c in oof.columns), None)
    if score is None or "patient_id" not in oof.columns:
        raise InputDataError(
            f"out-of-fold predictions need patient_id and one of {', '.join(candidates)}",
            path=run.path / "oof_predictions.parquet", hint="rerun 'radiomics-hnc fit'",
        )
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
