"""Validation schemes and out-of-fold predictions.

- ``loco`` (default): each centre is a test fold once. A centre with fewer than
  ``min_center_size`` patients (or, for RFS, fewer than ``min_center_events`` relapses; for HPV,
  without both classes) is pooled with the other small centres into one fold, and the pooling
  is reported.
- ``kfold``: repeated stratified k-fold (on relapse or HPV status); with repeats, each patient's
  predictions are averaged over repeats.
- ``holdout``: fixed held-out centres (default: the largest centre) tested once.

Optional nested tuning searches the spec's grid inside each training fold with at most
``budget`` candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_curve
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    RandomizedSearchCV,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_val_predict,
)
from sklearn.pipeline import Pipeline
from sksurv.linear_model.coxph import BreslowEstimator

from radiomics_hnc.choices import CVScheme
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.modeling.metrics import HORIZONS_DAYS
from radiomics_hnc.modeling.specs import ModelSpec, Validation

log = logging.getLogger(__name__)
#: Fewest patients of each class (or of relapsed and censored) in every training fold.
MIN_TRAINING_PER_STRATUM = 3


@dataclass
class Split:
    """One train/test split; ``label`` names the test fold (a centre, 'pooled:...', 'k3')."""

    train: np.ndarray
    test: np.ndarray
    label: str
    repeat: int = 0


@dataclass
class SplitPlan:
    """The splits of a scheme and what was done to make them scorable."""

    scheme: CVScheme
    splits: list[Split]
    pooled_centres: list[str] = field(default_factory=list)


def _scorable(centre_rows: np.ndarray, strata: np.ndarray, cfg: Validation, task: str) -> bool:
    if len(centre_rows) < cfg.min_center_size:
        return False
    if task == "rfs":
        return int(strata[centre_rows].sum()) >= cfg.min_center_events
    return len(np.unique(strata[centre_rows])) == 2


def make_splits(scheme: CVScheme | str, centres: np.ndarray, strata: np.ndarray,
                cfg: Validation, task: str) -> SplitPlan:
    """Build the splits of ``scheme`` over the labelled patients (``strata``: event or class).

    Every training fold must hold :data:`MIN_TRAINING_PER_STRATUM` patients of each class (HPV)
    or of relapses and censored patients (RFS): the inner 3-fold searches and thresholds need
    them, and a model trained on one class says nothing.
    """
    plan = _build_splits(CVScheme.parse(scheme, "validation scheme"), centres, strata, cfg, task)
    for split in plan.splits:
        values, counts = np.unique(strata[split.train], return_counts=True)
        found = dict(zip(values.tolist(), counts.tolist(), strict=True))
        if min(found.get(0, 0), found.get(1, 0)) < MIN_TRAINING_PER_STRATUM:
            what = ("HPV-negative/positive" if task == "hpv" else "censored/relapsed")
            raise InputDataError(
                f"too few labelled patients to validate {task}: the training patients of fold "
                f"{split.label} hold {found.get(0, 0)}/{found.get(1, 0)} {what} "
                f"(at least {MIN_TRAINING_PER_STRATUM} of each needed)",
                hint="add patients, or use --cv kfold on a cohort this small")
    return plan


def _build_splits(scheme: CVScheme, centres: np.ndarray, strata: np.ndarray, cfg: Validation,
                  task: str) -> SplitPlan:
    everyone = np.arange(len(centres))
    if scheme == CVScheme.KFOLD:
        if len(centres) < cfg.n_splits:
            raise InputDataError(
                f"{len(centres)} labelled patients cannot make {cfg.n_splits} folds for {task}",
                hint="add patients, or lower validation.n_splits in the spec")
        cv = RepeatedStratifiedKFold(n_splits=cfg.n_splits, n_repeats=cfg.n_repeats,
                                     random_state=cfg.seed)
        splits = [Split(tr, te, f"k{i % cfg.n_splits}", i // cfg.n_splits)
                  for i, (tr, te) in enumerate(cv.split(everyone, strata))]
        return SplitPlan(scheme, splits)
    names, counts = np.unique(centres, return_counts=True)
    if len(names) < 2:
        raise ConfigError(f"{scheme} validation needs at least 2 centres, found {list(names)}",
                          hint="use --cv kfold")
    if scheme == CVScheme.HOLDOUT:
        held = cfg.holdout_centers or [str(names[np.argmax(counts)])]
        unknown = sorted(set(held) - set(names))
        if unknown:
            raise ConfigError(f"holdout centre(s) {unknown} not in the data {list(names)}")
        test = np.isin(centres, held)
        return SplitPlan(scheme, [Split(everyone[~test], everyone[test], "+".join(held))])
    small = [str(c) for c in names
             if not _scorable(np.flatnonzero(centres == c), strata, cfg, task)]
    splits = [Split(everyone[centres != c], everyone[centres == c], str(c))
              for c in names if str(c) not in small]
    if small:
        test = np.isin(centres, small)
        splits.append(Split(everyone[~test], everyone[test], "pooled:" + "+".join(small)))
        log.info("LOCO: centres %s are too small to score alone and form one pooled fold", small)
    if len(splits) < 2:
        raise ConfigError("leave-one-centre-out has fewer than 2 scorable folds",
                          hint="use --cv kfold or lower validation.min_center_size")
    return SplitPlan(scheme, splits, small)


def with_tuning(pipeline: Pipeline, spec: ModelSpec):
    """Wrap ``pipeline`` in a bounded grid or random search when the spec asks for tuning."""
    if spec.tuning is None:
        return pipeline
    grid = {f"estimator__{k}" if "__" not in k else k: v for k, v in spec.tuning.grid.items()}
    inner = StratifiedKFold(spec.tuning.inner_folds, shuffle=True,
                            random_state=spec.validation.seed)
    scoring = "roc_auc" if spec.task == "hpv" else None
    if len(ParameterGrid(grid)) <= spec.tuning.budget:
        return GridSearchCV(pipeline, grid, cv=inner, scoring=scoring, error_score="raise")
    return RandomizedSearchCV(pipeline, grid, n_iter=spec.tuning.budget, cv=inner,
                              scoring=scoring, random_state=spec.validation.seed,
                              error_score="raise")


class _StratifiedOn:
    """A CV splitter whose stratification labels are fixed (needed for survival targets)."""

    def __init__(self, cv, strata: np.ndarray) -> None:
        self.cv, self.strata = cv, strata

    def split(self, X, y=None, groups=None):
        return self.cv.split(X, self.strata)

    def get_n_splits(self, *args, **kwargs) -> int:
        return self.cv.get_n_splits()


def fit_model(model, X: pd.DataFrame, y, strata: np.ndarray):
    """Fit a clone of ``model`` (a pipeline or a search over it); return the fitted pipeline.

    A search's inner folds are stratified on ``strata`` (relapse or class), which also makes
    them work with structured survival targets.
    """
    fitted = clone(model)
    if hasattr(fitted, "cv"):
        fitted.cv = _StratifiedOn(fitted.cv, strata)
    fitted.fit(X, y)
    return getattr(fitted, "best_estimator_", fitted)


def survival_grid(y_train) -> np.ndarray:
    """Times (days) at which a fold's survival curves are evaluated: quantiles of the training
    fold's relapse times, and the reporting horizons. Never from the test patients' times."""
    event_times = y_train["rfs_days"][y_train["relapse"]]
    return np.unique(np.concatenate([np.quantile(event_times, np.linspace(0.05, 0.9, 18)),
                                     HORIZONS_DAYS]))


def survival_curves(model, X_train: pd.DataFrame, y_train, X: pd.DataFrame,
                    grid: np.ndarray) -> np.ndarray:
    """S(t) on ``grid`` (days): the model's own survival functions, else Breslow on its risk."""
    return survival_curves_and_source(model, X_train, y_train, X, grid)[0]


def survival_curves_and_source(model, X_train: pd.DataFrame, y_train, X: pd.DataFrame,
                               grid: np.ndarray) -> tuple[np.ndarray, bool]:
    """:func:`survival_curves` and whether they are the model's own (False: a Breslow
    baseline fitted on ``X_train``), decided here so that a record can say which it used."""
    try:
        functions = model.predict_survival_function(X)
        return np.vstack([np.clip(f(np.clip(grid, f.domain[0], f.domain[1])), 0, 1)
                          for f in functions]), True
    except (AttributeError, ValueError):
        breslow = BreslowEstimator().fit(model.predict(X_train), y_train["relapse"],
                                         y_train["rfs_days"])
        functions = breslow.get_survival_function(model.predict(X))
        return np.vstack([f(np.clip(grid, f.x[0], f.x[-1])) for f in functions]), False


@dataclass
class FoldPrediction:
    """One split's model applied to its test patients (rows of ``split.test``).

    ``scores``: risk (RFS, higher = earlier relapse) or probability of HPV-positive status.
    RFS: ``survival`` is S(t) on ``grid`` (from the training fold, :func:`survival_grid`).
    HPV: ``threshold`` is the training fold's Youden threshold.
    """

    split: Split
    scores: np.ndarray
    survival: np.ndarray | None = None
    grid: np.ndarray | None = None
    threshold: float = float("nan")


def pooled(folds: list[FoldPrediction], n: int, values=lambda fold: fold.scores) -> np.ndarray:
    """Per-patient mean of ``values(fold)`` over the folds that tested them (repeats), NaN for
    patients no fold tested (holdout)."""
    first = np.asarray(values(folds[0]))
    total = np.zeros((n, *first.shape[1:]))
    counts = np.zeros(n)
    for fold in folds:
        total[fold.split.test] += values(fold)
        counts[fold.split.test] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts.reshape(-1, *([1] * (total.ndim - 1)))


def oof_rfs(model, X: pd.DataFrame, y, plan: SplitPlan,
            strata: np.ndarray) -> list[FoldPrediction]:
    """Each split's risk and survival curves for its test patients."""
    folds = []
    for split in plan.splits:
        best = fit_model(model, X.iloc[split.train], y[split.train], strata[split.train])
        grid = survival_grid(y[split.train])
        folds.append(FoldPrediction(
            split, np.asarray(best.predict(X.iloc[split.test]), dtype=float),
            survival_curves(best, X.iloc[split.train], y[split.train], X.iloc[split.test], grid),
            grid))
        log.info("fold %s: %d train, %d test", split.label, len(split.train), len(split.test))
    return folds


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Probability threshold maximising sensitivity + specificity - 1."""
    fpr, tpr, thresholds = roc_curve(y, p)
    return float(np.clip(thresholds[np.argmax(tpr - fpr)], 0, 1))


def oof_hpv(model, X: pd.DataFrame, y: np.ndarray, known: np.ndarray, plan: SplitPlan,
            seed: int) -> tuple[list[FoldPrediction], np.ndarray, float]:
    """Each split's probabilities for its labelled test patients, with a 0/1 threshold chosen
    by Youden's J on inner 3-fold predictions of the training fold.

    Also returns the probabilities of the unlabelled patients (never trained on) from the first
    split's model, and that model's threshold.
    """
    labelled = np.flatnonzero(known)
    unlabelled = X.iloc[np.flatnonzero(~known)]
    folds = []
    unknown_prob, unknown_threshold = np.zeros(len(unlabelled)), float("nan")
    for split in plan.splits:
        train = labelled[split.train]
        fitted = fit_model(model, X.iloc[train], y[train], y[train])
        inner = cross_val_predict(fitted, X.iloc[train], y[train], method="predict_proba",
                                  cv=StratifiedKFold(3, shuffle=True, random_state=seed))[:, 1]
        cut = youden_threshold(y[train], inner)
        folds.append(FoldPrediction(
            split, fitted.predict_proba(X.iloc[labelled[split.test]])[:, 1], threshold=cut))
        if split is plan.splits[0] and len(unlabelled):
            unknown_prob, unknown_threshold = fitted.predict_proba(unlabelled)[:, 1], cut
    return folds, unknown_prob, unknown_threshold
