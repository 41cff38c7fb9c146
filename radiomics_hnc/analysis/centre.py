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
    """H, p and eta-squared of each column across centres (missing values left out)."""
    rows = []
    labels = centres.to_numpy()
    for name in values.columns:
        column = values[name].to_numpy(dtype=float)
        ok = np.isfinite(column)
        groups = [column[ok & (labels == c)] for c in np.unique(labels[ok])]
        groups = [g for g in groups if len(g)]
        n, k = int(ok.sum()), len(groups)
        if k < 2 or np.ptp(column[ok]) == 0:
            rows.append((np.nan, np.nan, np.nan))
            continue
        h, p = stats.kruskal(*groups)
        rows.append((h, p, max((h - k + 1) / (n - k), 0.0) if n > k else np.nan))
    return pd.DataFrame(rows, columns=["h", "p", "eta2"], index=values.columns)


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
