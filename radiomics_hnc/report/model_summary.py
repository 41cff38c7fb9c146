"""What the RFS and HPV sections share: the model comparison table, the best run, importance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure, Text
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


#: The difference between the headline and the pooled figures, in one sentence.
FOLD_AWARE_NOTE = (
    "The fold-aware {metric} (headline) compares only patients whom the same fold model scored "
    "(within each held-out centre under leave-one-centre-out, within each fold under k-fold); "
    "the pooled {metric} also ranks patients scored by different fold models, whose risk scales "
    "need not agree, so it can fall below 0.5 for a sound model or differ from 0.5 for one that "
    "predicts a constant.")


def comparison_table(runs: list[Run], metrics: dict[str, str]) -> pd.DataFrame:
    """One row per run: spec, features, validation scheme, each metric with its 95 % CI, the
    SD of the per-fold headline metric and any warning (degenerate model, unusable inputs).

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
        summary = run.metrics.get("fold_summary")
        spread = summary.get("sd") if isinstance(summary, dict) else None
        row["Per-fold SD"] = round(spread, 3) if isinstance(spread, float) and np.isfinite(
            spread) else np.nan
        row["Warning"] = "; ".join(run_warnings(run))
        rows.append(row)
    return pd.DataFrame(rows)


def run_warnings(run: Run) -> list[str]:
    """Why a run's figures should not be read as they stand: a degenerate model (not scored),
    inputs mostly missing or constant."""
    found = []
    degenerate = run.metrics.get("degenerate")
    if isinstance(degenerate, dict):
        found.append(f"degenerate, not scored ({degenerate.get('reason', '')})")
    inputs = run.metrics.get("inputs")
    if isinstance(inputs, dict) and inputs.get("warning"):
        found.append(str(inputs["warning"]))
    return found


def warnings_note(runs: list[Run]) -> Text | None:
    """A side note naming every run with a warning, or None."""
    flagged = [f"{run.name}: {'; '.join(found)}" for run in runs if (found := run_warnings(run))]
    return Text("Read with care. " + " | ".join(flagged), style="note") if flagged else None


def per_centre_table(runs: list[Run], metric: str, label: str) -> pd.DataFrame:
    """``metric`` of each held-out centre with its bootstrap CI, from the ``per_centre`` part of
    metrics.json; centres with few events or without a pair stay, marked."""
    rows = []
    for run in runs:
        per_centre = next((run.metrics[k] for k in PER_CENTRE_KEYS
                           if isinstance(run.metrics.get(k), dict)), {})
        for centre, values in per_centre.items():
            values = values if isinstance(values, dict) else {metric: values}
            estimate, low, high = metric_triplet(values, metric)
            rows.append({"Run": run.name, "Centre": str(centre), "Patients": values.get("n"),
                         **{title: values[key] for key, title in _COUNTS.items()
                            if key in values},
                         label: round(estimate, 3) if np.isfinite(estimate) else np.nan,
                         "CI low": round(low, 3) if np.isfinite(low) else np.nan,
                         "CI high": round(high, 3) if np.isfinite(high) else np.nan,
                         "Few events": bool(values.get("few_events", False)),
                         "Note": values.get("note") or ""})
    return pd.DataFrame(rows)


_COUNTS = {"events": "Events", "positives": "Positives", "negatives": "Negatives"}


def _centre_label(row: dict) -> str:
    """'CHUP (n=23, 3 events, few)': size and outcome counts beside the centre's name."""
    counts = [f"n={int(row['Patients'])}"] if pd.notna(row.get("Patients")) else []
    counts += [f"{int(row[title])} {title.lower()}" for title in _COUNTS.values()
               if pd.notna(row.get(title))]
    counts += ["few"] if row["Few events"] else []
    return f"{row['Centre']} ({', '.join(counts)})" if counts else str(row["Centre"])


def per_centre_figures(table: pd.DataFrame, label: str, dpi: int) -> list[Figure]:
    """A forest plot per run of :func:`per_centre_table`: each centre's estimate and 95 % CI;
    centres with few events hollow and grey, centres without a pair named at 0.5."""
    out = []
    for run, rows in table.groupby("Run", sort=False):
        fig, (ax,) = figures.new_figure(5.5, 0.3 * len(rows) + 1.3)
        y = np.arange(len(rows))[::-1]
        for position, row in zip(y, rows.to_dict("records"), strict=True):
            colour = "#7F7F7F" if row["Few events"] else "#0072B2"
            if not np.isfinite(row[label]):
                ax.text(0.5, position, "not scored", fontsize=7, color=colour, ha="center",
                        va="center")
                continue
            if np.isfinite(row["CI low"]) and np.isfinite(row["CI high"]):
                ax.plot([row["CI low"], row["CI high"]], [position] * 2, color=colour,
                        linewidth=1.2)
            ax.plot(row[label], position, "o", color=colour,
                    markerfacecolor="white" if row["Few events"] else colour)
        names = [_centre_label(row) for row in rows.to_dict("records")]
        ax.set_yticks(y, names, fontsize=7)
        ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{label} of the held-out centre (95 % bootstrap CI)")
        ax.set_title(str(run), fontsize=9)
        out.append(Figure(figures.to_data_uri(fig, dpi),
                          f"{label} per held-out centre of run {run} (leave-one-centre-out). "
                          "Hollow grey: fewer events (or patients of the rarer class) than "
                          "the scoring minimum, so a wide interval; 'not scored': no pair to "
                          "compare.", f"Forest plot of {label} per centre, run {run}"))
    return out


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
