"""Redundancy: features that measure the same thing, grouped by hierarchical clustering.

Distance is ``1 - |Spearman rho|`` (a feature and its negative are the same information),
clustered with average linkage and cut at :data:`CLUSTER_CUT`: the features of a cluster are on
average at least ``1 - CLUSTER_CUT`` (0.8) correlated in absolute value, the usual radiomics
threshold for "redundant". Each cluster gets one representative: the feature most associated
with an outcome (smallest q-value over the tasks), then the most stable (highest ICC), then the
first by name, so a reader can report one feature per cluster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import squareform
from scipy.stats import rankdata

#: Cut of the average-linkage tree, in 1 - |rho| (0.2: clusters correlated at |rho| >= 0.8).
CLUSTER_CUT = 0.2


def spearman_matrix(features: pd.DataFrame) -> np.ndarray:
    """Spearman correlation of every pair of columns.

    Missing values are replaced by the column's median first (a rank correlation over complete
    pairs would need one ranking per pair: hours for 1000 features); this shrinks the
    correlation of mostly-missing columns a little, which errs toward not merging them.
    """
    values = features.to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    medians = np.nanmedian(values, axis=0)
    filled = np.where(np.isnan(values), medians[None, :], values)
    ranks = rankdata(filled, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(ranks, rowvar=False)
    rho = np.atleast_2d(np.nan_to_num(rho))
    np.fill_diagonal(rho, 1.0)
    return rho


def cluster_order(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster label per feature, leaf order of the tree) from a correlation matrix."""
    if len(rho) < 2:
        return np.ones(len(rho), dtype=int), np.arange(len(rho))
    distance = np.clip(1 - np.abs(rho), 0, None)
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, CLUSTER_CUT, criterion="distance"), leaves_list(tree)


def cluster_table(features: pd.DataFrame, best_q: pd.Series,
                  icc: pd.Series | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per feature: cluster, its size, mean |rho| to the cluster's other features and
    whether it represents the cluster; and the Spearman matrix (for the heatmap)."""
    rho = spearman_matrix(features)
    labels, _ = cluster_order(rho)
    names = list(features.columns)
    frame = pd.DataFrame({"feature": names, "cluster": labels})
    frame["cluster_size"] = frame.groupby("cluster")["feature"].transform("size")
    absolute = np.abs(rho)
    same = labels[:, None] == labels[None, :]
    others = same.sum(axis=1) - 1
    frame["mean_abs_rho_in_cluster"] = np.where(
        others > 0, ((absolute * same).sum(axis=1) - 1) / np.maximum(others, 1), np.nan)
    frame["best_q"] = best_q.reindex(names).to_numpy()
    frame["icc"] = (icc.reindex(names).to_numpy() if icc is not None
                    else np.full(len(names), np.nan))
    ranked = frame.assign(_q=frame["best_q"].fillna(np.inf), _icc=-frame["icc"].fillna(-np.inf))
    ranked = ranked.sort_values(["cluster", "_q", "_icc", "feature"])
    representatives = set(ranked.groupby("cluster")["feature"].first())
    frame["representative"] = frame["feature"].isin(representatives)
    return frame.drop(columns=["best_q", "icc"]), rho
