"""``runs/<name>/metrics.json``: the record of a validated run, and the one rule for the best run.

:class:`RunRecord` is what ``fit`` writes (:func:`~radiomics_hnc.modeling.runs.fit_run`) and
what the command line, the pipeline's headline, the report and the benchmarks read; the layout
is in docs/design.md ("Workspace files"). :func:`best_run` is the one answer to "which run is
the best model" for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiomics_hnc.choices import CVScheme, ModelTask
from radiomics_hnc.records import RecordModel, WorkspaceRecord

METRICS_FILE = "metrics.json"
#: Out-of-fold predictions: patient_id, center, fold, the target, and the score column.
OOF_FILE = "oof_predictions.parquet"
#: The out-of-fold score column of each task in :data:`OOF_FILE`.
SCORE_COLUMNS = {ModelTask.RFS: "risk", ModelTask.HPV: "probability"}
#: Columns of :data:`OOF_FILE` per task (RFS adds ``survival_<days>d`` per horizon).
OOF_COLUMNS = {
    ModelTask.RFS: ("patient_id", "center", "fold", "relapse", "rfs_days", "risk"),
    ModelTask.HPV: ("patient_id", "center", "fold", "hpv_status", "probability", "threshold",
                    "predicted"),
}
#: Feature importance: ``feature``, ``importance``, ``method``.
IMPORTANCE_FILE = "importance.parquet"


class Estimate(RecordModel):
    """A metric's point estimate and percentile-bootstrap 95 % interval (NaN where undefined;
    ``n_bootstrap``: the replicates that gave a finite value)."""

    estimate: float
    ci_low: float
    ci_high: float
    n_bootstrap: int

    def text(self) -> str:
        return f"{self.estimate:.3f} (95% CI {self.ci_low:.3f}-{self.ci_high:.3f})"


class HeadlineMetric(RecordModel):
    """Which metric is the run's headline (the fold-aware C-index or ROC AUC) and its meaning."""

    metric: str
    definition: str


class FoldScore(RecordModel):
    """One test fold: sizes, outcome counts, its metrics, why it is degenerate (or None)."""

    fold: str
    repeat: int
    n_train: int
    n_test: int
    events: int | None = None  # RFS
    positives: int | None = None  # HPV
    negatives: int | None = None
    c_index: float | None = None
    roc_auc: float | None = None
    ibs: float | None = None
    note: str | None
    degenerate: str | None


class FoldSummary(RecordModel):
    """Mean and SD of the per-fold metric over the folds that could be scored."""

    metric: str
    mean: float
    sd: float
    n_folds: int
    n_scored: int


class Degenerate(RecordModel):
    """The folds whose model ranks nobody; the run is then not scored."""

    folds: list[str]
    reason: str


class CenterScore(RecordModel):
    """One held-out centre under leave-one-centre-out: size, outcome counts, C / AUC with CI.

    ``few_events``: fewer relapses (or patients of the rarer class) than the spec's
    ``min_center_events``; ``note``: why the metric is NaN, or None."""

    n: int
    events: int | None = None
    positives: int | None = None
    negatives: int | None = None
    c_index: Estimate | None = None
    roc_auc: Estimate | None = None
    few_events: bool
    note: str | None

    def score(self, metric: str) -> Estimate | None:
        return getattr(self, metric, None)


class InputUse(RecordModel):
    """How much of its input the model could use (:func:`scoring.input_summary`)."""

    n_inputs: int
    n_usable: int
    n_used_by_final_model: int
    mostly_missing: list[str]
    n_mostly_missing: int
    constant: list[str]
    n_constant: int
    warning: str | None


class FeaturesSource(RecordModel):
    """The features folder the run was fitted on and its mask source."""

    folder: str
    mask_source: str
    masks_path: str | None
    description: str


class RunRecord(WorkspaceRecord):
    """``metrics.json`` of a run folder (see docs/design.md for each key)."""

    DESCRIPTION = "run metrics file (metrics.json)"

    task: ModelTask
    cv: CVScheme
    spec: str
    n_patients: int
    n_labelled: int
    n_features_in: int
    metrics: dict[str, Estimate]
    headline: HeadlineMetric
    folds: list[FoldScore]
    fold_summary: FoldSummary
    degenerate: Degenerate | None
    by_center: dict[str, CenterScore] | None = None  # leave-one-centre-out only
    pooled_centers: list[str]
    inputs: InputUse
    features: FeaturesSource | None = None  # absent for a table passed in memory

    @classmethod
    def rewrite_hint(cls, path: Path, raw: Any) -> str:
        run = path.parent
        words = raw or {}
        if all(isinstance(words.get(key), str) for key in ("task", "spec", "cv")):
            command = (f"radiomics-hnc fit {words['task']} {run.parent.parent} --spec "
                       f"{words['spec']} --cv {words['cv']} --name {run.name}")
        else:
            command = f"radiomics-hnc fit TASK WORKSPACE --spec SPEC --name {run.name}"
        return (f"refit the run with '{command}' (or 'radiomics-hnc run', which refits its "
                "runs), or remove the run folder")

    @property
    def headline_estimate(self) -> Estimate:
        return self.metrics[self.headline.metric]

    @property
    def scored(self) -> bool:
        """Whether the run has a headline figure: not degenerate, and a finite estimate."""
        return self.degenerate is None and math.isfinite(self.headline_estimate.estimate)

    def metric(self, name: str) -> tuple[float, float, float]:
        """(estimate, 95 % CI low, 95 % CI high) of a metric; NaN where not reported."""
        value = self.metrics.get(name)
        if value is None:
            return (math.nan, math.nan, math.nan)
        return (value.estimate, value.ci_low, value.ci_high)

    def warnings(self) -> list[str]:
        """Why the run's figures should not be read as they stand: a degenerate model (not
        scored), inputs mostly missing or constant."""
        found = []
        if self.degenerate is not None:
            found.append(f"degenerate, not scored ({self.degenerate.reason})")
        if self.inputs.warning:
            found.append(self.inputs.warning)
        return found


def read_run_records(runs_dir: str | Path) -> dict[str, RunRecord]:
    """The record of every run folder in ``runs_dir`` that has a metrics.json, by run name."""
    folder = Path(runs_dir)
    paths = sorted(folder.glob(f"*/{METRICS_FILE}")) if folder.is_dir() else []
    return {path.parent.name: RunRecord.read(path) for path in paths}


def best_run(records: Mapping[str, RunRecord], task: ModelTask | str) -> str | None:
    """The name of the best ``task`` run, or None when no run of it is scored.

    The one rule of the headline, the command line and the report: among the scored runs
    (:attr:`RunRecord.scored`: degenerate runs have no figure), those of the most centre-aware
    validation available (leave-one-centre-out, then holdout, then k-fold: see
    :class:`CVScheme`), the highest fold-aware headline estimate; ties go to the first name.
    """
    scored = [(record.cv.rank, -record.headline_estimate.estimate, name)
              for name, record in records.items() if record.task == task and record.scored]
    return min(scored)[2] if scored else None
