"""Univariable association of each feature with RFS and HPV status, before and after adjustment
for tumour volume, with Benjamini-Hochberg q-values across features.

RFS: Cox model per feature standardised to unit SD (hazard ratio per SD, Wald 95 % CI, Wald and
likelihood-ratio p; :mod:`radiomics_hnc.analysis.cox`), Harrell's C of the fitted direction
with a bootstrap interval. HPV: logistic regression per SD (odds ratio, Wald CI and
p, likelihood-ratio p), ROC AUC of the fitted direction with a bootstrap interval. Stratified
analyses give each centre its own baseline hazard (Cox strata) or intercept (logistic), and
count only pairs within a centre for C and AUC.

Volume confounding: every feature is also fitted beside the log volume of its own scope
(:data:`SCOPE_VOLUMES`: a ``GTVp_`` feature beside the primary's volume, ``GTVn_`` beside the
nodes' summed volume, ``GTVall_`` beside the whole disease's; see :func:`volume_columns` for
when the whole disease's is used instead); a feature associated on its own (q <= alpha) whose
adjusted association is not (adjusted q > alpha) is a *volume surrogate*: it tells nothing that
volume does not. Its Spearman correlation with that volume is reported beside.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from radiomics_hnc.analysis.concordance import (
    Concordance,
    class_pair_index,
    concordance,
    survival_pair_index,
)
from radiomics_hnc.analysis.cox import fit_cox
from radiomics_hnc.analysis.logistic import fit_logistic
from radiomics_hnc.analysis.newton import UnivariableFits
from radiomics_hnc.analysis.records import AnalysisSettings

log = logging.getLogger(__name__)

#: The volume (ml) a feature is adjusted for and correlated with, by the feature's scope.
SCOPE_VOLUMES = {"GTVp": "GTVp_MASK_volume_ml", "GTVn": "GTVn_MASK_volume_ml_sum",
                 "GTVall": "GTVall_MASK_volume_ml"}
#: Whole-disease volume: the fallback of :func:`volume_columns`.
VOLUME_COLUMN = SCOPE_VOLUMES["GTVall"]
#: |Spearman rho| with volume from which a feature is called a volume measure itself.
VOLUME_MEASURE_RHO = 0.9
Z95 = stats.norm.ppf(0.975)
#: Columns of the association table, in order.
ASSOCIATION_COLUMNS = [
    "task", "feature", "n", "events", "ratio", "ratio_ci_low", "ratio_ci_high", "p", "p_lr",
    "q", "discrimination", "discrimination_ci_low", "discrimination_ci_high", "volume_column",
    "volume_rho", "ratio_adjusted", "p_adjusted", "q_adjusted", "volume_relation", "note",
]


def standardise(features: pd.DataFrame) -> np.ndarray:
    """Each column centred and scaled to unit SD over its non-missing values (NaN stays)."""
    values = features.to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
    return (values - mean) / np.where(sd > 0, sd, np.nan)


def log_volume(patients: pd.DataFrame, column: str = VOLUME_COLUMN) -> np.ndarray:
    """Natural log of a volume column (ml); NaN where absent or not positive."""
    if column not in patients:
        return np.full(len(patients), np.nan)
    volume = pd.to_numeric(patients[column], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(volume > 0, np.log(volume), np.nan)


def volume_columns(patients: pd.DataFrame, features: list[str]) -> list[str]:
    """The volume column each feature is adjusted for: its scope's (:data:`SCOPE_VOLUMES`)
    where that volume is known for every patient the feature is known for, else the whole
    disease's ("" when the table has neither).

    The fallback keeps the adjusted model on the same patients as the plain one: a count such
    as ``GTVn_MASK_count`` is 0 for a patient without nodes, whose nodal volume is missing.
    """
    chosen = []
    for name in features:
        column = SCOPE_VOLUMES.get(name.split("_", 1)[0], VOLUME_COLUMN)
        known = pd.to_numeric(patients[name], errors="coerce").notna().to_numpy()
        if column not in patients or not np.isfinite(log_volume(patients, column)[known]).all():
            column = VOLUME_COLUMN
        chosen.append(column if column in patients else "")
    return chosen


def feature_log_volumes(patients: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Patients x features matrix of log volumes, one volume column per feature."""
    logs = {c: log_volume(patients, c) for c in set(columns)}
    return np.column_stack([logs[c] for c in columns]) if columns else np.empty(
        (len(patients), 0))


def volume_correlation(features: pd.DataFrame, log_vol: np.ndarray) -> np.ndarray:
    """Spearman correlation of each feature with its volume (column of ``log_vol``) over
    complete pairs."""
    rhos = np.full(features.shape[1], np.nan)
    values = features.to_numpy(dtype=float)
    for k in range(values.shape[1]):
        ok = np.isfinite(values[:, k]) & np.isfinite(log_vol[:, k])
        if ok.sum() >= 3 and np.ptp(values[ok, k]) > 0 and np.ptp(log_vol[ok, k]) > 0:
            rhos[k] = stats.spearmanr(values[ok, k], log_vol[ok, k]).statistic
    return rhos


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values over the finite p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok], method="bh")
    return q


def rfs_association(patients: pd.DataFrame, features: list[str],
                    settings: AnalysisSettings) -> pd.DataFrame:
    """Cox association of each feature with RFS (patients with a known outcome)."""
    known = patients["rfs_days"].notna() & patients["relapse"].notna()
    table = patients[known].reset_index(drop=True)
    time = table["rfs_days"].to_numpy(float)
    event = table["relapse"].to_numpy(float) > 0
    strata = table["center"].astype(str).to_numpy() if settings.stratify_center else None
    x = standardise(table[features])
    volumes = volume_columns(table, features)
    log_vol = feature_log_volumes(table, volumes)
    plain = fit_cox(x, time, event, strata=strata)
    adjusted = fit_cox(x, time, event, covariate=log_vol, strata=strata)
    found = concordance(x, survival_pair_index(time, event, strata), resamples=settings.resamples,
                        seed=settings.seed).oriented(~(plain.coef < 0))
    return _table("rfs", features, plain, adjusted, found, "Cox model did not converge "
                  "(events only at one end of the feature?)", table[features],
                  (volumes, log_vol), settings)


def hpv_association(patients: pd.DataFrame, features: list[str],
                    settings: AnalysisSettings) -> pd.DataFrame:
    """Logistic association of each feature with HPV status (patients with a known status)."""
    table = patients[patients["hpv_status"].notna()].reset_index(drop=True)
    status = table["hpv_status"].to_numpy(float) > 0
    centres = table["center"].astype(str).to_numpy()
    if settings.stratify_center:  # centres with one class say nothing within a centre
        informative = pd.Series(status).groupby(centres).transform("nunique").to_numpy() == 2
        table, status, centres = table[informative].reset_index(drop=True), status[
            informative], centres[informative]
    if len(set(status)) < 2:
        log.warning("HPV association left out: one HPV class only%s",
                    " within every centre" if settings.stratify_center else "")
        return pd.DataFrame(columns=ASSOCIATION_COLUMNS)
    x = standardise(table[features])
    volumes = volume_columns(table, features)
    log_vol = feature_log_volumes(table, volumes)
    strata = centres if settings.stratify_center else None
    plain = fit_logistic(x, status, strata)
    adjusted = fit_logistic(x, status, strata, covariate=log_vol)
    found = concordance(x, class_pair_index(status, strata), resamples=settings.resamples,
                        seed=settings.seed).oriented(~(plain.coef < 0))
    return _table("hpv", features, plain, adjusted, found, "logistic model did not converge "
                  "(the feature separates the classes?)", table[features], (volumes, log_vol),
                  settings)


def _table(task: str, features: list[str], plain: UnivariableFits, adjusted: UnivariableFits,
           found: Concordance, failure: str, values: pd.DataFrame,
           volumes: tuple[list[str], np.ndarray], settings: AnalysisSettings) -> pd.DataFrame:
    """One task's rows: ratios with CIs, q-values, discrimination, volume correlation and
    relation, in the table's order (``failure``: the note of a fit that did not converge;
    ``volumes``: each feature's volume column and the log volumes, see
    :func:`volume_columns`)."""
    frame = pd.DataFrame({
        "task": task, "feature": features, "n": plain.n, "events": plain.events.astype(int),
        "coef": plain.coef, "se": plain.se, "p": plain.wald_p, "p_lr": plain.lr_p,
        "discrimination": found.estimate, "discrimination_ci_low": found.ci_low,
        "discrimination_ci_high": found.ci_high, "coef_adjusted": adjusted.coef,
        "p_adjusted": adjusted.wald_p, "note": np.where(plain.converged, "", failure),
    })
    frame["ratio"] = np.exp(frame["coef"])
    frame["ratio_ci_low"] = np.exp(frame["coef"] - Z95 * frame["se"])
    frame["ratio_ci_high"] = np.exp(frame["coef"] + Z95 * frame["se"])
    frame["ratio_adjusted"] = np.exp(frame["coef_adjusted"])
    frame["q"] = bh_qvalues(frame["p"].to_numpy())
    frame["q_adjusted"] = bh_qvalues(frame["p_adjusted"].to_numpy())
    frame["volume_column"] = volumes[0]
    frame["volume_rho"] = volume_correlation(values, volumes[1])
    frame["volume_relation"] = volume_relation(frame, settings.alpha)
    return frame[ASSOCIATION_COLUMNS]


def volume_relation(frame: pd.DataFrame, alpha: float) -> list[str]:
    """"volume measure" (|rho| >= 0.9), "volume surrogate" (q <= alpha, adjusted q > alpha),
    "independent of volume" (both <= alpha), "not associated", or "not adjusted" for an
    associated feature whose adjusted model could not be fitted (no volume column, say)."""
    relations = []
    for rho, q, q_adj in frame[["volume_rho", "q", "q_adjusted"]].itertuples(index=False):
        if abs(rho) >= VOLUME_MEASURE_RHO:
            relations.append("volume measure")
        elif not q <= alpha:
            relations.append("not associated")
        elif np.isnan(q_adj):
            relations.append("not adjusted")
        elif q_adj <= alpha:
            relations.append("independent of volume")
        else:
            relations.append("volume surrogate")
    return relations
