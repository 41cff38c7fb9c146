"""Centre effect per feature: Kruskal-Wallis across centres, before and after ComBat.

A feature whose distribution differs strongly between centres before harmonisation
(eta-squared of the ranks, ``(H - k + 1) / (n - k)``; 0.06 medium, 0.14 large by Cohen's
conventions) is likely an acquisition artefact; after ComBat the difference should be gone.
ComBat is fitted on the whole table here: this is a description of the cohort, not a model
whose performance is estimated (the models fit ComBat inside each training fold).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from radiomics_hnc.analysis.association import bh_qvalues
from radiomics_hnc.errors import RadiomicsHNCError
from radiomics_hnc.harmonize import ComBat

log = logging.getLogger(__name__)

#: Centres with fewer patients are left out (ComBat and the test need a few per centre).
MIN_CENTRE_PATIENTS = 3


def kruskal_wallis(values: pd.DataFrame, centres: pd.Series) -> pd.DataFrame:
    """H (tie-corrected), p and eta-squared of each column across centres (missing values left
    out), all columns at once: scipy's ``kruskal`` takes one column per call (seconds for 1000
    features); the tests check this against it."""
    ranks = values.rank(method="average").to_numpy(dtype=float)  # NaN stays NaN
    present = np.isfinite(ranks)
    n = present.sum(axis=0).astype(float)
    labels = centres.astype(str).to_numpy()
    sum_term, groups = np.zeros(ranks.shape[1]), np.zeros(ranks.shape[1])
    for centre in np.unique(labels):
        rows = labels == centre
        count = present[rows].sum(axis=0)
        total = np.nansum(ranks[rows], axis=0)
        sum_term += np.where(count > 0, total**2 / np.maximum(count, 1), 0.0)
        groups += count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        h = 12.0 / (n * (n + 1)) * sum_term - 3 * (n + 1)
        h /= 1 - _tie_sum(values) / (n**3 - n)
        defined = (groups >= 2) & np.isfinite(h)
        p = np.where(defined, stats.chi2.sf(h, groups - 1), np.nan)
        eta2 = np.where(defined & (n > groups), np.clip((h - groups + 1) / (n - groups), 0, None),
                        np.nan)
    return pd.DataFrame({"h": np.where(defined, h, np.nan), "p": p, "eta2": eta2},
                        index=values.columns)


def _tie_sum(values: pd.DataFrame) -> np.ndarray:
    """Sum over tied groups of t^3 - t per column (the tie correction's numerator)."""
    sums = []
    for name in values.columns:
        counts = values[name].dropna().value_counts().to_numpy(dtype=float)
        sums.append(float((counts**3 - counts).sum()))
    return np.array(sums)


def centre_effect(patients: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Per feature: Kruskal-Wallis H, p, q and eta-squared across centres, raw and after
    ComBat (columns ``*_raw`` and ``*_combat``; NaN after ComBat when it cannot be fitted)."""
    counts = patients["center"].value_counts()
    table = patients[patients["center"].isin(counts[counts >= MIN_CENTRE_PATIENTS].index)]
    centres = table["center"].astype(str).reset_index(drop=True)
    values = table[features].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
    raw = kruskal_wallis(values, centres)
    try:
        harmonised = ComBat().fit_transform(values.assign(center=centres))
        after = kruskal_wallis(pd.DataFrame(harmonised, columns=features), centres)
    except (RadiomicsHNCError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("ComBat could not be fitted for the centre-effect table: %s", exc)
        after = pd.DataFrame(np.nan, index=features, columns=["h", "p", "eta2"])
    frame = pd.DataFrame({"feature": features, "centres": centres.nunique()})
    for suffix, part in (("raw", raw), ("combat", after)):
        frame[f"h_{suffix}"] = part["h"].to_numpy()
        frame[f"p_{suffix}"] = part["p"].to_numpy()
        frame[f"q_{suffix}"] = bh_qvalues(part["p"].to_numpy())
        frame[f"eta2_{suffix}"] = part["eta2"].to_numpy()
    return frame
