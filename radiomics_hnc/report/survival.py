"""RFS section: model comparison, risk-group Kaplan-Meier, time-dependent AUC, calibration,
univariable hazard ratios and feature importance, all from out-of-fold predictions."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter
from sksurv.metrics import cumulative_dynamic_auc

from radiomics_hnc.report import figures, stats
from radiomics_hnc.report.content import Figure, Section, Table, Text
from radiomics_hnc.report.inputs import Run, oof_scores
from radiomics_hnc.report.model_summary import (
    FOLD_AWARE_NOTE,
    NO_SCORED_RUN,
    best_of,
    comparison_table,
    importance_figure,
    per_centre_figures,
    per_centre_table,
    warnings_note,
)
from radiomics_hnc.workspace import is_patient_feature

log = logging.getLogger(__name__)

RFS_METRICS = {"c_index_fold_aware": "C (fold-aware)", "c_index": "Harrell's C (pooled)",
               "uno_c": "Uno's C (pooled)", "auc_365d": "AUC 1 y (pooled)",
               "auc_730d": "AUC 2 y (pooled)", "auc_1095d": "AUC 3 y (pooled)", "ibs": "IBS"}
#: Time of the calibration plot and of the risk tables (days).
CALIBRATION_DAYS = 730.0
RISK_TABLE_YEARS = (0, 1, 2, 3, 4, 5)
CALIBRATION_GROUPS = 5
#: Clinical covariates of the forest plot: column -> (label, scale divisor, coding).
CLINICAL_HR = {
    "age": ("Age (per 10 years)", 10.0),
    "gender": ("Male vs female", 1.0),
    "tobacco": ("Tobacco: yes vs no", 1.0),
    "alcohol": ("Alcohol: yes vs no", 1.0),
    "performance_status": ("Performance status (per point)", 1.0),
    "treatment": ("Chemoradiotherapy vs RT alone", 1.0),
    "hpv_status": ("HPV positive vs negative", 1.0),
}
TOP_RADIOMICS_HR = 5
HR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
_SURVIVAL_COLUMN = re.compile(r"^(?:surv|survival|s)_?(?:at_)?(\d+(?:\.\d+)?)d?$", re.I)


def survival_section(runs: list[Run], manifest: pd.DataFrame | None,
                     patients: pd.DataFrame | None, dpi: int) -> Section | None:
    """Every RFS run compared, then the best run's curves, HRs and importance."""
    rfs = [r for r in runs if r.task == "rfs"]
    if not rfs:
        return None
    section = Section("rfs", "Recurrence-free survival")
    section.blocks.append(Text(
        "All metrics are computed on out-of-fold predictions (each patient scored by a model "
        "that never saw them); 95 % confidence intervals by bootstrap. Leave-one-centre-out is "
        "the headline validation; k-fold is shown beside it and is optimistic."))
    section.blocks.append(Table("rfs_models", "RFS model comparison (C-index: higher is "
                                "better; IBS: integrated Brier score, mean over folds, lower is "
                                "better; per-fold SD: spread of the per-fold C).",
                                comparison_table(rfs, RFS_METRICS)))
    section.blocks.append(Text(FOLD_AWARE_NOTE.format(metric="C")))
    note = warnings_note(rfs)
    if note is not None:
        section.blocks.append(note)
    per_centre = per_centre_table(rfs, "c_index", "Harrell's C")
    if not per_centre.empty:
        section.blocks.extend(per_centre_figures(per_centre, "Harrell's C", dpi))
        section.blocks.append(Table("rfs_per_centre", "Harrell's C per held-out centre with "
                                    "bootstrap 95 % CI (leave-one-centre-out runs).", per_centre,
                                    display=False))
    best = best_of(rfs)
    if best is None:
        section.blocks.append(Text(NO_SCORED_RUN, style="note"))
        return section
    scores = oof_scores(best, manifest).dropna(subset=["score", "rfs_days", "relapse"])
    section.blocks.append(Text(
        f"Curves below use the best run under the headline validation: {best.name} "
        f"({best.spec_name}, {best.scheme}), {len(scores)} patients with outcome."))
    if len(scores) >= 10 and scores["relapse"].astype(int).sum() >= 2:
        section.blocks.extend(risk_group_blocks(scores, dpi))
        section.blocks.append(time_auc_figure(
            [r for r in rfs if r.scheme == best.scheme], manifest,
            dpi))
        section.blocks.append(calibration_figure(best, scores, dpi))
    cohort = _hr_cohort(manifest, patients)
    if cohort is not None:
        section.blocks.extend(forest_blocks(cohort, best, dpi))
    importance = importance_figure(best, dpi)
    if importance is not None:
        section.blocks.append(importance)
    return section


def risk_group_blocks(scores: pd.DataFrame, dpi: int, cut: float | None = None,
                      table_name: str = "rfs_numbers_at_risk") -> list[Table | Figure]:
    """Kaplan-Meier of patients above vs below the median out-of-fold risk (or a frozen
    ``cut``), log-rank test."""
    time = scores["rfs_days"].to_numpy(float)
    event = scores["relapse"].to_numpy(int)
    split = "at median" if cut is None else f"at the development median {cut:.3g}"
    high = scores["score"].to_numpy(float) > (np.median(scores["score"]) if cut is None else cut)
    _, p_value = stats.log_rank(time, event, high)
    fig, (ax,) = figures.new_figure(6.0, 4.0)
    years = np.array(RISK_TABLE_YEARS, dtype=float)
    at_risk = {}
    for name, mask, colour in (("Low risk", ~high, "#0072B2"), ("High risk", high, "#D55E00")):
        curve = stats.kaplan_meier(time[mask], event[mask])
        ax.step(curve.time / stats.DAYS_PER_YEAR, curve.survival, where="post", color=colour,
                label=f"{name} (n={mask.sum()}, events={event[mask].sum()})")
        ax.fill_between(curve.time / stats.DAYS_PER_YEAR, curve.low, curve.high, step="post",
                        color=colour, alpha=0.15)
        at_risk[name] = stats.numbers_at_risk(time[mask], years * stats.DAYS_PER_YEAR)
    ax.set_xlabel("Time since end of radiotherapy (years)")
    ax.set_ylabel("Recurrence-free survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{'Out-of-fold' if cut is None else 'Frozen'} risk groups (split {split}); "
                 f"log-rank "
                 f"{stats.p_text(p_value)}", fontsize=9)
    ax.legend(loc="lower left", fontsize=8)
    table = pd.DataFrame({"Group": list(at_risk),
                          **{f"{int(y)} y": [at_risk[g][i] for g in at_risk]
                             for i, y in enumerate(years)}})
    return [Figure(figures.to_data_uri(fig, dpi),
                   "Kaplan-Meier curves (95 % log-log bands) of low- and high-risk patients.",
                   "Kaplan-Meier curves by predicted risk group"),
            Table(table_name, f"Numbers at risk (log-rank {stats.p_text(p_value)}).",
                  table)]


def time_auc_figure(runs: list[Run], manifest: pd.DataFrame | None, dpi: int) -> Figure:
    """Cumulative/dynamic AUC over time for each run of the headline validation scheme."""
    fig, (ax,) = figures.new_figure(6.0, 3.8)
    for run in runs:
        scores = oof_scores(run, manifest).dropna(subset=["score", "rfs_days", "relapse"])
        target = stats.survival_target(scores["rfs_days"], scores["relapse"].astype(int))
        event_times = scores.loc[scores["relapse"].astype(bool), "rfs_days"].to_numpy(float)
        if event_times.size < 4:
            continue
        low, high = np.percentile(event_times, [10, 80])
        times = np.unique(np.linspace(low, min(high, scores["rfs_days"].max() - 1), 15))
        try:
            auc, mean_auc = cumulative_dynamic_auc(target, target, scores["score"], times)
        except ValueError as exc:  # too few patients at risk at some time point
            log.warning("time-dependent AUC of %s skipped: %s", run.name, exc)
            continue
        ax.plot(times / stats.DAYS_PER_YEAR, auc, marker="o", markersize=3,
                label=f"{run.name} (mean {mean_auc:.2f})")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("Time since end of radiotherapy (years)")
    ax.set_ylabel("Time-dependent AUC (cumulative/dynamic)")
    ax.set_ylim(0.3, 1.0)
    ax.legend(fontsize=7, loc="lower right")
    return Figure(figures.to_data_uri(fig, dpi), "Time-dependent AUC of the out-of-fold risk "
                  "scores (inverse-probability-of-censoring weighted).", "Time-dependent AUC")


def calibration_figure(run: Run, scores: pd.DataFrame, dpi: int) -> Figure:
    """Observed (Kaplan-Meier) vs predicted relapse probability at :data:`CALIBRATION_DAYS`.

    Uses the run's predicted survival at that time when its out-of-fold file has one
    (a ``surv_<days>`` column); otherwise shows the observed probability by risk quintile.
    """
    column, t = _survival_column(run)
    if column is not None:
        predicted = run.oof.groupby("patient_id")[column].mean()
        scores = scores.assign(predicted=1 - scores["patient_id"].map(predicted).to_numpy(float))
        x_key, x_label = "predicted", f"Predicted relapse probability at {t:.0f} days"
    else:
        x_key, x_label = "score", "Out-of-fold risk score (mean of quintile)"
    groups = pd.qcut(scores[x_key].rank(method="first"), CALIBRATION_GROUPS, labels=False)
    fig, (ax,) = figures.new_figure(4.6, 4.2)
    xs, ys, lows, highs = [], [], [], []
    for _, group in scores.groupby(groups):
        curve = stats.kaplan_meier(group["rfs_days"].to_numpy(float),
                                   group["relapse"].to_numpy(int))
        index = max(np.searchsorted(curve.time, t, side="right") - 1, 0)
        xs.append(group[x_key].mean())
        ys.append(1 - curve.survival[index])
        lows.append(1 - curve.high[index])
        highs.append(1 - curve.low[index])
    ys_arr = np.array(ys)
    ax.errorbar(xs, ys_arr, yerr=[ys_arr - np.array(lows), np.array(highs) - ys_arr], fmt="o",
                color="#0072B2", capsize=3, label="Quintile (Kaplan-Meier, 95 % CI)")
    if column is not None:
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="Perfect calibration")
        ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"Observed relapse probability at {t:.0f} days")
    ax.legend(fontsize=7, loc="upper left")
    caption = (f"Calibration at {t:.0f} days ({t / stats.DAYS_PER_YEAR:.1f} years) of run "
               f"{run.name}.")
    if column is None:
        caption += (" The run saved risk scores but no survival probabilities, so observed "
                    "risk is shown by risk quintile (a monotone rise indicates discrimination; "
                    "absolute calibration cannot be judged).")
    return Figure(figures.to_data_uri(fig, dpi), caption, "Calibration plot")


def _survival_column(run: Run) -> tuple[str | None, float]:
    """The out-of-fold survival-probability column closest to :data:`CALIBRATION_DAYS`."""
    found = [(abs(float(m.group(1)) - CALIBRATION_DAYS), c, float(m.group(1)))
             for c in run.oof.columns if (m := _SURVIVAL_COLUMN.match(str(c)))]
    if not found:
        return None, CALIBRATION_DAYS
    _, column, t = min(found)
    return column, t


def _hr_cohort(manifest: pd.DataFrame | None, patients: pd.DataFrame | None) -> pd.DataFrame | None:
    """Clinical columns and features of the patients with an RFS outcome."""
    source = patients if patients is not None else manifest
    if source is None or not {"rfs_days", "relapse"} <= set(source.columns):
        return None
    return source.dropna(subset=["rfs_days", "relapse"])


def hazard_ratio_table(cohort: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Univariable Cox hazard ratios of clinical covariates and of radiomics features (per SD)."""
    time = cohort["rfs_days"].to_numpy(float)
    event = cohort["relapse"].to_numpy(int)
    covariates: list[tuple[str, str, np.ndarray]] = []
    for column, (label, scale) in CLINICAL_HR.items():
        if column in cohort.columns:
            values = pd.to_numeric(cohort[column], errors="coerce").to_numpy(float) / scale
            covariates.append(("clinical", label, values))
    if "m_stage" in cohort.columns:
        m1 = cohort["m_stage"].astype("string").str.upper().map({"M1": 1.0, "M0": 0.0})
        covariates.append(("clinical", "M1 vs M0", m1.to_numpy(float, na_value=np.nan)))
    for feature in features:
        values = pd.to_numeric(cohort[feature], errors="coerce").to_numpy(float)
        sd = np.nanstd(values)
        if sd > 0:
            covariates.append(("radiomics", f"{feature} (per SD)",
                               (values - np.nanmean(values)) / sd))
    rows = []
    for kind, label, values in covariates:
        fit = stats.univariable_cox(values, time, event)
        rows.append({"Type": kind, "Covariate": label, "HR": round(fit.hr, 3),
                     "CI low": round(fit.low, 3), "CI high": round(fit.high, 3),
                     "p": stats.format_p(fit.p_value), "Patients": fit.n, "Events": fit.events})
    return pd.DataFrame(rows)


def forest_blocks(cohort: pd.DataFrame, best: Run, dpi: int) -> list[Table | Figure]:
    """The hazard-ratio table and its forest plot."""
    top = []
    if best.importance is not None:
        numeric = set(cohort.select_dtypes("number").columns)
        top = [f for f in best.importance["feature"].astype(str)
               if f in numeric and is_patient_feature(f)]
        top = top[:TOP_RADIOMICS_HR]
    table = hazard_ratio_table(cohort, top)
    table = table[np.isfinite(table["HR"].astype(float))].reset_index(drop=True)
    if table.empty:
        return []
    fig, (ax,) = figures.new_figure(7.0, 0.32 * len(table) + 1.4)
    y = np.arange(len(table))[::-1]
    colours = np.where(table["Type"] == "clinical", "#0072B2", "#D55E00")
    ax.errorbar(table["HR"], y, xerr=[table["HR"] - table["CI low"],
                                      table["CI high"] - table["HR"]], fmt="none",
                ecolor="grey", capsize=2)
    ax.scatter(table["HR"], y, c=list(colours), zorder=3, s=18)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    low, high = float(table["CI low"].min()), float(table["CI high"].max())
    ticks = [t for t in HR_TICKS if low / 1.5 <= t <= high * 1.5]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, [figures.plain(name) for name in table["Covariate"]], fontsize=7)
    ax.set_xlabel("Hazard ratio for relapse (log scale, 95 % CI)")
    return [Table("rfs_hazard_ratios", "Univariable Cox hazard ratios for relapse (Breslow "
                  "ties, Wald 95 % CI; radiomics features standardised, per SD; complete "
                  "cases). Univariable and on the whole cohort: descriptive, not validated.",
                  table),
            Figure(figures.to_data_uri(fig, dpi), "Forest plot of univariable hazard ratios "
                   "(blue clinical, orange radiomics).", "Forest plot of hazard ratios")]
