"""Fit, validate and save a model run; apply a saved run to a new patients table.

``WORKSPACE/runs/<name>/`` holds: ``model.skops`` (the pipeline refitted on all labelled
patients, in skops' safe format, loaded by :func:`~radiomics_hnc.modeling.saved_model.load_model`
from exact trusted types only, never arbitrary pickled code),
``spec.yaml``, ``features.json`` (input columns), ``versions.json``, ``oof_predictions.parquet``,
``metrics.json``, ``importance.parquet`` and ``model_card.md``.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
import yaml

from radiomics_hnc.choices import CVScheme, ModelTask
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import atomic_path, write_json, write_parquet
from radiomics_hnc.locks import lock_name, stage_lock
from radiomics_hnc.mask_sources import folder_source, run_suffix
from radiomics_hnc.modeling.card import model_card
from radiomics_hnc.modeling.dataset import (
    CENTRE_COLUMN,
    feature_columns,
    hpv_target,
    model_inputs,
    require_labelled,
    survival_target,
)
from radiomics_hnc.modeling.importance import feature_importance
from radiomics_hnc.modeling.metrics import HORIZONS_DAYS, hpv_metrics, ibs, rfs_metrics
from radiomics_hnc.modeling.pipeline import build_pipeline
from radiomics_hnc.modeling.records import (
    IMPORTANCE_FILE,
    METRICS_FILE,
    OOF_FILE,
    SCORE_COLUMNS,
    RunRecord,
)
from radiomics_hnc.modeling.saved_model import MODEL_FILE, load_model
from radiomics_hnc.modeling.scoring import TASKS, input_summary, score_run
from radiomics_hnc.modeling.specs import ModelSpec, load_spec
from radiomics_hnc.modeling.validation import (
    fit_model,
    make_splits,
    oof_hpv,
    oof_rfs,
    pooled,
    with_tuning,
)
from radiomics_hnc.workspace import Workspace

log = logging.getLogger(__name__)
_RUN_FILES = {"features.json": "the model's input columns", "spec.yaml": "the model spec",
              MODEL_FILE: "the fitted model"}
_VERSIONED = ("radiomics-hnc", "scikit-learn", "scikit-survival", "xgboost", "numpy", "pandas",
              "scipy", "skops")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a saved model depends on."""
    return {name: importlib.metadata.version(name) for name in _VERSIONED}


def fit_run(workspace: str | Path, spec: ModelSpec | str | Path,
            cv: CVScheme | str | None = None, name: str | None = None,
            table: pd.DataFrame | None = None,
            features_dir: str | Path | None = None) -> Path:
    """Validate ``spec`` on the workspace's patients table, refit on all, write the run folder.

    Parameters
    ----------
    workspace
        Workspace with ``features/patients.parquet`` (or pass ``table`` directly).
    spec
        A :class:`ModelSpec` or the path of its YAML file.
    cv
        A :class:`~radiomics_hnc.choices.CVScheme` (``"loco"``, ``"holdout"`` or ``"kfold"``);
        default: the spec's ``validation.cv``.
    name
        Run folder name (default ``<spec name>_<cv>``, plus ``_predicted`` or ``_<name>`` for
        a features folder other than ``features``, see :func:`run_suffix`).
    features_dir
        Folder of the patients table (default ``WORKSPACE/features``); its mask source is
        recorded in ``metrics.json`` under ``features``.
    """
    ws = Workspace(workspace)
    spec = spec if isinstance(spec, ModelSpec) else load_spec(spec)
    scheme = CVScheme.parse(cv, "validation scheme") if cv is not None else spec.validation.cv
    folder = Path(features_dir) if features_dir is not None else ws.features_dir
    run_name = name or f"{spec.name}_{scheme}{run_suffix(folder) if table is None else ''}"
    run_dir = ws.child(ws.runs_dir, run_name, "run name")
    with stage_lock(ws.root, lock_name("fit", run_dir, ws.root)):
        return _fit_locked(ws, spec, scheme, run_dir, table, folder)


def _fit_locked(ws: Workspace, spec: ModelSpec, scheme: CVScheme, run_dir: Path,
                table: pd.DataFrame | None, folder: Path) -> Path:
    source = None
    if table is None:
        table = read_patients_table(folder / "patients.parquet")
        source = folder_source(folder)
    columns = feature_columns(table, spec.features, spec.columns)
    covariates = [c for c in spec.preprocessing.combat_covariates if c not in columns]
    inputs = columns + covariates
    X = model_inputs(table, inputs, covariates)  # covariates ComBat keeps: inputs, not predictors
    model = with_tuning(build_pipeline(spec, columns), spec)
    if spec.task == ModelTask.RFS:
        oof, metrics, y, known = _validate_rfs(model, X, table, spec, scheme)
    else:
        oof, metrics, y, known = _validate_hpv(model, X, table, spec, scheme)
    strata = (y["relapse"] if spec.task == ModelTask.RFS else y)[known].astype(int)
    final = fit_model(model, X[known], y[known], strata)
    importance = feature_importance(final, X[known], y[known], spec.task,
                                    seed=spec.validation.seed)
    metrics.update({"task": spec.task, "cv": scheme, "spec": spec.name,
                    "n_patients": len(X), "n_labelled": int(known.sum()),
                    "n_features_in": len(columns),
                    "inputs": input_summary(X[known], columns, final)})
    if source is not None:
        metrics["features"] = {"folder": folder.name, **source.record(),
                               "description": source.describe()}
    record = RunRecord.model_validate(metrics)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_run(run_dir, final, spec, inputs, oof, record, importance, covariates)
    log.info("run written to %s", run_dir)
    return run_dir


def _validate_rfs(model, X, table, spec: ModelSpec, scheme: CVScheme):
    y, known = survival_target(table)
    require_labelled(known, ModelTask.RFS)
    idx = np.flatnonzero(known)
    yk, centres = y[idx], X[CENTRE_COLUMN].to_numpy()[idx]
    strata = yk["relapse"].astype(int)
    plan = make_splits(scheme, centres, strata, spec.validation, "rfs")
    folds = oof_rfs(model, X.iloc[idx], yk, plan, strata)

    def pooled_metrics(rows, risk):
        return rfs_metrics(yk[rows], risk[rows])

    def fold_ibs(fold, rows, positions):
        return {"ibs": ibs(yk[rows], yk[rows], fold.survival[positions], fold.grid)}

    metrics = score_run(TASKS["rfs"], yk, folds, centres, scheme, spec.validation, strata,
                        pooled_metrics, fold_ibs)
    metrics["pooled_centers"] = plan.pooled_centres
    oof = pd.DataFrame({"patient_id": X.index[idx], "center": centres,
                        "fold": _fold_labels(folds, len(idx)), "relapse": yk["relapse"],
                        "rfs_days": yk["rfs_days"],
                        SCORE_COLUMNS[ModelTask.RFS]: pooled(folds, len(idx))})
    horizons = pooled(folds, len(idx), lambda fold: fold.survival[
        :, np.searchsorted(fold.grid, HORIZONS_DAYS)])
    for column, horizon in enumerate(HORIZONS_DAYS):
        oof[f"survival_{int(horizon)}d"] = horizons[:, column]
    return oof, metrics, y, known


def _fold_labels(folds, n: int) -> np.ndarray:
    """The test fold of each patient (with repeats: of the last repeat)."""
    labels = np.full(n, None, dtype=object)
    for fold in folds:
        labels[fold.split.test] = fold.split.label
    return labels


def _validate_hpv(model, X, table, spec: ModelSpec, scheme: CVScheme):
    y, known = hpv_target(table)
    require_labelled(known, ModelTask.HPV)
    idx = np.flatnonzero(known)
    yk, centres = y[idx], X[CENTRE_COLUMN].to_numpy()[idx]
    plan = make_splits(scheme, centres, yk, spec.validation, "hpv")
    folds, unknown_prob, unknown_threshold = oof_hpv(model, X, y, known, plan,
                                                     spec.validation.seed)
    threshold = pooled(folds, len(idx), lambda fold: np.full(len(fold.scores), fold.threshold))
    predicted = (pooled(folds, len(idx)) >= threshold).astype(int)

    def pooled_metrics(rows, prob):
        return hpv_metrics(yk[rows], prob[rows], predicted[rows])

    metrics = score_run(TASKS["hpv"], yk, folds, centres, scheme, spec.validation, yk,
                        pooled_metrics)
    metrics["pooled_centers"] = plan.pooled_centres
    prob = np.full(len(X), np.nan)
    cut = np.full(len(X), np.nan)
    prob[idx], cut[idx] = pooled(folds, len(idx)), threshold
    prob[~known], cut[~known] = unknown_prob, unknown_threshold
    labels = np.full(len(X), "unlabelled", dtype=object)
    labels[idx] = _fold_labels(folds, len(idx))
    oof = pd.DataFrame({"patient_id": X.index, "center": X[CENTRE_COLUMN].to_numpy(),
                        "fold": labels, "hpv_status": np.where(known, y, np.nan),
                        SCORE_COLUMNS[ModelTask.HPV]: prob, "threshold": cut,
                        "predicted": (prob >= cut).astype(int)})
    return oof, metrics, y, known


def _write_run(run_dir: Path, model, spec: ModelSpec, columns, oof, record: RunRecord,
               importance, covariates) -> None:
    with atomic_path(run_dir / MODEL_FILE) as tmp:
        sio.dump(model, tmp)
    with atomic_path(run_dir / "spec.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    write_json({"columns": list(columns), "center_column": CENTRE_COLUMN,
                "covariate_columns": list(covariates)}, run_dir / "features.json")
    write_json(package_versions(), run_dir / "versions.json")
    write_parquet(oof, run_dir / OOF_FILE)
    record.write(run_dir / METRICS_FILE)
    write_parquet(importance, run_dir / IMPORTANCE_FILE)
    with atomic_path(run_dir / "model_card.md") as tmp:
        tmp.write_text(model_card(spec, record, importance, columns))


def _run_columns(run_dir: Path) -> tuple[list[str], list[str], str]:
    """The input columns, the ComBat-only covariates among them and the task of a run folder,
    checked before any heavy work."""
    if not run_dir.is_dir():
        raise InputDataError("run folder not found", path=run_dir, hint="pass a folder written "
                             "by 'radiomics-hnc fit' (WORKSPACE/runs/NAME)")
    for name, meaning in _RUN_FILES.items():
        if not (run_dir / name).is_file():
            raise InputDataError(f"the run folder lacks {name} ({meaning})", path=run_dir / name,
                                 hint="pass a complete run folder, or rerun 'radiomics-hnc fit'")
    try:
        meta = json.loads((run_dir / "features.json").read_text())
        columns, covariates = meta["columns"], meta.get("covariate_columns", [])
        task = yaml.safe_load((run_dir / "spec.yaml").read_text())["task"]
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise InputDataError(f"run folder files could not be read ({type(exc).__name__}: {exc})",
                             path=run_dir, hint="rerun 'radiomics-hnc fit'") from exc
    if task not in ("rfs", "hpv") or not isinstance(columns, list) or not isinstance(
            covariates, list):
        raise InputDataError(f"spec.yaml task {task!r} or features.json columns are invalid",
                             path=run_dir, hint="rerun 'radiomics-hnc fit'")
    return [str(c) for c in columns], [str(c) for c in covariates], task


def read_patients_table(path: str | Path) -> pd.DataFrame:
    """A patients table (parquet), or an :class:`InputDataError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError("no patients table", path=path,
                             hint="run 'radiomics-hnc extract' first")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputDataError(f"not a readable parquet table ({exc})", path=path,
                             hint="pass a parquet table such as WORKSPACE/features/"
                             "patients.parquet written by 'radiomics-hnc extract'") from exc


def predict_run(run_dir: str | Path, table: pd.DataFrame | str | Path,
                out: str | Path | None = None) -> pd.DataFrame:
    """Apply a saved run to a patients table: ``risk`` (RFS) or ``probability`` (HPV) per patient.

    Raises :class:`InputDataError` for an incomplete run folder, an unreadable table, or a
    table lacking expected columns (listed).
    """
    run_dir = Path(run_dir)
    columns, covariates, task = _run_columns(run_dir)
    if not isinstance(table, pd.DataFrame):
        table = read_patients_table(table)
    X = model_inputs(table, columns, covariates)
    model = load_model(run_dir)
    result = pd.DataFrame({"patient_id": X.index, "center": X[CENTRE_COLUMN].to_numpy()})
    result[SCORE_COLUMNS[ModelTask(task)]] = predict_scores(model, X, task)
    if out is not None:
        write_parquet(result, out)
    return result


def predict_scores(model, X: pd.DataFrame, task: ModelTask | str) -> np.ndarray:
    """A fitted run model's score per row of ``X``: risk (RFS, higher = earlier relapse) or the
    probability of HPV-positive status."""
    if task == ModelTask.RFS:
        return np.asarray(model.predict(X), dtype=float)
    return np.asarray(model.predict_proba(X)[:, 1], dtype=float)
