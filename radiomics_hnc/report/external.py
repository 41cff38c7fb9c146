"""External validation section: a frozen model's internal and external figures side by side.

Built from the folders ``validate-external`` writes (``WORKSPACE/external/<run>/``): the
record's metrics beside the run's internal ones with the automatic reading, the frozen risk
groups or the threshold's confusion matrix, calibration, the decision curve (HPV), the shift
diagnostics, Table 1 of both cohorts and the TRIPOD+AI topics the section documents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radiomics_hnc.choices import ModelTask
from radiomics_hnc.io import atomic_path, write_csv
from radiomics_hnc.modeling.external import (
    CALIBRATION_FILE,
    CASE_MIX_FILE,
    DECISION_CURVE_FILE,
    EXTERNAL_DIR,
    PCA_FILE,
    PREDICTIONS_FILE,
    RECORD_FILE,
    SHIFT_FILE,
    ExternalRecord,
)
from radiomics_hnc.modeling.shift import COHORT_COLUMN, DEVELOPMENT, EXTERNAL
from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure, Section, Table, Text
from radiomics_hnc.report.hpv import confusion_table, hpv_calibration_figure, roc_figure
from radiomics_hnc.report.inputs import read_table
from radiomics_hnc.report.survival import risk_group_blocks

#: Rows of the side-by-side table per task: (internal key, external key, label).
SIDE_BY_SIDE = {
    ModelTask.RFS: [("c_index_fold_aware", "c_index", "C-index (internal: fold-aware; "
                     "external: Harrell's)"), ("uno_c", "uno_c", "Uno's C"),
                    ("auc_365d", "auc_365d", "AUC at 1 year"),
                    ("auc_730d", "auc_730d", "AUC at 2 years"),
                    ("auc_1095d", "auc_1095d", "AUC at 3 years"),
                    (None, "calibration_slope", "Calibration slope"),
                    (None, "observed_expected", "Observed / expected relapses")],
    ModelTask.HPV: [("roc_auc_fold_aware", "roc_auc", "ROC AUC (internal: fold-aware)"),
                    ("balanced_accuracy", "balanced_accuracy", "Balanced accuracy"),
                    ("sensitivity", "sensitivity", "Sensitivity"),
                    ("specificity", "specificity", "Specificity"),
                    ("brier", "brier", "Brier score"),
                    ("calibration_intercept", "calibration_intercept", "Calibration intercept"),
                    ("calibration_slope", "calibration_slope", "Calibration slope")],
}
#: Model inputs shown on the page (most important first); the CSV has all.
SHOWN_INPUTS = 15
#: TRIPOD+AI (Collins et al., BMJ 2024) topics for an external evaluation, and where the
#: section answers them. Item numbers are left to the authors' checklist.
TRIPOD_AI_TOPICS = (
    ("Evaluation data: source, centres and dates", "external cohort summary above (dates: "
     "authors)"),
    ("How predictions were calculated for the evaluation data", "frozen model file (SHA-256 in "
     "external.json), harmonisation policy, frozen cut-point / threshold"),
    ("Differences between development and evaluation data (case mix, predictors)",
     "Table 1 of both cohorts; shift table and PCA overlay"),
    ("Number of participants and outcome events", "cohort summary and Table 1"),
    ("Model performance with confidence intervals: discrimination and calibration",
     "side-by-side table, calibration figure"),
    ("Clinical utility", "decision curve (HPV) / frozen risk groups (RFS)"),
    ("Comparison with development performance; interpretation", "automatic reading (to be "
     "interpreted by the authors)"),
)


def external_sections(workspace: str | Path, dpi: int = figures.DEFAULT_DPI,
                      seed: int = 0) -> list[Section]:
    """One section per ``WORKSPACE/external/<run>/`` folder holding a record."""
    folder = Path(workspace) / EXTERNAL_DIR
    if not folder.is_dir():
        return []
    return [external_section(path.parent, dpi, seed)
            for path in sorted(folder.glob(f"*/{RECORD_FILE}"))]


def external_section(folder: Path, dpi: int = figures.DEFAULT_DPI, seed: int = 0) -> Section:
    """The section of one external validation folder."""
    record = ExternalRecord.read(folder / RECORD_FILE)
    predictions = read_table(folder / PREDICTIONS_FILE)
    prefix = f"external_{folder.name}"
    title = f"External validation: {record.run}" + (
        f" ({folder.name})" if folder.name != record.run else "")
    section = Section(f"external-{folder.name}", title)
    dev, ext = record.development, record.external
    section.blocks.append(Text(
        f"Frozen run {record.run} ({record.spec}, {record.task}) developed on "
        f"{dev.n_patients} patients from {len(dev.centres)} centre(s) and applied, without "
        f"refitting, to {ext.n_patients} external patients ({ext.n_labelled} with outcome) "
        f"from {', '.join(ext.centres)}. Harmonisation: {record.harmonisation} "
        f"({record.harmonisation_note}). External 95 % confidence intervals by bootstrap of "
        "the external patients; internal figures from the run's own validation."))
    section.blocks.extend(Text(sentence) for sentence in record.reading)
    section.blocks.append(Table(f"{prefix}_performance", "Internal and external performance "
                                "(estimate, 95 % CI).", side_by_side(record)))
    if record.task == ModelTask.RFS:
        section.blocks.extend(_rfs_blocks(record, predictions, folder, prefix, dpi))
    else:
        section.blocks.extend(_hpv_blocks(record, predictions, folder, dpi, seed))
    section.blocks.extend(_shift_blocks(record, folder, prefix, dpi))
    section.blocks.append(Table(f"{prefix}_table1", "Table 1 of the development and external "
                                "cohorts (tests between the cohorts).",
                                read_table(folder / CASE_MIX_FILE)))
    section.blocks.append(Table(f"{prefix}_tripod_ai", "TRIPOD+AI topics this section "
                                "documents.", pd.DataFrame(TRIPOD_AI_TOPICS,
                                                           columns=["Topic", "Where"])))
    return section


def side_by_side(record: ExternalRecord) -> pd.DataFrame:
    """Metric, internal estimate (CI) and external estimate (CI)."""
    rows = []
    for internal_key, external_key, label in SIDE_BY_SIDE[record.task]:
        internal = record.internal.get(internal_key) if internal_key else None
        external = record.metrics.get(external_key)
        rows.append({"Metric": label,
                     f"Internal ({record.internal_cv})": internal.text() if internal else "",
                     "External": external.text() if external else ""})
    return pd.DataFrame(rows)


def _rfs_blocks(record: ExternalRecord, predictions: pd.DataFrame, folder: Path, prefix: str,
                dpi: int) -> list:
    known = predictions.dropna(subset=["relapse", "rfs_days"]).rename(columns={"risk": "score"})
    blocks: list = []
    if len(known) >= 10 and known["relapse"].sum() >= 2:
        blocks.extend(risk_group_blocks(known, dpi, cut=record.risk_cut,
                                        table_name=f"{prefix}_numbers_at_risk"))
    path = folder / CALIBRATION_FILE
    calibration = read_table(path) if path.is_file() else None
    if calibration is not None and not calibration.empty:
        blocks.append(_rfs_calibration_figure(calibration, record, dpi))
    return blocks


def _rfs_calibration_figure(calibration: pd.DataFrame, record: ExternalRecord,
                            dpi: int) -> Figure:
    days = record.horizon_days
    fig, (ax,) = figures.new_figure(4.6, 4.2)
    observed = calibration["observed"].to_numpy(float)
    ax.errorbar(calibration["predicted"], observed,
                yerr=[observed - calibration["observed_low"],
                      calibration["observed_high"] - observed], fmt="o", color="#0072B2",
                capsize=3, label="Risk group (Kaplan-Meier, 95 % CI)")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="Perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"Predicted relapse probability at {days:.0f} days")
    ax.set_ylabel(f"Observed relapse probability at {days:.0f} days")
    ax.legend(fontsize=7, loc="upper left")
    source = ("the model's survival functions" if record.survival_source == "model" else
              "a Breslow baseline fitted on the development cohort")
    return Figure(figures.to_data_uri(fig, dpi), f"External calibration at {days:.0f} days "
                  f"(predicted probabilities from {source}).", "External calibration plot")


def _hpv_blocks(record: ExternalRecord, predictions: pd.DataFrame, folder: Path, dpi: int,
                seed: int) -> list:
    known = predictions.dropna(subset=["hpv_status"])
    labels = known["hpv_status"].astype(int).to_numpy()
    if len(np.unique(labels)) < 2:
        return [Text("The external cohort has one HPV class only: no ROC curve.", style="note")]
    probability = known["probability"].to_numpy(float)
    auc = record.metrics["roc_auc"]
    blocks: list = [roc_figure(labels, probability, dpi, seed, (auc.ci_low, auc.ci_high)),
                    hpv_calibration_figure(labels, probability, dpi)]
    table = confusion_table(labels, known["predicted"].to_numpy(int), record.threshold)
    blocks.append(Table(f"external_{folder.name}_confusion", table.caption.replace(
        "on the training folds", "on the development folds (frozen)"), table.frame))
    curve = read_table(folder / DECISION_CURVE_FILE)
    fig, (ax,) = figures.new_figure(5.0, 3.8)
    for column, colour, label in (("model", "#0072B2", "Model"),
                                  ("treat_all", "#D55E00", "Treat all"),
                                  ("treat_none", "grey", "Treat none")):
        ax.plot(curve["threshold"], curve[column], color=colour, label=label)
    ax.set_ylim(min(-0.05, float(curve["model"].min())), max(0.05, float(
        curve[["model", "treat_all"]].to_numpy().max()) * 1.1))
    ax.set_xlabel("Threshold probability")
    ax.set_ylabel("Net benefit")
    ax.legend(fontsize=7)
    blocks.append(Figure(figures.to_data_uri(fig, dpi), "Decision curve of the external "
                         "cohort: net benefit of acting on the model versus treating all or "
                         "none.", "Decision curve"))
    return blocks


def _shift_blocks(record: ExternalRecord, folder: Path, prefix: str, dpi: int) -> list:
    shift = read_table(folder / SHIFT_FILE)
    shown = shift.head(SHOWN_INPUTS).rename(columns={
        "feature": "Input", "importance_rank": "Importance rank", "smd_raw": "SMD raw",
        "smd_model_input": "SMD as the model sees it",
        "smd_worst_centre": "SMD, most different external centre",
        "outside_range_share": "Share outside development range", "flag": "Flag"})
    blocks: list = [
        Table(f"{prefix}_shift", f"Cohort shift of the model's inputs, most important first "
              f"(SMD: external minus development mean over the pooled SD; flagged from "
              f"|SMD| {record.shift.smd_threshold} for the cohort or an external centre, or "
              f"a fifth of the external patients outside the development range). All "
              f"{len(shift)} inputs in the CSV.",
              shown.round(3)),
        Table(f"{prefix}_shift_all", "Cohort shift of every model input.", shift,
              display=False)]
    pca = read_table(folder / PCA_FILE)
    fig, (ax,) = figures.new_figure(5.0, 4.0)
    for cohort, colour in ((DEVELOPMENT, "#0072B2"), (EXTERNAL, "#D55E00")):
        rows = pca[COHORT_COLUMN] == cohort
        ax.scatter(pca.loc[rows, "pc1"], pca.loc[rows, "pc2"], s=10, alpha=0.6, color=colour,
                   linewidths=0, label=f"{cohort.capitalize()} (n={int(rows.sum())})")
    ax.set_xlabel("PC1 of the development cohort")
    ax.set_ylabel("PC2 of the development cohort")
    ax.legend(fontsize=7)
    blocks.append(Figure(figures.to_data_uri(fig, dpi), "Both cohorts on the development "
                         "cohort's first two principal axes (the model's inputs after its "
                         "harmonisation step, scaled by development statistics).",
                         "PCA overlay of development and external cohorts"))
    return blocks


def write_external_page(folder: str | Path, dpi: int = figures.DEFAULT_DPI) -> Path:
    """``report.html`` (and its ``tables/``) in an external validation folder: the section
    alone, for an external workspace without the other stages' files."""
    from radiomics_hnc.report.build import render_html

    folder = Path(folder)
    section = external_section(folder, dpi)
    for table in section.tables:
        write_csv(table.frame, folder / "tables" / f"{table.name}.csv")
    path = folder / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(render_html([section], folder), encoding="utf-8")
    return path
