"""HPV section: model comparison, ROC with bootstrap band, calibration, confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score, roc_curve

from radiomics_hnc.report import figures
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

HPV_METRICS = {"roc_auc_fold_aware": "AUC (fold-aware)", "roc_auc": "ROC AUC (pooled)",
               "balanced_accuracy": "Balanced accuracy",
               "sensitivity": "Sensitivity", "specificity": "Specificity", "brier": "Brier",
               "calibration_slope": "Calibration slope"}
BOOTSTRAP_RESAMPLES = 500
CALIBRATION_BINS = 5
_FPR_GRID = np.linspace(0.0, 1.0, 101)


def hpv_section(runs: list[Run], manifest: pd.DataFrame | None, dpi: int,
                seed: int = 0) -> Section | None:
    """Every HPV run compared, then the best run's ROC, calibration and confusion matrix."""
    hpv = [r for r in runs if r.task == "hpv"]
    if not hpv:
        return None
    section = Section("hpv", "HPV status")
    section.blocks.append(Table("hpv_models", "HPV model comparison (out-of-fold; 95 % "
                                "bootstrap CI; patients with unknown HPV are not scored).",
                                comparison_table(hpv, HPV_METRICS)))
    section.blocks.append(Text(FOLD_AWARE_NOTE.format(metric="AUC")))
    note = warnings_note(hpv)
    if note is not None:
        section.blocks.append(note)
    per_centre = per_centre_table(hpv, "roc_auc", "ROC AUC")
    if not per_centre.empty:
        section.blocks.extend(per_centre_figures(per_centre, "ROC AUC", dpi))
        section.blocks.append(Table("hpv_per_centre", "ROC AUC per held-out centre with "
                                    "bootstrap 95 % CI (leave-one-centre-out runs; a centre "
                                    "with one class only has no AUC).", per_centre,
                                    display=False))
    best = best_of(hpv)
    if best is None:
        section.blocks.append(Text(NO_SCORED_RUN, style="note"))
        return section
    scores = oof_scores(best, manifest).dropna(subset=["score", "hpv_status"])
    labels = scores["hpv_status"].astype(int).to_numpy()
    if len(np.unique(labels)) == 2:
        threshold, predicted = decisions(best, scores)
        section.blocks.append(Text(
            f"Best run under the headline validation: {best.name} ({best.spec_name}, "
            f"{best.scheme}); {len(scores)} patients with known HPV status. At the threshold "
            f"{threshold:.2f} the balanced accuracy is "
            f"{balanced_accuracy_score(labels, predicted):.3f}."))
        section.blocks.append(roc_figure(labels, scores["score"].to_numpy(float), dpi, seed,
                                         best.metric("roc_auc")[1:]))
        section.blocks.append(hpv_calibration_figure(labels, scores["score"].to_numpy(float),
                                                     dpi))
        section.blocks.append(confusion_table(labels, predicted, threshold))
    importance = importance_figure(best, dpi)
    if importance is not None:
        section.blocks.append(importance)
    return section


def decisions(run: Run, scores: pd.DataFrame) -> tuple[float, np.ndarray]:
    """The classification threshold and the 0/1 predictions of the scored patients.

    The threshold is the one chosen on the training folds: the run's per-patient ``predicted``
    and ``threshold`` columns (it may differ between folds; the median is shown).
    """
    oof = run.oof.groupby("patient_id")
    predicted = scores["patient_id"].map(oof["predicted"].agg(lambda v: v.mode()[0]))
    return float(run.oof["threshold"].median()), predicted.to_numpy(int)


def bootstrap_roc_band(labels: np.ndarray, scores: np.ndarray, seed: int,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """Pointwise 95 % band of the ROC curve (TPR on :data:`_FPR_GRID`) and bootstrap AUCs."""
    rng = np.random.default_rng(seed)
    curves, aucs = [], []
    n = labels.size
    for _ in range(resamples):
        index = rng.integers(0, n, n)
        if np.unique(labels[index]).size < 2:
            continue
        fpr, tpr, _ = roc_curve(labels[index], scores[index])
        curves.append(np.interp(_FPR_GRID, fpr, tpr))
        aucs.append(roc_auc_score(labels[index], scores[index]))
    band = np.percentile(np.array(curves), [2.5, 97.5], axis=0)
    return band[0], band[1], np.array(aucs)


def roc_figure(labels: np.ndarray, scores: np.ndarray, dpi: int, seed: int,
               run_ci: tuple[float, float] = (np.nan, np.nan)) -> Figure:
    """ROC curve of the out-of-fold probabilities with a bootstrap 95 % band.

    The AUC interval in the legend is the run's own (metrics.json) when it has one, so the
    figure and the model table agree; otherwise the band's bootstrap gives it.
    """
    fpr, tpr, _ = roc_curve(labels, scores)
    auc = roc_auc_score(labels, scores)
    low, high, aucs = bootstrap_roc_band(labels, scores, seed)
    auc_low, auc_high = (run_ci if np.all(np.isfinite(run_ci))
                         else np.percentile(aucs, [2.5, 97.5]))
    fig, (ax,) = figures.new_figure(4.6, 4.4)
    ax.fill_between(_FPR_GRID, low, high, color="#0072B2", alpha=0.2,
                    label="95 % bootstrap band")
    ax.plot(fpr, tpr, color="#0072B2",
            label=f"AUC {auc:.3f} (95 % CI {auc_low:.3f}–{auc_high:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="Chance")
    ax.set_xlabel("1 − specificity (false-positive rate)")
    ax.set_ylabel("Sensitivity (true-positive rate)")
    ax.legend(fontsize=7, loc="lower right")
    return Figure(figures.to_data_uri(fig, dpi), f"ROC curve of HPV-positive status "
                  f"({BOOTSTRAP_RESAMPLES} bootstrap resamples, seeded).", "ROC curve")


def hpv_calibration_figure(labels: np.ndarray, scores: np.ndarray, dpi: int) -> Figure:
    """Observed fraction HPV-positive against mean predicted probability, by quantile bin."""
    observed, predicted = calibration_curve(labels, np.clip(scores, 0, 1),
                                            n_bins=CALIBRATION_BINS, strategy="quantile")
    fig, (ax,) = figures.new_figure(4.4, 4.2)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="Perfect calibration")
    ax.plot(predicted, observed, marker="o", color="#D55E00", label="Quantile bins")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Predicted probability of HPV-positive")
    ax.set_ylabel("Observed fraction HPV-positive")
    ax.legend(fontsize=7, loc="upper left")
    return Figure(figures.to_data_uri(fig, dpi), "Calibration of the out-of-fold HPV "
                  "probabilities.", "HPV calibration plot")


def confusion_table(labels: np.ndarray, predicted: np.ndarray, threshold: float) -> Table:
    """The 2x2 confusion matrix at the run's threshold."""
    matrix = confusion_matrix(labels, predicted, labels=[0, 1])
    frame = pd.DataFrame({"True status": ["HPV negative", "HPV positive"],
                          "Predicted negative": matrix[:, 0],
                          "Predicted positive": matrix[:, 1]})
    return Table("hpv_confusion_matrix", f"Confusion matrix at the probability threshold chosen "
                 f"on the training folds ({threshold:.2f}).", frame)
