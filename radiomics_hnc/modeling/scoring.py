"""From a run's out-of-fold predictions to the numbers of ``metrics.json``.

The headline is a *fold-aware* C-index (RFS) or ROC AUC (HPV): it compares only patients whom
the same fold model scored. Under leave-one-centre-out it is the within-centre C / AUC (pairs
from one centre), under k-fold the mean of the per-fold values (their SD beside it), under a
held-out split the test fold's value. The pooled C / AUC rank every patient against every other
although different fold models, with risk scales that need not agree, scored them: a model with
one constant risk per fold gets a pooled C away from 0.5 from the offsets alone. They stay, as
secondary figures.

A run with a degenerate fold (:func:`~radiomics_hnc.modeling.metrics.degenerate_reason`: its
model ranks nobody) is not scored: every metric is NaN and ``degenerate`` names the folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from radiomics_hnc.choices import CVScheme
from radiomics_hnc.modeling.metrics import (
    PairCounts,
    bootstrap,
    class_pairs,
    degenerate_reason,
    survival_pairs,
    within_centre_auc,
    within_centre_c,
)
from radiomics_hnc.modeling.specs import Validation
from radiomics_hnc.modeling.validation import FoldPrediction, pooled

#: An input missing for more than this share of the labelled patients is not usable.
MAX_MISSING_SHARE = 0.5
#: Column names listed per problem in metrics.json (the counts are always complete).
LISTED = 20
FOLD_AWARE_DEFINITION = {
    CVScheme.LOCO: "within-centre {metric}: pairs of patients from the same held-out centre, "
                   "so both were scored by one fold model",
    CVScheme.KFOLD: "mean of the per-fold {metric} (each fold's patients scored by one model)",
    CVScheme.HOLDOUT: "{metric} of the held-out fold (one model)",
}


@dataclass(frozen=True)
class Task:
    """What differs between RFS and HPV scoring."""

    name: str
    metric: str  # per-fold metric key: "c_index" or "roc_auc"
    label: str  # the metric in words
    pairs: Callable[[Any, np.ndarray], PairCounts]
    within_centre: Callable[[Any, np.ndarray, np.ndarray], float]
    no_pairs: str  # why the metric is NaN where there is no pair

    def note(self, pairs: PairCounts) -> str | None:
        """The reason a group's metric is NaN, or None."""
        return None if pairs.pairs else self.no_pairs

    @property
    def fold_aware(self) -> str:
        return f"{self.metric}_fold_aware"

    def outcome_counts(self, y) -> dict[str, int]:
        """Relapses (RFS) or positives and negatives (HPV) among ``y``."""
        if self.name == "rfs":
            return {"events": int(np.sum(y["relapse"]))}
        positives = int(np.sum(y))
        return {"positives": positives, "negatives": int(len(y) - positives)}


TASKS = {
    "rfs": Task("rfs", "c_index", "C-index", survival_pairs, within_centre_c,
                "no comparable pairs (no relapse before another patient's last follow-up)"),
    "hpv": Task("hpv", "roc_auc", "ROC AUC", class_pairs, within_centre_auc,
                "one class only"),
}

#: Extra per-fold metrics (RFS: IBS): ``extras(fold, rows, positions)`` of the fold's rows.
FoldExtras = Callable[[FoldPrediction, np.ndarray, np.ndarray], dict[str, float]]


def _mean(values) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def score_run(task: Task, y, folds: list[FoldPrediction], centres: np.ndarray,
              scheme: CVScheme, cfg: Validation, strata: np.ndarray,
              pooled_metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]],
              fold_extras: FoldExtras | None = None) -> dict[str, Any]:
    """``metrics``, ``headline``, ``folds``, ``fold_summary``, ``degenerate`` and, under
    leave-one-centre-out, ``by_center`` of one run (fields of
    :class:`~radiomics_hnc.modeling.records.RunRecord`).

    Parameters
    ----------
    y, centres, strata
        Target, centre and bootstrap stratum (event or class) of every labelled patient; the
        folds' ``split.test`` index them.
    pooled_metrics
        ``pooled_metrics(rows, scores)``: the secondary metrics of patients ``rows`` from the
        per-patient (repeat-averaged) ``scores``.
    fold_extras
        Further per-fold metrics, reported per fold and averaged over folds.
    """
    n = len(centres)
    scores = pooled(folds, n)
    tested = np.flatnonzero(np.isfinite(scores))  # holdout: only the held-out centres
    positions = []
    for fold in folds:
        where = np.full(n, -1)
        where[fold.split.test] = np.arange(len(fold.split.test))
        positions.append(where)

    def per_fold(rows: np.ndarray) -> list[dict[str, float]]:
        values = []
        for fold, where in zip(folds, positions, strict=True):
            inside = rows[where[rows] >= 0]
            entry = {task.metric: task.pairs(y[inside], fold.scores[where[inside]]).value}
            if fold_extras is not None:
                entry.update(fold_extras(fold, inside, where[inside]))
            values.append(entry)
        return values

    def score(sample: np.ndarray) -> dict[str, float]:
        rows = tested[sample]
        fold_values = per_fold(rows)
        out = {task.fold_aware: (task.within_centre(y[rows], scores[rows], centres[rows])
                                 if scheme == CVScheme.LOCO
                                 else _mean(v[task.metric] for v in fold_values))}
        out.update(pooled_metrics(rows, scores))
        for key in fold_values[0]:
            if key != task.metric:
                out[key] = _mean(v[key] for v in fold_values)
        return out

    fold_table = _fold_table(task, y, folds, per_fold(tested))
    degenerate = [f for f in fold_table if f["degenerate"]]
    n_boot = 0 if degenerate else cfg.n_bootstrap
    metrics = bootstrap(score, len(tested), n_boot, cfg.seed, strata[tested])
    per_fold_values = [f[task.metric] for f in fold_table if np.isfinite(f[task.metric])]
    result: dict[str, Any] = {
        "metrics": metrics,
        "headline": {"metric": task.fold_aware,
                     "definition": FOLD_AWARE_DEFINITION[scheme].format(metric=task.label)},
        "folds": fold_table,
        "fold_summary": {"metric": task.metric, "mean": _mean(per_fold_values),
                         "sd": float(np.std(per_fold_values, ddof=1))
                         if len(per_fold_values) > 1 else float("nan"),
                         "n_folds": len(fold_table), "n_scored": len(per_fold_values)},
        "degenerate": None,
    }
    if scheme == CVScheme.LOCO:
        result["by_center"] = per_centre(task, y, scores, centres, tested, strata, cfg)
    if degenerate:
        result["degenerate"] = {
            "folds": [f["fold"] for f in degenerate],
            "reason": "; ".join(f"fold {f['fold']}: {f['degenerate']}" for f in degenerate)}
        _unscore(result)
    return result


def _fold_table(task: Task, y, folds: list[FoldPrediction],
                values: list[dict[str, float]]) -> list[dict[str, Any]]:
    """One row per fold: sizes, outcome counts, the fold's metrics, why it is degenerate."""
    table = []
    for fold, fold_values in zip(folds, values, strict=True):
        target = y[fold.split.test]
        pairs = task.pairs(target, fold.scores)
        table.append({"fold": fold.split.label, "repeat": fold.split.repeat,
                      "n_train": len(fold.split.train), "n_test": len(fold.split.test),
                      **task.outcome_counts(target), **fold_values, "note": task.note(pairs),
                      "degenerate": degenerate_reason(fold.scores, pairs)})
    return table


def per_centre(task: Task, y, scores: np.ndarray, centres: np.ndarray, tested: np.ndarray,
               strata: np.ndarray, cfg: Validation) -> dict[str, dict[str, Any]]:
    """Each held-out centre's C / AUC with its bootstrap 95 % CI, size and outcome counts.

    ``few_events``: fewer than ``min_center_events`` relapses (RFS) or patients of the rarer
    class (HPV); such a centre is shown, with its (wide or absent) interval, not hidden.
    """
    out = {}
    for centre in np.unique(centres[tested]):
        rows = tested[centres[tested] == centre]
        target, risk = y[rows], scores[rows]
        entry = bootstrap(lambda s, t=target, r=risk: {task.metric: task.pairs(t[s], r[s]).value},
                          len(rows), cfg.n_bootstrap, cfg.seed, strata[rows])[task.metric]
        counts = task.outcome_counts(target)
        out[str(centre)] = {"n": len(rows), **counts, task.metric: entry,
                            "few_events": min(counts.values()) < cfg.min_center_events,
                            "note": task.note(task.pairs(target, risk))}
    return out


def _unscore(result: dict[str, Any]) -> None:
    """Blank every metric of a degenerate run (its folds' numbers stay, for diagnosis)."""
    blank = {"estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
             "n_bootstrap": 0}
    result["metrics"] = {key: dict(blank) for key in result["metrics"]}
    for entry in result.get("by_center", {}).values():
        for key, value in entry.items():
            if isinstance(value, dict):
                entry[key] = dict(blank)


def input_summary(X: pd.DataFrame, columns: list[str], final) -> dict[str, Any]:
    """How much of its input a model could use, with a ``warning`` when it is little.

    An input is usable when at most :data:`MAX_MISSING_SHARE` of the labelled patients lack it
    and it takes two or more values. ``n_used_by_final_model`` counts the columns that reached
    the estimator of the final fit (after the variance, correlation and selection steps). The
    warning is set when at most one input, or fewer than half of them, are usable: a model
    scored on what is left of its inputs is not the model its spec describes.
    """
    values = X[list(columns)]
    missing = values.isna().mean()
    constant = values.nunique(dropna=True) <= 1
    mostly_missing = [c for c in columns if missing[c] > MAX_MISSING_SHARE]
    unvarying = [c for c in columns if constant[c] and c not in mostly_missing]
    usable = len(columns) - len(mostly_missing) - len(unvarying)
    summary: dict[str, Any] = {
        "n_inputs": len(columns), "n_usable": usable,
        "n_used_by_final_model": len(final[:-1].get_feature_names_out()),
        "mostly_missing": mostly_missing[:LISTED], "n_mostly_missing": len(mostly_missing),
        "constant": unvarying[:LISTED], "n_constant": len(unvarying), "warning": None}
    if usable <= 1 or usable < len(columns) / 2:
        problems = []
        if mostly_missing:
            problems.append(f"{len(mostly_missing)} missing for more than half of the patients "
                            f"({_first_names(mostly_missing)})")
        if unvarying:
            problems.append(f"{len(unvarying)} constant ({_first_names(unvarying)})")
        summary["warning"] = (f"only {usable} of {len(columns)} inputs usable: "
                              + "; ".join(problems))
    return summary


def _first_names(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (" ..." if len(names) > shown else "")
