"""What the RFS and HPV sections share: the model comparison table, the best run, importance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure
from radiomics_hnc.report.inputs import Run, metric_triplet

#: Validation schemes in the order they are reported; leave-one-centre-out is the headline.
SCHEME_ORDER = ("loco", "holdout", "kfold")
SCHEME_LABELS = {"loco": "leave-one-centre-out cross-validation",
                 "holdout": "a held-out-centre split", "kfold": "repeated stratified k-fold"}
TOP_FEATURES = 15


PER_CENTRE_KEYS = ("per_center", "by_center", "per_centre", "by_centre", "centers")


def scheme_rank(scheme: str) -> int:
    """Sort key of a validation scheme: leave-one-centre-out first."""
    key = scheme.lower().replace("-", "").replace("_", "")
    for rank, name in enumerate(SCHEME_ORDER):
        if key.startswith(name) or (name == "loco" and "leaveonecent" in key):
            return rank
    return len(SCHEME_ORDER)


def scheme_label(scheme: str) -> str:
    """A validation scheme in words, for the methods paragraph."""
    rank = scheme_rank(scheme)
    return SCHEME_LABELS[SCHEME_ORDER[rank]] if rank < len(SCHEME_ORDER) else scheme


def comparison_table(runs: list[Run], metrics: dict[str, str]) -> pd.DataFrame:
    """One row per run: spec, features, validation scheme, each metric with its 95 % CI.

    ``metrics`` maps a metric key of :data:`inputs.METRIC_ALIASES` to its column title.
    """
    rows = []
    for run in sorted(runs, key=lambda r: (scheme_rank(r.scheme), r.spec_name, r.name)):
        row: dict[str, object] = {"Run": run.name, "Spec": run.spec_name,
                                  "Features": run.feature_set, "Validation": run.scheme,
                                  "Patients scored": _scored(run)}
        for key, title in metrics.items():
            estimate, low, high = run.metric(key)
            row[title] = round(estimate, 3) if np.isfinite(estimate) else np.nan
            row[f"{title} 95% CI"] = (f"{low:.3f}–{high:.3f}" if np.isfinite(low)
                                      and np.isfinite(high) else "")
        rows.append(row)
    return pd.DataFrame(rows)


def per_centre_table(runs: list[Run], metric: str, label: str) -> pd.DataFrame:
    """``metric`` of each held-out centre, from the ``per_centre`` part of metrics.json."""
    rows = []
    for run in runs:
        per_centre = next((run.metrics[k] for k in PER_CENTRE_KEYS
                           if isinstance(run.metrics.get(k), dict)), {})
        for centre, values in per_centre.items():
            estimate, low, high = metric_triplet(
                values if isinstance(values, dict) else {metric: values}, metric)
            if np.isfinite(estimate):
                rows.append({"Run": run.name, "Centre": str(centre), label: round(estimate, 3),
                             "95% CI": f"{low:.3f}–{high:.3f}"
                             if np.isfinite(low) and np.isfinite(high) else ""})
    return pd.DataFrame(rows)


def _scored(run: Run) -> int:
    """Patients with a known outcome that the metrics were computed on."""
    labelled = run.metrics.get("n_labelled")
    if isinstance(labelled, int):
        return labelled
    outcome = "hpv_status" if run.task == "hpv" else "relapse"
    if outcome in run.oof.columns:
        return int(run.oof.dropna(subset=[outcome])["patient_id"].nunique())
    return int(run.oof["patient_id"].nunique())


def best_run(runs: list[Run], metric: str) -> Run:
    """The run with the highest ``metric`` under the most centre-aware validation available."""
    headline = min(scheme_rank(r.scheme) for r in runs)
    candidates = [r for r in runs if scheme_rank(r.scheme) == headline]

    def score(run: Run) -> float:
        value = run.metric(metric)[0]
        return value if np.isfinite(value) else -np.inf

    return max(candidates, key=score)


def importance_figure(run: Run, dpi: int, top: int = TOP_FEATURES) -> Figure | None:
    """Horizontal bars of the run's most important features (feature names of DESIGN.md)."""
    if run.importance is None or run.importance.empty:
        return None
    table = run.importance.head(top).iloc[::-1]
    fig, (ax,) = figures.new_figure(7.5, 0.28 * len(table) + 1.2)
    ax.barh(table["feature"].astype(str), table["importance"], color="#0072B2")
    methods = set(table["method"].astype(str)) if "method" in table.columns else set()
    ax.set_xlabel(f"Importance ({', '.join(sorted(methods)) or 'model-specific units'})")
    ax.tick_params(axis="y", labelsize=7)
    return Figure(figures.to_data_uri(fig, dpi),
                  f"Top {len(table)} features of run {run.name} ({run.spec_name}).",
                  "Feature importance bar chart")
