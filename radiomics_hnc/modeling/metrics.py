"""Validation metrics with percentile-bootstrap 95 % confidence intervals.

RFS: Harrell's C, Uno's C, time-dependent AUC at 1, 2 and 3 years (365, 730, 1095 days),
integrated Brier score. HPV: ROC AUC, balanced accuracy, sensitivity, specificity, Brier score,
calibration intercept (calibration-in-the-large) and slope.

Both Harrell's C and ROC AUC are shares of concordant pairs (:class:`PairCounts`): comparable
survival pairs, or positive-negative pairs. Counting pairs, not averaging ratios, is what lets
the within-centre versions add centres up, and it is where a fold without any pair becomes NaN
(sksurv warns "invalid value in scalar divide" there; the warning is silenced around the call
only, never globally).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score
from sksurv.exceptions import NoComparablePairException
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

HORIZONS_DAYS = (365.0, 730.0, 1095.0)
#: A fold whose test predictions leave at least this share of its pairs tied ranks nobody: its
#: C-index or AUC would be mostly the one half that ties count, so it is not scored.
MAX_TIED_SHARE = 0.95
#: Predictions whose range is below this fraction of their magnitude (at least 1) are constant.
CONSTANT_TOLERANCE = 1e-9


@contextmanager
def quiet_metric() -> Iterator[None]:
    """Silence numpy's RuntimeWarnings of a metric call (0/0 where a sample has no pair)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@dataclass(frozen=True)
class PairCounts:
    """Concordant, discordant and prediction-tied pairs (ties count one half)."""

    concordant: float = 0.0
    discordant: float = 0.0
    tied: float = 0.0

    @property
    def pairs(self) -> float:
        return self.concordant + self.discordant + self.tied

    @property
    def value(self) -> float:
        """C-index or AUC; NaN without a pair."""
        return (self.concordant + 0.5 * self.tied) / self.pairs if self.pairs else float("nan")

    @property
    def tied_share(self) -> float:
        return self.tied / self.pairs if self.pairs else float("nan")

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(self.concordant + other.concordant, self.discordant + other.discordant,
                          self.tied + other.tied)


def survival_pairs(y, risk: np.ndarray) -> PairCounts:
    """Comparable pairs of Harrell's C (a relapse before the other's last follow-up).

    ``y``: structured array, event indicator then time (scikit-survival's convention).
    """
    event_field, time_field = y.dtype.names
    event = np.asarray(y[event_field], dtype=bool)
    time = np.asarray(y[time_field], dtype=float)
    if len(time) < 2 or not event.any():
        return PairCounts()
    with quiet_metric():
        try:
            _, concordant, discordant, tied, _ = concordance_index_censored(event, time, risk)
        except NoComparablePairException:
            return PairCounts()
    return PairCounts(float(concordant), float(discordant), float(tied))


def class_pairs(y: np.ndarray, p: np.ndarray) -> PairCounts:
    """Positive-negative pairs of the ROC AUC (equal probabilities tie)."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    negatives = np.sort(p[y == 0])
    positives = p[y == 1]
    below = np.searchsorted(negatives, positives, side="left")
    not_above = np.searchsorted(negatives, positives, side="right")
    concordant = float(below.sum())
    tied = float((not_above - below).sum())
    return PairCounts(concordant, len(positives) * len(negatives) - concordant - tied, tied)


def harrell_c(y, risk: np.ndarray) -> float:
    """Harrell's concordance index (ties in risk count one half); NaN without a comparable
    pair."""
    return survival_pairs(y, risk).value


def _within_centre(pairs: Callable[[np.ndarray], PairCounts], centres: np.ndarray) -> float:
    total = PairCounts()
    for centre in np.unique(centres):
        total = total + pairs(centres == centre)
    return total.value


def within_centre_c(y, risk: np.ndarray, centres: np.ndarray) -> float:
    """Harrell's C over pairs of patients from the same centre only (stratified concordance).

    Under leave-one-centre-out each centre is scored by its own fold's model, on that model's
    risk scale; pooled C also compares patients scored by different models, this one does not.
    """
    return _within_centre(lambda rows: survival_pairs(y[rows], risk[rows]), centres)


def within_centre_auc(y: np.ndarray, p: np.ndarray, centres: np.ndarray) -> float:
    """ROC AUC over positive-negative pairs from the same centre only.

    The classification twin of :func:`within_centre_c`: under leave-one-centre-out each fold's
    model sets its own baseline from the other centres' prevalence, so pooled AUC also ranks
    patients across models. Each centre's AUC is weighted by its number of pairs.
    """
    return _within_centre(lambda rows: class_pairs(y[rows], p[rows]), centres)


def degenerate_reason(scores: np.ndarray, pairs: PairCounts) -> str | None:
    """Why one fold model's test predictions rank nobody, or None when they do.

    Degenerate: constant predictions (range below :data:`CONSTANT_TOLERANCE` of their
    magnitude), or at least :data:`MAX_TIED_SHARE` of the fold's pairs tied in prediction.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.size and np.ptp(scores) <= CONSTANT_TOLERANCE * max(1.0, np.abs(scores).max()):
        return "constant predictions"
    if pairs.pairs and pairs.tied_share >= MAX_TIED_SHARE:
        return f"{pairs.tied_share:.0%} of pairs tied in prediction"
    return None


def uno_c(y_train, y, risk: np.ndarray) -> float:
    """Uno's IPCW concordance, censoring distribution from ``y_train``, truncated at 3 years;
    NaN without a comparable pair."""
    tau = min(HORIZONS_DAYS[-1], float(y["rfs_days"].max()) - 1e-6)
    with quiet_metric():
        try:
            return float(concordance_index_ipcw(y_train, y, risk, tau=tau)[0])
        except NoComparablePairException:
            return float("nan")


def time_auc(y_train, y, risk: np.ndarray, horizon: float) -> float:
    """Cumulative/dynamic AUC at ``horizon`` days (NaN where the horizon is out of follow-up)."""
    times = y["rfs_days"]
    if not (times.min() < horizon < times.max()) or not (
            y["relapse"] & (times <= horizon)).any():
        return np.nan
    with quiet_metric():
        return float(cumulative_dynamic_auc(y_train, y, risk, [horizon])[0][0])


def ibs(y_train, y, survival: np.ndarray, grid: np.ndarray) -> float:
    """Integrated Brier score of survival probabilities ``survival`` (patients x grid), over
    the grid points inside the follow-up of ``y``."""
    times = y["rfs_days"]
    if len(times) < 2:
        return np.nan
    inside = (grid >= times.min()) & (grid < times.max())
    if inside.sum() < 2:
        return np.nan
    with quiet_metric():
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


def rfs_metrics(y, risk: np.ndarray) -> dict[str, float]:
    """Point estimates of the ranking metrics of RFS (censoring distribution from the same
    patients)."""
    out = {"c_index": harrell_c(y, risk), "uno_c": uno_c(y, y, risk)}
    for horizon in HORIZONS_DAYS:
        out[f"auc_{int(horizon)}d"] = time_auc(y, y, risk, horizon)
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
        except ValueError:  # a replicate scikit-survival refuses (e.g. IPCW weights of 0)
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
