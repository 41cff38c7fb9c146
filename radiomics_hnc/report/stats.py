"""Survival and group-comparison statistics behind the report's tables and curves.

Kaplan-Meier and log-rank come from scikit-survival, univariable Cox fits from the feature
analysis's vectorised fitter (checked against statsmodels and scikit-survival there); what
scikit-survival does not expose (reverse Kaplan-Meier follow-up, cross-centre tests) is computed
here with numpy and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sksurv.compare import compare_survival
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from radiomics_hnc.analysis.cox import fit_cox

#: Minimum expected cell count for the chi-square approximation (Cochran's rule).
MIN_EXPECTED_COUNT = 5.0
DAYS_PER_YEAR = 365.25


def survival_target(time_days: np.ndarray, event: np.ndarray) -> np.ndarray:
    """scikit-survival's structured array (event: bool, time: days)."""
    return Surv.from_arrays(event=np.asarray(event).astype(bool),
                            time=np.asarray(time_days, dtype=float))


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve: step times (days), survival and its 95 % log-log band."""

    time: np.ndarray
    survival: np.ndarray
    low: np.ndarray
    high: np.ndarray


def kaplan_meier(time_days: np.ndarray, event: np.ndarray) -> KaplanMeier:
    """Kaplan-Meier estimate starting at (0, 1) so curves can be drawn as steps."""
    time, surv, band = kaplan_meier_estimator(np.asarray(event, dtype=bool),
                                              np.asarray(time_days, dtype=float),
                                              conf_type="log-log")
    return KaplanMeier(np.r_[0.0, time], np.r_[1.0, surv], np.r_[1.0, band[0]],
                       np.r_[1.0, band[1]])


def survival_at(curve: KaplanMeier, t: float) -> float:
    """S(t) of a step curve (the last step at or before ``t``)."""
    index = np.searchsorted(curve.time, t, side="right") - 1
    return float(curve.survival[max(index, 0)])


def median_follow_up(time_days: np.ndarray, event: np.ndarray) -> float:
    """Median follow-up (days) by reverse Kaplan-Meier: censoring treated as the event.

    Unlike the median of observed times, it is not shortened by early relapses.
    """
    time = np.asarray(time_days, dtype=float)
    keep = ~np.isnan(time)
    if not keep.any():
        return np.nan
    censored = ~np.asarray(event, dtype=bool)[keep]
    curve = kaplan_meier(time[keep], censored)
    below = np.nonzero(curve.survival <= 0.5)[0]
    return float(curve.time[below[0]]) if below.size else np.nan


def numbers_at_risk(time_days: np.ndarray, times: np.ndarray) -> list[int]:
    """Patients still under follow-up and event-free at each of ``times`` (days)."""
    time = np.asarray(time_days, dtype=float)
    return [int((time >= t).sum()) for t in times]


def log_rank(time_days: np.ndarray, event: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    """Log-rank test across groups: (chi-square statistic, p value).

    Both are NaN when the test is undefined: no events at all, or (with few patients) a group
    censored before the first event, which makes the variance matrix singular.
    """
    try:
        chisq, p_value = compare_survival(survival_target(time_days, event), np.asarray(group))
    except (np.linalg.LinAlgError, ValueError):
        return float("nan"), float("nan")
    return float(chisq), float(p_value)


@dataclass(frozen=True)
class HazardRatio:
    """A univariable Cox fit: hazard ratio per unit of the covariate, 95 % CI, Wald p."""

    hr: float
    low: float
    high: float
    p_value: float
    n: int
    events: int


def univariable_cox(x: np.ndarray, time_days: np.ndarray, event: np.ndarray) -> HazardRatio:
    """Cox proportional hazards (Breslow ties) on one covariate, complete cases only: the
    feature analysis's fitter (:func:`radiomics_hnc.analysis.cox.fit_cox`) on one column.
    A fit that does not converge (a covariate that separates events) has no hazard ratio."""
    x = np.asarray(x, dtype=float)
    time = np.asarray(time_days, dtype=float)
    evt = np.asarray(event, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(time) | np.isnan(evt))
    x, time, evt = x[keep], time[keep], evt[keep].astype(bool)
    n, events = int(keep.sum()), int(evt.sum())
    if events < 2 or np.unique(x).size < 2:
        return HazardRatio(np.nan, np.nan, np.nan, np.nan, n, events)
    fit = fit_cox(x[:, None], time, evt)
    beta, se = float(fit.coef[0]), float(fit.se[0])
    z = beta / se
    with np.errstate(over="ignore"):  # a near-flat likelihood has an unbounded (inf) interval
        return HazardRatio(float(np.exp(beta)), float(np.exp(beta - 1.96 * se)),
                           float(np.exp(beta + 1.96 * se)), float(2 * stats.norm.sf(abs(z))),
                           n, events)


def compare_continuous(values: pd.Series, groups: pd.Series) -> tuple[float, str]:
    """Kruskal-Wallis test of a continuous variable across groups: (p, test name)."""
    samples = [v.dropna().to_numpy(dtype=float) for _, v in values.groupby(groups)]
    samples = [s for s in samples if s.size]
    if len(samples) < 2 or np.unique(np.concatenate(samples)).size < 2:
        return np.nan, "Kruskal-Wallis"
    return float(stats.kruskal(*samples).pvalue), "Kruskal-Wallis"


def compare_categorical(values: pd.Series, groups: pd.Series, seed: int = 0) -> tuple[float, str]:
    """Test of independence of a categorical variable and the groups: (p, test name).

    Pearson's chi-square when every expected count is at least 5; otherwise Fisher's exact
    test for a 2x2 table, and a Monte Carlo (permutation) chi-square test for larger tables,
    which is exact in expectation and, unlike the asymptotic test, valid for sparse tables.
    """
    keep = values.notna() & groups.notna()
    table = pd.crosstab(values[keep], groups[keep]).to_numpy()
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return np.nan, "chi-square"
    expected = stats.contingency.expected_freq(table)
    if expected.min() >= MIN_EXPECTED_COUNT:
        return float(stats.chi2_contingency(table, correction=False).pvalue), "chi-square"
    if table.shape == (2, 2):
        return float(stats.fisher_exact(table).pvalue), "Fisher exact"
    method = stats.PermutationMethod(n_resamples=2000, rng=np.random.default_rng(seed))
    result = stats.chi2_contingency(table, correction=False, method=method)
    return float(result.pvalue), "chi-square (Monte Carlo)"


def format_p(p_value: float) -> str:
    """A p value as journals print it (``<0.001`` below one in a thousand)."""
    if p_value is None or np.isnan(p_value):
        return "–"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def p_text(p_value: float) -> str:
    """'p < 0.001' or 'p = 0.042', for titles and captions."""
    if p_value is None or np.isnan(p_value):
        return "p not computable"
    formatted = format_p(p_value)
    return f"p {formatted[0]} {formatted[1:]}" if formatted.startswith("<") else f"p = {formatted}"
