"""External validation: a frozen run applied to another hospital's patients and scored there.

:func:`validate_external` loads a run folder's model (never refitting it), applies it to the
external workspace's patients table with an explicit policy for the centres its ComBat never
saw (:class:`~radiomics_hnc.choices.HarmonisationPolicy`), and writes to
``WS_EXTERNAL/external/<run>/``: ``predictions.parquet``, ``external.json``
(:class:`ExternalRecord`: metrics with bootstrap 95 % CIs beside the run's internal ones, the
policy, the automatic reading), ``shift.parquet``, ``pca.parquet``, ``case_mix.parquet``,
``calibration.parquet``, ``decision_curve.parquet`` (HPV) and a one-section ``report.html``.

What is frozen from development, never taken from the external outcomes: the model, the RFS
risk-group cut-point (median of the final model's risk on the development patients), the HPV
threshold (median of the development folds' Youden thresholds, as the internal report shows)
and, for models without survival functions of their own, the Breslow baseline (development
outcomes against the final model's risk). The external outcomes only score the predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from radiomics_hnc.choices import CVScheme, HarmonisationPolicy, ModelTask
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import file_sha256, write_parquet
from radiomics_hnc.modeling.dataset import (
    CENTRE_COLUMN,
    hpv_target,
    model_inputs,
    require_labelled,
    survival_target,
)
from radiomics_hnc.modeling.metrics import bootstrap, hpv_metrics, quiet_metric, rfs_metrics
from radiomics_hnc.modeling.records import (
    IMPORTANCE_FILE,
    METRICS_FILE,
    OOF_FILE,
    Estimate,
    RunRecord,
)
from radiomics_hnc.modeling.runs import _run_columns, predict_scores, read_patients_table
from radiomics_hnc.modeling.saved_model import MODEL_FILE, load_model
from radiomics_hnc.modeling.shift import (
    SHIFTED_SMD,
    case_mix,
    pca_overlay,
    shift_table,
)
from radiomics_hnc.modeling.specs import load_spec
from radiomics_hnc.modeling.validation import survival_curves_and_source
from radiomics_hnc.records import RecordModel, WorkspaceRecord
from radiomics_hnc.workspace import Workspace

log = logging.getLogger(__name__)

EXTERNAL_DIR = "external"
RECORD_FILE = "external.json"
PREDICTIONS_FILE = "predictions.parquet"
SHIFT_FILE = "shift.parquet"
PCA_FILE = "pca.parquet"
CASE_MIX_FILE = "case_mix.parquet"
CALIBRATION_FILE = "calibration.parquet"
DECISION_CURVE_FILE = "decision_curve.parquet"
#: Horizon of the RFS calibration (days).
DEFAULT_HORIZON_DAYS = 730.0
#: Risk groups of the calibration table (fewer when the cohort is small: ten patients each).
CALIBRATION_GROUPS = 4
#: Threshold probabilities of the decision curve.
DECISION_THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)
#: Calibration slopes outside this range are read as a problem.
SLOPE_RANGE = (0.8, 1.2)
#: Inputs named in the reading among the flagged ones (most important first).
NAMED_FEATURES = 3


class CohortSummary(RecordModel):
    """Size, outcome counts and centres of one cohort."""

    n_patients: int
    n_labelled: int
    events: int | None = None  # RFS
    positives: int | None = None  # HPV
    negatives: int | None = None
    centres: list[str]


class ShiftSummary(RecordModel):
    """The shift diagnostics in brief (``shift.parquet`` has every input)."""

    n_inputs: int
    smd_threshold: float
    flagged: list[str]  # flagged as the model sees them, most important first
    max_abs_smd_raw: float
    max_abs_smd_model_input: float


class ExternalRecord(WorkspaceRecord):
    """``external.json``: one frozen run scored on an external cohort (docs/design.md)."""

    DESCRIPTION = "external validation record (external.json)"

    run: str
    run_folder: str
    model_sha256: str
    task: ModelTask
    spec: str
    harmonisation: str  # a HarmonisationPolicy value, or "none" (model without ComBat)
    harmonisation_note: str
    unseen_centres: list[str]
    development: CohortSummary
    external: CohortSummary
    metrics: dict[str, Estimate]
    internal: dict[str, Estimate]
    internal_cv: CVScheme
    internal_headline: str
    horizon_days: float | None = None  # RFS calibration
    survival_source: str | None = None  # RFS: "model" or "breslow (development)"
    risk_cut: float | None = None  # RFS: development median risk
    log_rank_p: float | None = None  # RFS: low vs high frozen risk group
    threshold: float | None = None  # HPV: frozen probability threshold
    shift: ShiftSummary
    reading: list[str]

    @classmethod
    def rewrite_hint(cls, path: Path, raw: object) -> str:
        return "rerun 'radiomics-hnc validate-external RUN WORKSPACE'"


@dataclass
class Scored:
    """What one task's scoring adds: predictions, metrics, tables and record fields."""

    predictions: pd.DataFrame
    metrics: dict[str, dict[str, float]]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    fields: dict[str, object] = field(default_factory=dict)


def validate_external(run_dir: str | Path, external_workspace: str | Path,
                      harmonisation: HarmonisationPolicy | str = HarmonisationPolicy.ESTIMATE,
                      out_dir: str | Path | None = None, *,
                      external_table: pd.DataFrame | None = None,
                      development_table: pd.DataFrame | str | Path | None = None,
                      horizon_days: float = DEFAULT_HORIZON_DAYS,
                      n_bootstrap: int | None = None, seed: int | None = None) -> Path:
    """Score a frozen run on an external cohort; write the outputs, return their folder.

    Parameters
    ----------
    run_dir
        A run folder written by ``fit`` (``DEV_WORKSPACE/runs/NAME``).
    external_workspace
        Workspace of the external cohort (its ``features/patients.parquet``, or pass
        ``external_table``); the outputs go to ``external/<run name>/`` in it.
    harmonisation
        What the model's ComBat does with the centres it never saw.
    development_table
        The development patients table (default: the features folder the run was fitted on,
        in the run's workspace), for the frozen cut-points and the shift diagnostics.
    horizon_days
        Time of the RFS calibration (days).
    n_bootstrap, seed
        Bootstrap replicates and seed (default: the run spec's ``validation`` settings).
    """
    run_dir = Path(run_dir)
    policy = HarmonisationPolicy.parse(harmonisation, "harmonisation policy")
    columns, covariates, task = _run_columns(run_dir)
    record = RunRecord.read(run_dir / METRICS_FILE)
    spec = load_spec(run_dir / "spec.yaml")
    ws = Workspace(external_workspace)
    out = Path(out_dir) if out_dir is not None else ws.child(ws.root / EXTERNAL_DIR,
                                                             run_dir.name, "run name")
    ext_path = ws.features_dir / "patients.parquet" if external_table is None else None
    if external_table is None:
        external_table = read_patients_table(ext_path)
    dev_path = None
    if not isinstance(development_table, pd.DataFrame):
        development_table, dev_path = _read_development(run_dir, record, development_table)
    X_ext = _inputs(external_table, columns, covariates, "external", ext_path)
    X_dev = _inputs(development_table, columns, covariates, "development", dev_path)
    model_hash = file_sha256(run_dir / MODEL_FILE)
    model = load_model(run_dir)
    unseen, note = apply_policy(model, policy, X_dev, X_ext)
    label = policy.value if _fitted_combat(model) is not None else "none"
    n_boot = spec.validation.n_bootstrap if n_bootstrap is None else n_bootstrap
    seed = spec.validation.seed if seed is None else seed
    with _policy_stated():
        scores_dev = predict_scores(model, X_dev, task)
        scores_ext = predict_scores(model, X_ext, task)
        if task == ModelTask.RFS:
            scored = score_rfs(model, (X_dev, development_table, scores_dev),
                               (X_ext, external_table, scores_ext), horizon_days, n_boot, seed)
        else:
            scored = score_hpv(external_table, X_ext, scores_ext, _frozen_threshold(run_dir),
                               n_boot, seed)
        tables = _diagnostics(model, X_dev, X_ext, development_table, external_table, run_dir,
                              seed)
    summary = _shift_summary(tables[SHIFT_FILE])
    result = ExternalRecord.model_validate({
        "run": run_dir.name, "run_folder": str(run_dir), "model_sha256": model_hash,
        "task": task, "spec": spec.name, "harmonisation": label, "harmonisation_note": note,
        "unseen_centres": unseen,
        "development": _cohort(development_table, X_dev, task),
        "external": _cohort(external_table, X_ext, task),
        "metrics": scored.metrics, "internal": record.metrics, "internal_cv": record.cv,
        "internal_headline": record.headline.metric, "shift": summary, "reading": [],
        **scored.fields})
    result.reading = automatic_reading(result)
    if file_sha256(run_dir / MODEL_FILE) != model_hash:  # a bug, never a user error
        raise RuntimeError(f"the model file {run_dir / MODEL_FILE} changed during validation")
    _write(out, result, scored, tables)
    return out


@contextmanager
def _policy_stated() -> Iterator[None]:
    """Hold back ComBat's per-call "passed through unchanged" warnings: the policy was chosen
    explicitly and is stated once, in the record and on the command line."""
    combat_log = logging.getLogger("radiomics_hnc.harmonize")
    level = combat_log.level
    combat_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        combat_log.setLevel(level)


def _inputs(table: pd.DataFrame, columns: list[str], covariates: list[str], cohort: str,
            path: Path | None) -> pd.DataFrame:
    """The model's input frame of one cohort's table; a missing column is listed, naming the
    cohort and its file."""
    try:
        return model_inputs(table, columns, covariates)
    except InputDataError as exc:
        raise InputDataError(f"{cohort} patients table: {exc.message}", path=path or exc.path,
                             hint=exc.hint) from exc


def _read_development(run_dir: Path, record: RunRecord, path: str | Path | None
                      ) -> tuple[pd.DataFrame, Path]:
    """The patients table the run was fitted on and its path: ``path``, or by default the
    run's features folder in its workspace; refused when its size is not the run's."""
    hint = ("pass --development-table FILE: the patients table the run was fitted on (the "
            "frozen cut-points and the cohort comparison come from it)")
    if path is None:
        folder = record.features.folder if record.features is not None else "features"
        path = run_dir.parent.parent / folder / "patients.parquet"
        if not path.is_file():
            raise InputDataError("the development patients table is not beside the run "
                                 "(a run folder copied on its own?)", path=path, hint=hint)
    table = read_patients_table(path)
    if len(table) != record.n_patients:
        raise InputDataError(f"the development table has {len(table)} patients but the run was "
                             f"fitted on {record.n_patients}: it is not the run's table",
                             path=path, hint=hint)
    return table, Path(path)


def _fitted_combat(model):
    """The fitted ComBat step of a run's pipeline, or None when the model has none."""
    front = getattr(model, "named_steps", {}).get("columns")
    fitted = getattr(front, "named_transformers_", {})
    return fitted.get("combat")


def apply_policy(model, policy: HarmonisationPolicy, X_dev: pd.DataFrame,
                 X_ext: pd.DataFrame) -> tuple[list[str], str]:
    """Set the loaded model's ComBat to ``policy`` for unseen centres (in memory only; the
    model file is untouched). Returns the external centres new to the model and the policy
    in words; refuses (``policy`` refuse) when there is any."""
    combat = _fitted_combat(model)
    external = sorted(set(X_ext[CENTRE_COLUMN].astype(str)))
    known = ({str(b) for b in combat.batches_} if combat is not None
             else set(X_dev[CENTRE_COLUMN].astype(str)))
    unseen = [c for c in external if c not in known]
    shared = [c for c in external if c in known]
    if combat is None:
        return unseen, ("the model was fitted without ComBat (preprocessing.harmonize: false): "
                        "the external features enter it as they are")
    if unseen and policy == HarmonisationPolicy.REFUSE:
        raise InputDataError(
            f"external centre(s) {', '.join(unseen)} were not seen when the model's ComBat was "
            f"fitted (development centres: {', '.join(sorted(known))}); refusing as asked",
            hint="pass --harmonisation estimate (ComBat estimates each new centre's location "
            "and scale from its own features) or --harmonisation pass-through (features "
            "unharmonised)")
    combat.unseen = policy.combat_unseen
    words = {HarmonisationPolicy.ESTIMATE: "ComBat estimated each new centre's location and "
             "scale from its own external features (never its outcomes), shrunk to the "
             "development priors",
             HarmonisationPolicy.PASS_THROUGH: "the new centres' features entered the model "
             "unharmonised (ComBat passed them through)",
             HarmonisationPolicy.REFUSE: "no external centre was new to the model"}[policy]
    if shared:
        words += (f"; centre(s) {', '.join(shared)} share a name with development centres and "
                  "got those centres' fitted ComBat parameters")
    return unseen, words


def _cohort(table: pd.DataFrame, X: pd.DataFrame, task: ModelTask | str) -> dict:
    if task == ModelTask.RFS:
        y, known = survival_target(table)
        counts: dict[str, int] = {"events": int(y["relapse"][known].sum())}
    else:
        status, known = hpv_target(table)
        counts = {"positives": int(status[known].sum()),
                  "negatives": int((status[known] == 0).sum())}
    return {"n_patients": len(table), "n_labelled": int(known.sum()), **counts,
            "centres": sorted(set(X[CENTRE_COLUMN].astype(str)))}


# ---------------------------------------------------------------------------------- RFS
def score_rfs(model, development: tuple, external: tuple, horizon: float, n_boot: int,
              seed: int) -> Scored:
    """External RFS metrics with bootstrap CIs, frozen risk groups, calibration at ``horizon``.

    ``development`` and ``external`` are (model inputs, patients table, risk scores).
    """
    from radiomics_hnc.report import stats

    X_dev, dev_table, risk_dev = development
    X_ext, ext_table, risk_ext = external
    y_dev, known_dev = survival_target(dev_table)
    y_all, known = survival_target(ext_table)
    require_labelled(known, ModelTask.RFS)
    cut = float(np.median(risk_dev[known_dev]))
    grid = np.array([horizon])
    curves, own = survival_curves_and_source(model, X_dev[known_dev], y_dev[known_dev], X_ext,
                                             grid)
    predicted = 1 - curves[:, 0]
    y, risk, risk_h = y_all[known], risk_ext[known], predicted[known]

    def metric(rows: np.ndarray) -> dict[str, float]:
        return {**rfs_metrics(y[rows], risk[rows]),
                **survival_calibration(y[rows], risk_h[rows], horizon)}

    metrics = bootstrap(metric, len(y), n_boot, seed, y["relapse"].astype(int))
    group = np.where(risk_ext > cut, "high", "low")
    _, p_value = stats.log_rank(y["rfs_days"], y["relapse"], group[known])
    predictions = pd.DataFrame({
        "patient_id": X_ext.index, "center": X_ext[CENTRE_COLUMN].to_numpy(),
        "relapse": np.where(known, y_all["relapse"], np.nan),
        "rfs_days": np.where(known, y_all["rfs_days"], np.nan), "risk": risk_ext,
        "risk_group": group, f"predicted_relapse_{int(horizon)}d": predicted})
    return Scored(predictions, metrics,
                  {CALIBRATION_FILE: calibration_groups(y, risk_h, horizon)},
                  {"horizon_days": horizon, "risk_cut": cut, "log_rank_p": p_value,
                   "survival_source": "model" if own else "breslow (development)"})


def survival_calibration(y, predicted_risk: np.ndarray, horizon: float) -> dict[str, float]:
    """Calibration at ``horizon`` of predicted relapse probabilities ``predicted_risk``.

    ``calibration_slope``: the Cox coefficient of log(-log S(horizon)) in the external
    outcomes (1 = ideal; below 1, predictions too extreme: overfitting or shift);
    ``observed_expected``: Kaplan-Meier relapse probability at the horizon over the mean
    predicted one. NaN when the horizon is beyond follow-up or there are too few events.
    """
    from radiomics_hnc.report import stats

    nan = {"calibration_slope": float("nan"), "observed_expected": float("nan")}
    time, event = y["rfs_days"], y["relapse"]
    if not (time.min() < horizon < time.max()) or event.sum() < 2:
        return nan
    curve = stats.kaplan_meier(time, event)
    observed = 1 - stats.survival_at(curve, horizon)
    lp = np.log(-np.log(np.clip(1 - predicted_risk, 1e-9, 1 - 1e-9)))
    slope = stats.univariable_cox(lp, time, event).hr
    with quiet_metric():
        return {"calibration_slope": float(np.log(slope)),
                "observed_expected": float(observed / np.mean(predicted_risk))}


def calibration_groups(y, predicted_risk: np.ndarray, horizon: float) -> pd.DataFrame:
    """Predicted vs observed (Kaplan-Meier, 95 % band) relapse probability at ``horizon`` per
    quantile group of predicted risk."""
    from radiomics_hnc.report import stats

    n_groups = max(1, min(CALIBRATION_GROUPS, len(y) // 10))
    groups = pd.qcut(pd.Series(predicted_risk).rank(method="first"), n_groups,
                     labels=False).to_numpy()
    rows = []
    for g in range(n_groups):
        mask = groups == g
        curve = stats.kaplan_meier(y["rfs_days"][mask], y["relapse"][mask])
        index = max(int(np.searchsorted(curve.time, horizon, side="right")) - 1, 0)
        rows.append({"group": g + 1, "n": int(mask.sum()),
                     "events": int(y["relapse"][mask].sum()),
                     "predicted": float(predicted_risk[mask].mean()),
                     "observed": float(1 - curve.survival[index]),
                     "observed_low": float(1 - curve.high[index]),
                     "observed_high": float(1 - curve.low[index])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- HPV
def _frozen_threshold(run_dir: Path) -> float:
    """The development threshold: median of the folds' Youden thresholds (labelled rows)."""
    from radiomics_hnc.report.inputs import read_table

    oof = read_table(run_dir / OOF_FILE)
    labelled = oof["fold"].astype(str) != "unlabelled"
    return float(oof.loc[labelled, "threshold"].median())


def score_hpv(table: pd.DataFrame, X: pd.DataFrame, probability: np.ndarray, threshold: float,
              n_boot: int, seed: int) -> Scored:
    """External HPV metrics with bootstrap CIs at the frozen ``threshold``, the calibration
    curve and the decision curve."""
    status, known = hpv_target(table)
    require_labelled(known, ModelTask.HPV)
    y, p = status[known], probability[known]
    predicted = (probability >= threshold).astype(int)

    def metric(rows: np.ndarray) -> dict[str, float]:
        return hpv_metrics(y[rows], p[rows], predicted[known][rows])

    metrics = bootstrap(metric, len(y), n_boot, seed, y)
    predictions = pd.DataFrame({
        "patient_id": X.index, "center": X[CENTRE_COLUMN].to_numpy(),
        "hpv_status": np.where(known, status, np.nan), "probability": probability,
        "threshold": threshold, "predicted": predicted})
    tables = {DECISION_CURVE_FILE: decision_curve(y, p)}
    if len(np.unique(y)) == 2:
        observed, mean_predicted = calibration_curve(y, p, n_bins=min(5, len(y) // 10 or 1),
                                                     strategy="quantile")
        tables[CALIBRATION_FILE] = pd.DataFrame({"predicted": mean_predicted,
                                                 "observed": observed})
    return Scored(predictions, metrics, tables, {"threshold": threshold})


def decision_curve(y: np.ndarray, p: np.ndarray,
                   thresholds: np.ndarray = DECISION_THRESHOLDS) -> pd.DataFrame:
    """Net benefit of treating patients with ``p`` >= each threshold probability, of treating
    all and of treating none (Vickers & Elkin 2006).

    Net benefit = TP/n - FP/n x pt/(1 - pt): written out here because it is one line per
    strategy and no maintained package in our dependencies provides it.
    """
    y = np.asarray(y, dtype=int)
    n, prevalence = len(y), float(np.mean(y))
    odds = thresholds / (1 - thresholds)
    treated = p[None, :] >= thresholds[:, None]
    true_pos = (treated & (y[None, :] == 1)).sum(axis=1) / n
    false_pos = (treated & (y[None, :] == 0)).sum(axis=1) / n
    return pd.DataFrame({"threshold": thresholds, "model": true_pos - false_pos * odds,
                         "treat_all": prevalence - (1 - prevalence) * odds, "treat_none": 0.0})


# ---------------------------------------------------------------------------------- shift
def _diagnostics(model, X_dev: pd.DataFrame, X_ext: pd.DataFrame, dev_table: pd.DataFrame,
                 ext_table: pd.DataFrame, run_dir: Path, seed: int) -> dict[str, pd.DataFrame]:
    """Shift table, PCA overlay and case mix (see :mod:`radiomics_hnc.modeling.shift`)."""
    from radiomics_hnc.report.inputs import read_table

    front = model.named_steps["columns"]
    names = [str(n) for n in front.get_feature_names_out()]
    seen = (pd.DataFrame(front.transform(X), columns=names, index=X.index)
            for X in (X_dev, X_ext))
    model_input = tuple(seen)
    raw = (X_dev.reindex(columns=names), X_ext.reindex(columns=names))
    importance_path = run_dir / IMPORTANCE_FILE
    importance = read_table(importance_path) if importance_path.is_file() else None
    pca = pca_overlay(*model_input, seed=seed)
    centres = pd.concat([X_dev[CENTRE_COLUMN], X_ext[CENTRE_COLUMN]]).astype(str).to_numpy()
    pca.insert(2, CENTRE_COLUMN, centres)
    return {SHIFT_FILE: shift_table(raw, model_input, importance,
                                    X_ext[CENTRE_COLUMN].astype(str).to_numpy()),
            PCA_FILE: pca,
            CASE_MIX_FILE: case_mix(dev_table, ext_table, seed=seed)}


def _shift_summary(table: pd.DataFrame) -> dict:
    flagged = table.loc[table["flag"] != "", "feature"].astype(str).tolist()
    with quiet_metric():
        return {"n_inputs": len(table), "smd_threshold": SHIFTED_SMD, "flagged": flagged,
                "max_abs_smd_raw": float(np.nanmax(np.abs(table["smd_raw"]), initial=0.0)),
                "max_abs_smd_model_input": float(np.nanmax(np.abs(table["smd_model_input"]),
                                                           initial=0.0))}


# ---------------------------------------------------------------------------------- reading
#: Per task: the internal headline and the external figure it is compared with, in words.
COMPARED = {ModelTask.RFS: ("c_index", "C-index"), ModelTask.HPV: ("roc_auc", "ROC AUC")}


def automatic_reading(record: ExternalRecord) -> list[str]:
    """A few sentences reading the figures: discrimination internal vs external, calibration,
    shift and the harmonisation policy."""
    key, label = COMPARED[record.task]
    internal, external = record.internal[record.internal_headline], record.metrics[key]
    sentences = []
    if np.isfinite(internal.estimate) and np.isfinite(external.estimate):
        inside = internal.ci_low <= external.estimate <= internal.ci_high
        verb = ("was similar" if inside else "fell" if external.estimate < internal.estimate
                else "rose")
        sentences.append(
            f"The {label} {verb}: {internal.estimate:.2f} internally ({record.internal_cv}, "
            f"95% CI {_interval(internal)}) and {external.estimate:.2f} externally (95% CI "
            f"{_interval(external)}); the external value is "
            f"{'inside' if inside else 'outside'} the internal interval.")
    slope = record.metrics.get("calibration_slope")
    if slope is not None and np.isfinite(slope.estimate):
        low, high = SLOPE_RANGE
        meaning = ("suggests overfitting or cohort shift (predictions too extreme)"
                   if slope.estimate < low else "suggests predictions too moderate"
                   if slope.estimate > high else "is close to the ideal 1")
        sentences.append(f"Calibration slope {slope.estimate:.2f} (95% CI "
                         f"{_interval(slope)}) {meaning}.")
    flagged = record.shift.flagged
    if flagged:
        shown = ", ".join(flagged[:NAMED_FEATURES]) + (" ..." if len(flagged) > NAMED_FEATURES
                                                       else "")
        sentences.append(f"{len(flagged)} of the model's {record.shift.n_inputs} inputs differ "
                         f"markedly between the cohorts as the model sees them ({shown}): "
                         "see the shift table.")
    else:
        sentences.append(f"No model input differs markedly between the cohorts (|SMD| < "
                         f"{record.shift.smd_threshold} and few patients outside the "
                         "development range).")
    if record.unseen_centres:
        sentences.append(f"Centre(s) new to the model: {', '.join(record.unseen_centres)}. "
                         f"Harmonisation {record.harmonisation}: {record.harmonisation_note}.")
    return sentences


def _interval(value: Estimate) -> str:
    """"0.61 to 0.80": a dash would read as a minus sign beside a negative bound."""
    return f"{value.ci_low:.2f} to {value.ci_high:.2f}"


def _write(out: Path, record: ExternalRecord, scored: Scored,
           tables: dict[str, pd.DataFrame]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(scored.predictions, out / PREDICTIONS_FILE)
    for name, frame in {**tables, **scored.tables}.items():
        write_parquet(frame.reset_index(drop=True), out / name)
    record.write(out / RECORD_FILE)
    log.info("external validation written to %s", out)
