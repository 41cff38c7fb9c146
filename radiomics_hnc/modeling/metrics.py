"""Validation metrics with percentile-bootstrap 95 % confidence intervals.

RFS: Harrell's C, Uno's C, time-dependent AUC at 1, 2 and 3 years (365, 730, 1095 days),
integrated Brier score. HPV: ROC AUC, balanced accuracy, sensitivity, specificity, Brier score,
calibration intercept (calibration-in-the-large) and slope.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

HORIZONS_DAYS = (365.0, 730.0, 1095.0)


def harrell_c(y, risk: np.ndarray) -> float:
    """Harrell's concordance index (ties in risk count one half)."""
    return float(concordance_index_censored(y["relapse"], y["rfs_days"], risk)[0])


def within_centre_c(y, risk: np.ndarray, centres: np.ndarray) -> float:
    """Harrell's C over pairs of patients from the same centre only (stratified concordance).

    Under leave-one-centre-out each centre is scored by its own fold's model, on that model's
    risk scale; pooled C also compares patients scored by different models, this one does not.
    """
    concordant = tied = comparable = 0.0
    for centre in np.unique(centres):
        rows = centres == centre
        try:
            _, agree, disagree, tied_risk, _ = concordance_index_censored(
                y["relapse"][rows], y["rfs_days"][rows], risk[rows])
        except ValueError:  # a centre of one patient, or without relapses: no pair to compare
            continue
        concordant, tied = concordant + agree, tied + tied_risk
        comparable += agree + disagree + tied_risk
    return float((concordant + 0.5 * tied) / comparable) if comparable else float("nan")


def within_centre_auc(y: np.ndarray, p: np.ndarray, centres: np.ndarray) -> float:
    """ROC AUC over positive-negative pairs from the same centre only.

    The classification twin of :func:`within_centre_c`: under leave-one-centre-out each fold's
    model sets its own baseline from the other centres' prevalence, so pooled AUC also ranks
    patients across models. Each centre's AUC is weighted by its number of pairs.
    """
    concordant = pairs = 0.0
    for centre in np.unique(centres):
        rows = centres == centre
        positives = int(y[rows].sum())
        negatives = int(rows.sum()) - positives
        if positives and negatives:
            concordant += roc_auc_score(y[rows], p[rows]) * positives * negatives
            pairs += positives * negatives
    return concordant / pairs if pairs else float("nan")


def uno_c(y_train, y, risk: np.ndarray) -> float:
    """Uno's IPCW concordance, censoring distribution from ``y_train``, truncated at 3 years."""
    tau = min(HORIZONS_DAYS[-1], float(y["rfs_days"].max()) - 1e-6)
    return float(concordance_index_ipcw(y_train, y, risk, tau=tau)[0])


def time_auc(y_train, y, risk: np.ndarray, horizon: float) -> float:
    """Cumulative/dynamic AUC at ``horizon`` days (NaN where the horizon is out of follow-up)."""
    times = y["rfs_days"]
    if not (times.min() < horizon < times.max()) or not (
            y["relapse"] & (times <= horizon)).any():
        return np.nan
    return float(cumulative_dynamic_auc(y_train, y, risk, [horizon])[0][0])


def ibs(y_train, y, survival: np.ndarray, grid: np.ndarray) -> float:
    """Integrated Brier score of survival probabilities ``survival`` (patients x grid)."""
    times = y["rfs_days"]
    inside = (grid >= times.min()) & (grid < times.max())
    if inside.sum() < 2:
        return np.nan
    return float(integrated_brier_score(y_train, y, survival[:, inside], grid[inside]))


def calibration(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration intercept (with the slope fixed at 1) and slope of logit(p)."""
    lp = logit(np.clip(p, 1e-6, 1 - 1e-6))
    slope = float(LogisticRegression(C=np.inf).fit(lp[:, None], y).coef_[0, 0])

    def loss(a: float) -> float:
        q = np.clip(expit(a + lp), 1e-12, 1 - 1e-12)
        return -float(np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)))

    intercept = float(minimize_scalar(loss, bounds=(-10, 10), method="bounded").x)
    return intercept, slope


def rfs_metrics(y, risk: np.ndarray, survival: np.ndarray, grid: np.ndarray) -> dict[str, float]:
    """Point estimates of all RFS metrics (censoring distribution from the same patients)."""
    out = {"c_index": harrell_c(y, risk), "uno_c": uno_c(y, y, risk)}
    for horizon in HORIZONS_DAYS:
        out[f"auc_{int(horizon)}d"] = time_auc(y, y, risk, horizon)
    out["ibs"] = ibs(y, y, survival, grid)
    return out


def hpv_metrics(y: np.ndarray, p: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Point estimates of all HPV metrics; ``predicted`` = 0/1 at the training-fold threshold."""
    if len(np.unique(y)) < 2:
        return dict.fromkeys(("roc_auc", "balanced_accuracy", "sensitivity", "specificity",
                              "brier", "calibration_intercept", "calibration_slope"), np.nan)
    intercept, slope = calibration(y, p)
    return {"roc_auc": float(roc_auc_score(y, p)),
            "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
            "sensitivity": float(np.mean(predicted[y == 1] == 1)),
            "specificity": float(np.mean(predicted[y == 0] == 0)),
            "brier": float(brier_score_loss(y, p)),
            "calibration_intercept": intercept, "calibration_slope": slope}


def bootstrap(metric: Callable[[np.ndarray], dict[str, float]], n: int, n_boot: int,
              seed: int, strata: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Point estimate and percentile 95 % CI of every metric ``metric(indices)`` returns.

    Resampling is stratified by ``strata`` (event or class) so each replicate is scorable.
    """
    point = metric(np.arange(n))
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s)
                                                   for s in np.unique(strata)]
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            values = metric(idx)
        except ValueError:  # a replicate without comparable pairs
            continue
        for key, value in values.items():
            draws[key].append(value)
    out = {}
    for key, value in point.items():
        finite = np.asarray([v for v in draws[key] if np.isfinite(v)])
        low, high = (np.percentile(finite, [2.5, 97.5]) if finite.size >= 10
                     else (np.nan, np.nan))
        out[key] = {"estimate": value, "ci_low": float(low), "ci_high": float(high),
                    "n_bootstrap": int(finite.size)}
    return out
