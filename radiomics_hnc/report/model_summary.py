"""What the RFS and HPV sections share: the model comparison table, the best run, importance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomics_hnc.modeling import records
from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure, Text
from radiomics_hnc.report.inputs import Run

TOP_FEATURES = 15


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

    ``metrics`` maps a metric key of the runs' ``metrics.json`` to its column title.
    """
    rows = []
    for run in sorted(runs, key=lambda r: (r.scheme.rank, r.spec_name, r.name)):
        row: dict[str, object] = {"Run": run.name, "Spec": run.spec_name,
                                  "Features": run.feature_set, "Validation": run.scheme,
                                  "Patients scored": run.record.n_labelled}
        for key, title in metrics.items():
            estimate, low, high = run.metric(key)
            row[title] = round(estimate, 3) if np.isfinite(estimate) else np.nan
            row[f"{title} 95% CI"] = (f"{low:.3f}–{high:.3f}" if np.isfinite(low)
                                      and np.isfinite(high) else "")
        spread = run.record.fold_summary.sd
        row["Per-fold SD"] = round(spread, 3) if np.isfinite(spread) else np.nan
        row["Warning"] = "; ".join(run.record.warnings())
        rows.append(row)
    return pd.DataFrame(rows)


def warnings_note(runs: list[Run]) -> Text | None:
    """A side note naming every run with a warning, or None."""
    flagged = [f"{run.name}: {'; '.join(found)}" for run in runs
               if (found := run.record.warnings())]
    return Text("Read with care. " + " | ".join(flagged), style="note") if flagged else None


def per_centre_table(runs: list[Run], metric: str, label: str) -> pd.DataFrame:
    """``metric`` of each held-out centre with its bootstrap CI, from the ``by_center`` part of
    metrics.json; centres with few events or without a pair stay, marked."""
    rows = []
    for run in runs:
        for centre, values in (run.record.by_center or {}).items():
            score = values.score(metric)
            estimate, low, high = ((score.estimate, score.ci_low, score.ci_high)
                                   if score is not None else (np.nan, np.nan, np.nan))
            rows.append({"Run": run.name, "Centre": centre, "Patients": values.n,
                         **{title: getattr(values, key) for key, title in _COUNTS.items()
                            if getattr(values, key) is not None},
                         label: round(estimate, 3) if np.isfinite(estimate) else np.nan,
                         "CI low": round(low, 3) if np.isfinite(low) else np.nan,
                         "CI high": round(high, 3) if np.isfinite(high) else np.nan,
                         "Few events": values.few_events, "Note": values.note or ""})
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
        names = [figures.plain(_centre_label(row)) for row in rows.to_dict("records")]
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


def best_of(runs: list[Run]) -> Run | None:
    """The best scored run (:func:`radiomics_hnc.modeling.records.best_run`, the rule of the
    command line's headline too), or None when every run is degenerate."""
    by_name = {run.name: run for run in runs}
    name = records.best_run({run.name: run.record for run in runs}, runs[0].task)
    return by_name[name] if name is not None else None


#: What the curves show when no run of a task could be scored.
NO_SCORED_RUN = ("No run could be scored (every model is degenerate: it ranks nobody), so no "
                 "curve, calibration or importance is drawn.")


def importance_figure(run: Run, dpi: int, top: int = TOP_FEATURES) -> Figure | None:
    """Horizontal bars of the run's most important features (feature names of
    docs/design.md)."""
    if run.importance is None or run.importance.empty:
        return None
    table = run.importance.head(top).iloc[::-1]
    fig, (ax,) = figures.new_figure(7.5, 0.28 * len(table) + 1.2)
    ax.barh([figures.plain(name) for name in table["feature"]], table["importance"],
            color="#0072B2")
    methods = set(table["method"].astype(str)) if "method" in table.columns else set()
    ax.set_xlabel(f"Importance ({', '.join(sorted(methods)) or 'model-specific units'})")
    ax.tick_params(axis="y", labelsize=7)
    return Figure(figures.to_data_uri(fig, dpi),
                  f"Top {len(table)} features of run {run.name} ({run.spec_name}).",
                  "Feature importance bar chart")
