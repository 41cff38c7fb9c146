"""Feature analysis section: per-feature association (volcano, top features), redundancy
(clustered correlation heatmap), reproducibility (ICC per feature class), centre effect.

Reads the tables ``radiomics-hnc analyze`` wrote (:mod:`radiomics_hnc.analysis`); every figure's
numbers are also a CSV table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomics_hnc.analysis.icc import UNSTABLE_ICC
from radiomics_hnc.analysis.records import AnalysisSummary
from radiomics_hnc.analysis.redundancy import CLUSTER_CUT, cluster_order, spearman_matrix
from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure, Section, Table, Text

#: Features per task in the top-features table, and in the heatmap (all tasks together).
TOP_PER_TASK = 10
HEATMAP_FEATURES = 30
TASK_LABELS = {"rfs": ("RFS", "HR per SD", "C-index"), "hpv": ("HPV", "OR per SD", "AUC")}
RELATION_COLOURS = {"independent of volume": "#D55E00", "volume surrogate": "#0072B2",
                    "volume measure": "#009E73", "not associated": "#9E9E9E"}


def analysis_section(analysis: tuple[AnalysisSummary, dict[str, pd.DataFrame]],
                     patients: pd.DataFrame | None, dpi: int) -> Section:
    """The section from the analysis summary and tables (and the patients table for the
    heatmap)."""
    summary, tables = analysis
    alpha = float(summary.settings["alpha"])
    association = tables.get("association", pd.DataFrame())
    clusters = tables.get("clusters", pd.DataFrame())
    stability = tables.get("reproducibility", pd.DataFrame())
    section = Section("feature-analysis", "Feature analysis")
    section.blocks.append(Text(_summary_text(association, clusters, stability, alpha)))
    section.blocks += [Text(f"Not done: {finding}") for finding in summary.findings]
    if len(association):
        section.blocks.append(volcano_figure(association, alpha, dpi))
        section.blocks.append(Table("analysis_association", "Association of every feature "
                                    "(volcano plot data).", association, display=False))
        section.blocks.append(Table("analysis_top_features", f"Top {TOP_PER_TASK} features per "
                                    "outcome by q-value.", top_features(association, clusters,
                                                                        stability)))
    if patients is not None and len(association):
        names = _heatmap_features(association, patients)
        if len(names) >= 2:
            figure, matrix = heatmap_figure(patients[names], dpi)
            section.blocks += [figure, Table("analysis_top_correlation", "Spearman correlation "
                                             "of the top features (heatmap data).", matrix,
                                             display=False)]
    if len(clusters):
        section.blocks.append(Table("analysis_clusters", "Redundancy clusters of every "
                                    "feature.", clusters, display=False))
    if any(c.startswith("icc_") for c in stability.columns) and stability.filter(
            like="icc_").notna().any().any():
        section.blocks += [icc_figure(stability, dpi), Table(
            "analysis_reproducibility", "ICC(2,1) of every feature with its 95% confidence "
            "interval (McGraw and Wong 1996).", stability, display=False)]
    centre = tables.get("centre_effect", pd.DataFrame())
    if "eta2_raw" in centre:
        section.blocks.append(Table("analysis_centre_effect", "Centre effect of the 10 features "
                                    "that differ most between centres (Kruskal-Wallis).",
                                    centre.sort_values("eta2_raw", ascending=False).head(10)))
    return section


def _summary_text(association: pd.DataFrame, clusters: pd.DataFrame,
                  stability: pd.DataFrame, alpha: float) -> str:
    parts = []
    for task, rows in association.groupby("task", sort=False) if len(association) else []:
        label = TASK_LABELS.get(str(task), (str(task),))[0]
        significant = rows["q"] <= alpha
        surrogates = (rows["volume_relation"] == "volume surrogate").sum()
        parts.append(f"{label}: {significant.sum()} of {len(rows)} features associated at a "
                     f"false discovery rate of {alpha:g} (Benjamini-Hochberg), {surrogates} of "
                     "them only through tumour volume (no association left after adjustment "
                     "for the log volume of the feature's scope: primary, nodes or whole "
                     "disease).")
    if len(clusters):
        parts.append(f"{clusters['cluster'].nunique()} clusters of redundant features (average "
                     f"linkage on 1 - |Spearman rho|, cut at {CLUSTER_CUT}: |rho| >= "
                     f"{1 - CLUSTER_CUT:.1f}).")
    if "unstable" in stability and stability.filter(like="icc_").notna().any().any():
        parts.append(f"{int(stability['unstable'].sum())} features unstable (ICC(2,1) below "
                     f"{UNSTABLE_ICC} under mask perturbation or between mask sources).")
    parts.append("Associations are univariable and in-sample: they rank features for "
                 "interpretation, not as a validated model.")
    return " ".join(parts)


def volcano_figure(association: pd.DataFrame, alpha: float, dpi: int) -> Figure:
    """Effect (log ratio per SD) against -log10 q, one panel per outcome."""
    tasks = list(association["task"].unique())
    fig, axes = figures.new_figure(4.4 * len(tasks) + 1.4, 4.0, ncols=len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        rows = association[association["task"] == task]
        label, effect, _ = TASK_LABELS.get(str(task), (str(task), "ratio per SD", ""))
        for relation, colour in RELATION_COLOURS.items():
            part = rows[rows["volume_relation"] == relation]
            ax.scatter(np.log(part["ratio"]), -np.log10(part["q"].clip(lower=1e-300)), s=9,
                       alpha=0.7, color=colour, label=relation, linewidths=0)
        ax.axhline(-np.log10(alpha), color="black", linewidth=0.8, linestyle="--")
        ax.set_xlabel(f"log {effect}")
        ax.set_ylabel("-log10 q")
        ax.set_title(label, fontsize=9)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return Figure(figures.to_data_uri(fig, dpi), f"Volcano plot: effect per SD against "
                  f"-log10 q-value; dashed line q = {alpha:g}; colour: relation to tumour "
                  "volume.", "Volcano plot")


def top_features(association: pd.DataFrame, clusters: pd.DataFrame,
                 stability: pd.DataFrame) -> pd.DataFrame:
    """The most associated features per outcome with their volume, cluster and ICC columns."""
    top = (association.sort_values(["task", "q", "p"])
           .groupby("task", sort=False).head(TOP_PER_TASK))
    frame = pd.DataFrame({
        "Outcome": top["task"].map(lambda t: TASK_LABELS.get(t, (t,))[0]),
        "Feature": top["feature"],
        "Ratio per SD": top["ratio"].round(2),
        "95% CI": [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(top["ratio_ci_low"],
                                                           top["ratio_ci_high"], strict=True)],
        "q": top["q"],
        "C / AUC": top["discrimination"].round(3),
        "Volume rho": top["volume_rho"].round(2),
        "Adjusted p": top["p_adjusted"],
        "Volume relation": top["volume_relation"],
    })
    if len(clusters):
        info = clusters.set_index("feature")
        frame["Cluster"] = [f"{info.at[f, 'cluster']}{'*' if info.at[f, 'representative'] else ''}"
                            for f in top["feature"]]
    icc_columns = [c for c in stability.columns if c.startswith("icc_")]
    indexed = stability.set_index("feature")
    for column in icc_columns:
        name = column.removeprefix("icc_")
        frame[f"ICC {name} (95% CI)"] = [
            _icc_text(indexed, feature, name) for feature in top["feature"]]
    return frame.reset_index(drop=True)


def _icc_text(stability: pd.DataFrame, feature: str, name: str) -> str:
    """``0.91 (0.85-0.95)``; the interval left out where the table has none; empty when the
    feature has no ICC."""
    if feature not in stability.index or pd.isna(stability.at[feature, f"icc_{name}"]):
        return ""
    text = f"{stability.at[feature, f'icc_{name}']:.2f}"
    low, high = (stability.get(f"ci_{side}_{name}") for side in ("low", "high"))
    if low is not None and high is not None and pd.notna(low[feature]):
        text += f" ({low[feature]:.2f}-{high[feature]:.2f})"
    return text


def _heatmap_features(association: pd.DataFrame, patients: pd.DataFrame) -> list[str]:
    ranked = association.sort_values("q")["feature"].drop_duplicates()
    return [f for f in ranked if f in patients.columns][:HEATMAP_FEATURES]


def heatmap_figure(values: pd.DataFrame, dpi: int) -> tuple[Figure, pd.DataFrame]:
    """Spearman correlation of the top features, rows and columns in clustering order."""
    rho = spearman_matrix(values)
    _, order = cluster_order(rho)
    names = [values.columns[i] for i in order]
    matrix = pd.DataFrame(rho[np.ix_(order, order)], index=names, columns=names)
    size = 3.0 + 0.16 * len(names)
    fig, axes = figures.new_figure(size + 2.5, size)
    ax = axes[0]
    ax.grid(False)
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), [figures.plain(n) for n in names], rotation=90, fontsize=5)
    ax.set_yticks(range(len(names)), [figures.plain(n) for n in names], fontsize=5)
    fig.colorbar(image, ax=ax, label="Spearman rho", shrink=0.6)
    return (Figure(figures.to_data_uri(fig, dpi), "Spearman correlation of the most associated "
                   "features, ordered by hierarchical clustering (average linkage on 1 - |rho|).",
                   "Clustered correlation heatmap"),
            matrix.reset_index(names="feature"))


def icc_figure(stability: pd.DataFrame, dpi: int) -> Figure:
    """ICC(2,1) distribution per feature class (box plots), one panel per comparison."""
    columns = [c for c in stability.columns if c.startswith("icc_")
               and stability[c].notna().any()]
    fig, axes = figures.new_figure(5.5 * len(columns) + 0.5, 4.2, ncols=len(columns))
    for ax, column in zip(axes, columns, strict=True):
        rows = stability.dropna(subset=[column])
        classes = sorted(rows["feature_class"].unique())
        data = [rows.loc[rows["feature_class"] == c, column].clip(lower=-1).to_numpy()
                for c in classes]
        ax.boxplot(data, vert=False, tick_labels=[figures.plain(c) for c in classes])
        ax.axvline(UNSTABLE_ICC, color="black", linewidth=0.8, linestyle="--")
        ax.set_xlabel(f"ICC(2,1), {column.removeprefix('icc_')}")
        ax.tick_params(axis="y", labelsize=6)
    return Figure(figures.to_data_uri(fig, dpi), f"ICC(2,1) per feature class; dashed line "
                  f"{UNSTABLE_ICC} (below: unstable).", "ICC distribution per feature class")


def methods_paragraph(analysis: tuple[AnalysisSummary, dict[str, pd.DataFrame]]) -> str:
    """The Methods' paragraph on the feature analysis, from what ``analyze`` recorded."""
    summary, tables = analysis
    settings = summary.settings
    stratified = bool(settings.get("stratify_center"))
    tests = [{"rfs": "recurrence-free survival (Cox regression, Breslow ties: hazard ratio "
                     "per SD, Harrell's C)",
              "hpv": "HPV status (logistic regression: odds ratio per SD, ROC AUC)"}[task]
             for task in ("rfs", "hpv") if task in summary.tasks]
    text = [f"Feature analysis (radiomics-hnc analyze) of {summary.features} features "
            f"({summary.features_folder}/patients.parquet; constant features and those "
            "missing for more than half of the patients left out)."]
    if tests:
        text.append(
            f"Each feature, scaled to unit standard deviation, was tested for univariable "
            f"association with {' and with '.join(tests)}, with Wald 95 % confidence "
            f"intervals and {settings.get('resamples')}-resample bootstrap intervals for C "
            "and AUC" + ("; stratified by centre (Cox strata, a logistic intercept per "
                         "centre, concordance within centres)" if stratified else "") +
            ". P-values were corrected across the features of each outcome by the "
            f"Benjamini-Hochberg false discovery rate, significant at q <= "
            f"{float(settings['alpha']):g}. Each feature was refitted beside the log volume "
            "of its own scope (primary tumour, nodes or whole disease; whole disease where "
            "the scope's volume was missing), and a feature associated alone but not after "
            "adjustment was called a volume surrogate. Associations are univariable and "
            "in-sample.")
    text.append(f"Redundancy: hierarchical clustering (average linkage) on 1 - |Spearman "
                f"rho|, cut at {CLUSTER_CUT} (|rho| >= {1 - CLUSTER_CUT:.1f}), one "
                "representative per cluster (the most associated, then the most stable).")
    text.append(_reproducibility_methods(summary))
    if "eta2_raw" in tables.get("centre_effect", pd.DataFrame()):
        text.append("Centre effect: Kruskal-Wallis test across centres (eta-squared of the "
                    "ranks) before and after ComBat harmonisation, fitted on the whole cohort "
                    "as a description.")
    return " ".join(text)


def _reproducibility_methods(summary: AnalysisSummary) -> str:
    compared = []
    if summary.perturbation and summary.perturbation.get("patients"):
        compared.append(f"under mask perturbation ({len(summary.perturbation['patients'])} "
                        "patients re-extracted with the settings of the analysed features, "
                        "with the mask eroded and dilated by one voxel and a random boundary, "
                        "after Zwanenburg et al., Sci Rep 2019)")
    if summary.mask_sources_compared:
        compared.append("between ground-truth and predicted masks")
    if not compared:
        reasons = " ".join(summary.findings)
        return f"Reproducibility was not assessed{': ' + reasons if reasons else '.'}"
    return (f"Reproducibility: ICC(2,1) (two-way random effects, absolute agreement, single "
            f"measurement; Shrout and Fleiss 1979) of each feature {' and '.join(compared)}, "
            f"with its 95% confidence interval (McGraw and Wong 1996); features with ICC "
            f"below {UNSTABLE_ICC} were flagged unstable (Koo and Li 2016).")
