"""How different an external cohort is from the development cohort of a frozen model.

Per model input: the standardised mean difference (SMD) between the cohorts on the raw
features and on what the model sees after its own harmonisation step, and the share of external
patients outside the development range; a PCA of both cohorts in the development cohort's
principal axes; and Table 1 of the two cohorts with tests. Everything here describes the
cohorts: nothing is fitted on external outcomes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from radiomics_hnc.modeling.metrics import quiet_metric

#: |SMD| from which a feature counts as shifted (a "large" difference in Cohen's terms;
#: 0.1, the case-mix convention, flags noise at the sizes of radiomics cohorts).
SHIFTED_SMD = 0.5
#: Share of external patients outside the development range from which a feature is flagged.
OUT_OF_RANGE_SHARE = 0.2
#: Fewest patients of an external centre for its own SMD (fewer: too noisy to flag).
MIN_CENTRE_PATIENTS = 10
COHORT_COLUMN = "cohort"
DEVELOPMENT, EXTERNAL = "development", "external"


def standardised_mean_difference(development: np.ndarray, external: np.ndarray) -> np.ndarray:
    """(external mean - development mean) / pooled SD, per column, ignoring missing values.

    The pooled SD is the root of the mean of the two variances (Austin 2009); a column with
    no variance in either cohort gets 0 when the means agree and infinity when they do not.
    """
    with quiet_metric():
        difference = np.nanmean(external, axis=0) - np.nanmean(development, axis=0)
        pooled = np.sqrt((np.nanvar(development, axis=0, ddof=1)
                          + np.nanvar(external, axis=0, ddof=1)) / 2)
        smd = difference / pooled
    return np.where(pooled > 0, smd, np.where(np.abs(difference) > 0, np.inf, 0.0))


def outside_range_share(development: np.ndarray, external: np.ndarray) -> np.ndarray:
    """Share of external patients (with a value) outside the development [min, max], per
    column."""
    with quiet_metric():
        low, high = np.nanmin(development, axis=0), np.nanmax(development, axis=0)
    known = ~np.isnan(external)
    outside = known & ((external < low) | (external > high))
    with quiet_metric():
        return outside.sum(axis=0) / known.sum(axis=0)


def worst_centre_smd(development: np.ndarray, external: np.ndarray,
                     centres: np.ndarray) -> np.ndarray:
    """Per column, the SMD (external centre vs the whole development cohort) of the external
    centre that differs most, among centres of at least :data:`MIN_CENTRE_PATIENTS`.

    A scanner shift is a centre's: two external centres shifted in opposite directions can
    leave the cohorts' means equal.
    """
    worst = np.zeros(development.shape[1])
    for centre in np.unique(centres):
        rows = centres == centre
        if rows.sum() < MIN_CENTRE_PATIENTS:
            continue
        smd = np.nan_to_num(standardised_mean_difference(development, external[rows]))
        worst = np.where(np.abs(smd) > np.abs(worst), smd, worst)
    return worst


def shift_table(raw: tuple[pd.DataFrame, pd.DataFrame],
                model_input: tuple[pd.DataFrame, pd.DataFrame],
                importance: pd.DataFrame | None, external_centres: np.ndarray) -> pd.DataFrame:
    """One row per model input: importance rank, SMD raw and as the model sees it (cohorts,
    and the external centre that differs most), share of external patients outside the
    development range (as the model sees it), and a flag.

    ``raw`` and ``model_input`` are (development, external) frames with the same columns
    (before and after the model's harmonisation step); ``external_centres`` labels the
    external rows.
    """
    columns = list(model_input[0].columns)
    raw_dev, raw_ext = (frame.reindex(columns=columns).to_numpy(float) for frame in raw)
    dev, ext = (frame[columns].to_numpy(float) for frame in model_input)
    table = pd.DataFrame({
        "feature": columns,
        "smd_raw": standardised_mean_difference(raw_dev, raw_ext),
        "smd_model_input": standardised_mean_difference(dev, ext),
        "smd_worst_centre": worst_centre_smd(dev, ext, np.asarray(external_centres)),
        "outside_range_share": outside_range_share(dev, ext),
    })
    ranks = _importance_ranks(importance)
    table.insert(1, "importance_rank", table["feature"].map(ranks).astype("Int64"))
    flags = []
    largest = np.fmax(table["smd_model_input"].abs(), table["smd_worst_centre"].abs())
    for smd, share in zip(largest, table["outside_range_share"], strict=True):
        reasons = [f"|SMD| >= {SHIFTED_SMD}"] if smd >= SHIFTED_SMD else []
        if share >= OUT_OF_RANGE_SHARE:
            reasons.append(f">= {OUT_OF_RANGE_SHARE:.0%} outside development range")
        flags.append("; ".join(reasons))
    table["flag"] = flags
    return table.sort_values(["importance_rank", "feature"], na_position="last",
                             ignore_index=True)


def _importance_ranks(importance: pd.DataFrame | None) -> dict[str, int]:
    """Rank (1 = most important, by |importance|) of each feature of a run's importance."""
    if importance is None or importance.empty:
        return {}
    ordered = importance.assign(size=importance["importance"].abs()).sort_values(
        "size", ascending=False, kind="stable")
    return {str(f): rank for rank, f in enumerate(ordered["feature"], start=1)}


def pca_overlay(development: pd.DataFrame, external: pd.DataFrame, seed: int = 0
                ) -> pd.DataFrame:
    """Both cohorts projected on the first two principal axes of the development cohort.

    Missing values are filled with the development medians and every column is scaled by
    development statistics, so the external cohort is seen in the development cohort's
    coordinates. Returns ``pc1, pc2`` per patient (development rows first).
    """
    dev = development.to_numpy(float)
    ext = external[list(development.columns)].to_numpy(float)
    imputer = SimpleImputer(strategy="median", keep_empty_features=True).fit(dev)
    scaler = StandardScaler().fit(imputer.transform(dev))
    z_dev, z_ext = (scaler.transform(imputer.transform(x)) for x in (dev, ext))
    pca = PCA(n_components=min(2, *z_dev.shape), random_state=seed).fit(z_dev)
    points = np.vstack([pca.transform(z_dev), pca.transform(z_ext)])
    if points.shape[1] < 2:
        points = np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])
    frame = pd.DataFrame({
        "patient_id": [*development.index.astype(str), *external.index.astype(str)],
        COHORT_COLUMN: [DEVELOPMENT] * len(dev) + [EXTERNAL] * len(ext),
        "pc1": points[:, 0], "pc2": points[:, 1]})
    return frame


def case_mix(development: pd.DataFrame, external: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table 1 of the development and external cohorts side by side, with tests between them
    (the report's Table 1, grouped by cohort instead of centre)."""
    from radiomics_hnc.report.cohort import table_one

    both = pd.concat([development.assign(center=DEVELOPMENT.capitalize()),
                      external.assign(center=EXTERNAL.capitalize())], ignore_index=True)
    return table_one(both, seed=seed)
