"""Cohort section: Table 1 overall and by centre, follow-up and relapse counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomics_hnc.report import figures, stats
from radiomics_hnc.report.content import Figure, Section, Table, Text

#: Categorical clinical variables of Table 1: column -> (row label, value labels).
CATEGORICAL: dict[str, tuple[str, dict[object, str]]] = {
    "gender": ("Gender", {1: "Male", 0: "Female"}),
    "tobacco": ("Tobacco consumption", {1: "Yes", 0: "No"}),
    "alcohol": ("Alcohol consumption", {1: "Yes", 0: "No"}),
    "performance_status": ("Performance status (ECOG)", {}),
    "treatment": ("Treatment", {0: "Radiotherapy alone", 1: "Chemoradiotherapy"}),
    "surgery": ("Surgery", {1: "Yes", 0: "No"}),
    "t_stage": ("T-stage", {}),
    "n_stage": ("N-stage", {}),
    "m_stage": ("M-stage", {}),
    "hpv_status": ("HPV status", {1: "Positive", 0: "Negative"}),
    "relapse": ("Relapse (event)", {1: "Yes", 0: "No (censored)"}),
}
#: Continuous variables: column -> row label with unit.
CONTINUOUS: dict[str, str] = {"age": "Age, years", "rfs_days": "RFS time, days"}
DAYS_PER_MONTH = 30.4375


def cohort_section(manifest: pd.DataFrame, excluded: set[str], dpi: int = figures.DEFAULT_DPI,
                   seed: int = 0) -> Section | None:
    """Table 1 and the outcome summary of the patients that passed validation."""
    cohort = manifest[~manifest["patient_id"].isin(excluded)]
    if "has_clinical" in cohort.columns:
        cohort = cohort[cohort["has_clinical"].fillna(False).astype(bool)]
    if cohort.empty:
        return None
    centres = cohort["center"].astype(str)
    section = Section("cohort", "Cohort")
    section.blocks.append(Text(
        f"{len(cohort)} patients from {centres.nunique()} centres with clinical data passed "
        f"validation ({len(excluded)} excluded, see Data quality). Continuous "
        "variables: median [interquartile range]; categorical: n (% of known). p values compare "
        "centres: Kruskal-Wallis for continuous variables; Pearson's chi-square for categorical "
        "ones, Fisher's exact test (2x2) or a Monte Carlo chi-square test when an expected "
        "count is below 5."))
    section.blocks.append(Table("table1", "Table 1. Patient characteristics overall and by "
                                "centre.", table_one(cohort, seed=seed)))
    if {"rfs_days", "relapse"} <= set(cohort.columns):
        section.blocks.append(Table("outcomes_by_centre", "Relapse counts and follow-up by "
                                    "centre (median follow-up by reverse Kaplan-Meier).",
                                    outcomes_by_centre(cohort)))
        known = cohort.dropna(subset=["rfs_days", "relapse"])
        if known["relapse"].astype(int).sum() > 0:
            section.blocks.append(rfs_by_centre_figure(known, dpi))
    return section


def rfs_by_centre_figure(cohort: pd.DataFrame, dpi: int) -> Figure:
    """Kaplan-Meier recurrence-free survival per centre, log-rank test across centres."""
    time = cohort["rfs_days"].to_numpy(float)
    event = cohort["relapse"].to_numpy(int)
    centres = cohort["center"].astype(str).to_numpy()
    colours = figures.centre_colours(centres)
    fig, (ax,) = figures.new_figure(6.4, 4.0)
    for centre, colour in colours.items():
        mask = centres == centre
        curve = stats.kaplan_meier(time[mask], event[mask])
        ax.step(curve.time / stats.DAYS_PER_YEAR, curve.survival, where="post", color=colour,
                label=f"{figures.plain(centre)} (n={mask.sum()})")
    _, p_value = stats.log_rank(time, event, centres)
    ax.set_xlabel("Time since end of radiotherapy (years)")
    ax.set_ylabel("Recurrence-free survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Log-rank test across centres: {stats.p_text(p_value)}", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="Centre")
    return Figure(figures.to_data_uri(fig, dpi), "Kaplan-Meier recurrence-free survival by "
                  "centre.", "Kaplan-Meier curves by centre")


def table_one(cohort: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table 1: one row per variable level, columns Overall, each centre, p value and test."""
    groups = cohort["center"].astype(str)
    centre_names = sorted(groups.unique())
    header = {"Variable": "Patients", "Level": "n", "Overall": str(len(cohort))}
    header.update({c: str(int((groups == c).sum())) for c in centre_names})
    rows = [header]
    for column, label in CONTINUOUS.items():
        if column in cohort.columns:
            rows.extend(_continuous_rows(cohort[column], groups, label, centre_names))
    for column, (label, levels) in CATEGORICAL.items():
        if column in cohort.columns and cohort[column].notna().any():
            rows.extend(_categorical_rows(cohort[column], groups, label, levels, centre_names,
                                          seed))
    table = pd.DataFrame(rows).fillna({"p": "", "Test": ""})
    return table.reindex(columns=["Variable", "Level", "Overall", *centre_names, "p", "Test"])


def _test_cells(p_value: float, test: str) -> dict[str, str]:
    """The p value and test name, both blank when the test is undefined (one level only)."""
    if not np.isfinite(p_value):
        return {"p": "", "Test": ""}
    return {"p": stats.format_p(p_value), "Test": test}


def _median_iqr(values: pd.Series) -> str:
    known = values.dropna().astype(float)
    if known.empty:
        return "–"
    q1, median, q3 = np.percentile(known, [25, 50, 75])
    return f"{median:.0f} [{q1:.0f}–{q3:.0f}]"


def _continuous_rows(values: pd.Series, groups: pd.Series, label: str,
                     centres: list[str]) -> list[dict[str, str]]:
    values = pd.to_numeric(values, errors="coerce").astype(float)
    p_value, test = stats.compare_continuous(values, groups)
    row = {"Variable": label, "Level": "median [IQR]", "Overall": _median_iqr(values),
           **_test_cells(p_value, test)}
    missing = {"Variable": "", "Level": "missing", "Overall": str(int(values.isna().sum()))}
    for centre in centres:
        row[centre] = _median_iqr(values[groups == centre])
        missing[centre] = str(int(values[groups == centre].isna().sum()))
    return [row, missing]


def _count(values: pd.Series, level: object) -> str:
    known = values.dropna()
    n = int((known == level).sum())
    return f"{n} ({100 * n / len(known):.0f}%)" if len(known) else "0"


def _categorical_rows(values: pd.Series, groups: pd.Series, label: str,
                      levels: dict[object, str], centres: list[str],
                      seed: int) -> list[dict[str, str]]:
    values = values.astype(object).where(values.notna(), None)
    known = sorted(values.dropna().unique(), key=str)
    p_value, test = stats.compare_categorical(values, groups, seed=seed)
    rows = []
    for index, level in enumerate(known):
        row = {"Variable": label if index == 0 else "", "Level": levels.get(level, str(level)),
               "Overall": _count(values, level)}
        if index == 0:
            row.update(_test_cells(p_value, test))
        row.update({c: _count(values[groups == c], level) for c in centres})
        rows.append(row)
    missing = {"Variable": "", "Level": "missing", "Overall": str(int(values.isna().sum()))}
    missing.update({c: str(int(values[groups == c].isna().sum())) for c in centres})
    rows.append(missing)
    return rows


def outcomes_by_centre(cohort: pd.DataFrame) -> pd.DataFrame:
    """Patients, relapses, censored and median follow-up (reverse Kaplan-Meier) per centre."""
    rows = []
    groups = [("All centres", cohort), *((str(c), g) for c, g in cohort.groupby("center"))]
    for name, group in groups:
        known = group.dropna(subset=["rfs_days", "relapse"])
        events = int(known["relapse"].astype(int).sum())
        follow_up = stats.median_follow_up(known["rfs_days"].to_numpy(dtype=float),
                                           known["relapse"].to_numpy(dtype=int))
        rows.append({
            "Centre": name, "Patients": len(group), "With outcome": len(known),
            "Relapses": events, "Censored": len(known) - events,
            "Relapse %": round(100 * events / len(known), 1) if len(known) else np.nan,
            "Median follow-up, days": round(follow_up) if np.isfinite(follow_up) else np.nan,
            "Median follow-up, months": round(follow_up / DAYS_PER_MONTH, 1)
            if np.isfinite(follow_up) else np.nan,
        })
    return pd.DataFrame(rows)
