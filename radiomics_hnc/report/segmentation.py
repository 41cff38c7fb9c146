"""Segmentation section: HECKTOR metrics overall and per centre, Dice box plots, overlays.

The headline is over the patients the segmenter was not trained on (``segment evaluate``'s
``not_trained_on``); every figure that includes training patients says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.errors import RadiomicsHNCError
from radiomics_hnc.io import read_image
from radiomics_hnc.report import figures
from radiomics_hnc.report.content import Figure, Section, Table, Text
from radiomics_hnc.report.inputs import SegmentationResults
from radiomics_hnc.segment.summary import (
    INCLUDES_TRAINING_PATIENTS,
    SegmentationScores,
    SegmentationSummary,
)
from radiomics_hnc.workspace import Workspace, patient_file

log = logging.getLogger(__name__)

CT_WINDOW_HU = (-250.0, 250.0)
PET_DISPLAY_SUV = (0.0, 10.0)
#: PET below this (SUV) is not overlaid, so the CT stays visible outside hot regions.
PET_OVERLAY_MIN_SUV = 2.0
CROP_MARGIN_MM = 40.0
_CONTOUR_COLOURS = {1: "#00C853", 2: "#00B8D4"}  # GTVp green, GTVn cyan


def segmentation_section(results: SegmentationResults, manifest: pd.DataFrame | None,
                         workspace: Workspace, dpi: int) -> Section | None:
    """Cohort metrics, Dice distributions by centre and best/median/worst overlays.

    The overlays draw the masks the summary says were evaluated (``WORKSPACE/masks`` when
    there is no summary)."""
    section = Section("segmentation", "Segmentation")
    section.blocks.append(Text(
        "Automatic GTVp/GTVn masks compared with the ground-truth contours. DSCagg is the "
        "HECKTOR 2022 aggregated Dice (2·ΣTP / Σ(|GT|+|Pred|) over all patients); mean Dice is "
        "the average of per-patient Dice; GTVn F1agg is the HECKTOR 2025 aggregated detection "
        "F1 of individual nodes (a node is detected when IoU > 0.3)."))
    metrics = results.metrics
    if "center" not in metrics.columns and manifest is not None and "patient_id" in metrics:
        metrics = metrics.merge(manifest[["patient_id", "center"]], on="patient_id", how="left")
    masks_dir = workspace.masks_dir
    if results.summary is not None:
        summary_blocks(section, results.summary)
        masks_dir = results.summary.masks_folder(workspace.root)
    dice_columns = [c for c in metrics.columns if "dice" in c.lower()]
    if dice_columns and "center" in metrics.columns:
        section.blocks.append(Table("segmentation_per_patient", "Per-patient segmentation "
                                    "metrics.", metrics, display=False))
        section.blocks.append(Figure(
            dice_boxplot(metrics, dice_columns, dpi),
            "Per-patient Dice by centre (box: quartiles, whiskers: 1.5 IQR, dots: patients).",
            "Box plots of per-patient Dice by centre"))
    if manifest is not None and dice_columns:
        rank_column = next((c for c in dice_columns if "gtvp" in c.lower()), dice_columns[0])
        overlay = overlay_figure(metrics, rank_column, manifest, masks_dir, dpi)
        if overlay is not None:
            section.blocks.append(overlay)
    return section if len(section.blocks) > 1 else None


def summary_blocks(section: Section, summary: SegmentationSummary) -> None:
    """The headline figure and the table of every scope, with what they include."""
    headline = summary.headline()
    section.blocks.append(Text(f"Headline: {headline.text()}."))
    if headline.includes_training_patients is None:
        section.blocks.append(Text(
            "The masks were evaluated without the segmenter's model folder, so it is not "
            "known which patients it was trained on: these figures may include them and "
            "then overstate its performance on new patients.", style="note"))
    caption = "Segmentation metrics overall and per centre."
    if summary.not_trained_on is not None:
        caption += (" 'Not trained on' rows cover the patients the segmenter was not trained "
                    "on (the validation patients of its training run only chose its best "
                    "epoch); the other rows cover every evaluated patient and say when "
                    "they include training patients.")
    section.blocks.append(Table("segmentation_summary", caption, summary_table(summary)))


def summary_table(summary: SegmentationSummary) -> pd.DataFrame:
    """summary.json as a table: the patients the segmenter was not trained on (cohort, then
    per centre) when known, then every evaluated patient, each row labelled when it includes
    patients the segmenter was trained on. Rows known to hold no training patient repeat an
    unseen-patient row and are left out."""
    rows = []
    if summary.not_trained_on is not None:
        rows += _scope_rows(summary.not_trained_on, summary.not_trained_on_by_center or {},
                            "Not trained on: ")
    rows += _scope_rows(summary.overall, summary.by_center, "",
                        skip_without_training=summary.not_trained_on is not None)
    return pd.DataFrame(rows)


def _scope_rows(overall: SegmentationScores, per_centre: Mapping[str, SegmentationScores],
                prefix: str, skip_without_training: bool = False) -> list[dict[str, Any]]:
    """One row for the cohort, then one per centre."""
    scopes = [("All centres", overall), *per_centre.items()]
    return [{"Scope": f"{prefix}{scope}{_training_note(values)}", **_numbers(values)}
            for scope, values in scopes
            if not (skip_without_training and values.n_trained_on == 0)]


def _training_note(values: SegmentationScores) -> str:
    trained = values.n_trained_on
    return f" ({INCLUDES_TRAINING_PATIENTS})" if trained is not None and trained > 0 else ""


def metric_label(name: str) -> str:
    """A metric column name as a heading: 'dsc_agg_gtvp' -> 'DSCagg GTVp'."""
    words = {"dsc": "DSC", "agg": "agg", "dice": "Dice", "f1agg": "F1agg", "f1": "F1",
             "gtvp": "GTVp", "gtvn": "GTVn", "hd95": "HD95", "mm": "(mm)", "ml": "(ml)"}
    text = " ".join(words.get(w.lower(), w) for w in str(name).split("_"))
    return text.replace("DSC agg", "DSCagg")


def _numbers(values: SegmentationScores) -> dict[str, float | int]:
    """The scope's figures with readable names (undefined ones left out)."""
    return {metric_label(key): value if isinstance(value, int) else round(value, 4)
            for key, value in values.model_dump().items() if value is not None}


def dice_boxplot(metrics: pd.DataFrame, dice_columns: list[str], dpi: int) -> str:
    """One panel per Dice column, one box per centre in the centre's colour."""
    centres = sorted(metrics["center"].astype(str).unique())
    colours = figures.centre_colours(centres)
    fig, axes = figures.new_figure(3.2 * len(dice_columns) + 1, 3.4, ncols=len(dice_columns))
    rng = np.random.default_rng(0)
    for ax, column in zip(axes, dice_columns, strict=True):
        data = [metrics.loc[metrics["center"].astype(str) == c, column].dropna().to_numpy(float)
                for c in centres]
        boxes = ax.boxplot(data, tick_labels=[figures.plain(c) for c in centres],
                           patch_artist=True, showfliers=False)
        for patch, centre in zip(boxes["boxes"], centres, strict=True):
            patch.set(facecolor=colours[centre], alpha=0.45)
        for position, values in enumerate(data, start=1):
            ax.scatter(position + rng.uniform(-0.15, 0.15, values.size), values, s=8,
                       color="black", alpha=0.6, linewidths=0)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"{metric_label(column)} (0–1)")
        ax.set_xlabel("Centre")
        ax.tick_params(axis="x", labelrotation=45)
    return figures.to_data_uri(fig, dpi)


@dataclass(frozen=True)
class _Slice:
    ct: np.ndarray
    pet: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray
    aspect: float


def overlay_figure(metrics: pd.DataFrame, rank_column: str, manifest: pd.DataFrame,
                   masks_dir: Path, dpi: int) -> Figure | None:
    """PET/CT slices with ground-truth (solid) and predicted (dashed) contours.

    Patients are the best, median and worst by ``rank_column``; a patient whose files cannot
    be read is skipped with a log message.
    """
    ranked = metrics.dropna(subset=[rank_column]).sort_values(rank_column, ascending=False)
    if ranked.empty:
        return None
    picks = {"best": ranked.iloc[0], "median": ranked.iloc[len(ranked) // 2],
             "worst": ranked.iloc[-1]}
    rows = manifest.set_index("patient_id")
    panels = []
    for role, row in picks.items():
        pid = str(row["patient_id"])
        try:
            panels.append((role, pid, float(row[rank_column]),
                           _load_slice(rows.loc[pid], pid, masks_dir)))
        except (KeyError, RadiomicsHNCError) as exc:
            log.warning("overlay of %s skipped: %s", pid, exc)
    if not panels:
        return None
    fig, axes = figures.new_figure(3.3 * len(panels), 3.6, ncols=len(panels))
    for ax, (role, pid, value, view) in zip(axes, panels, strict=True):
        _draw_overlay(ax, view)
        ax.set_title(f"{role}: {figures.plain(pid)}\n{metric_label(rank_column)} = {value:.2f}",
                     fontsize=9)
    return Figure(figures.to_data_uri(fig, dpi),
                  "Axial PET/CT slices through the largest ground-truth area: CT (grey, window "
                  "-250 to 250 HU), PET (colour, 2–10 SUV); ground truth solid, prediction "
                  "dashed; green GTVp, cyan GTVn.", "PET/CT overlays with contours")


def _load_slice(row: pd.Series, pid: str, masks_dir: Path) -> _Slice:
    paths = {"ct": row.get("ct_path"), "pet": row.get("pet_path"),
             "label": row.get("label_path")}
    missing = [role for role, path in paths.items() if not isinstance(path, str)]
    if missing:
        raise RadiomicsHNCError(f"no {', '.join(missing)} image", patient_id=pid)
    ct = sitk.DICOMOrient(read_image(paths["ct"], pid), "LPS")
    pet = _on_grid(read_image(paths["pet"], pid, sitk.sitkFloat32), ct, sitk.sitkLinear)
    truth = _on_grid(read_image(paths["label"], pid), ct, sitk.sitkNearestNeighbor)
    predicted = _on_grid(read_image(patient_file(masks_dir, pid, ".nii.gz"), pid), ct,
                         sitk.sitkNearestNeighbor)
    arrays = [sitk.GetArrayFromImage(image) for image in (ct, pet, truth, predicted)]
    foreground = arrays[2] > 0 if (arrays[2] > 0).any() else arrays[3] > 0
    z = int(np.argmax(foreground.sum(axis=(1, 2))))
    rows, cols = _crop(foreground[z] | (arrays[3][z] > 0), ct.GetSpacing())
    ct_s, pet_s, gt_s, pr_s = (a[z][rows, cols] for a in arrays)
    spacing = ct.GetSpacing()
    return _Slice(ct_s, pet_s, gt_s, pr_s, spacing[1] / spacing[0])


def _on_grid(image: sitk.Image, reference: sitk.Image, interpolator: int) -> sitk.Image:
    """``image`` resampled onto ``reference``'s grid (0 outside)."""
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0,
                         image.GetPixelID())


def _crop(mask: np.ndarray, spacing: tuple[float, ...]) -> tuple[slice, slice]:
    """Rows and columns of the mask's bounding box plus :data:`CROP_MARGIN_MM`."""
    if not mask.any():
        return slice(None), slice(None)
    rows, cols = np.nonzero(mask)
    margin_r, margin_c = int(CROP_MARGIN_MM / spacing[1]), int(CROP_MARGIN_MM / spacing[0])
    return (slice(max(rows.min() - margin_r, 0), rows.max() + margin_r + 1),
            slice(max(cols.min() - margin_c, 0), cols.max() + margin_c + 1))


def _draw_overlay(ax: Any, view: _Slice) -> None:
    ax.imshow(view.ct, cmap="gray", vmin=CT_WINDOW_HU[0], vmax=CT_WINDOW_HU[1],
              aspect=view.aspect)
    pet = np.ma.masked_less(view.pet, PET_OVERLAY_MIN_SUV)
    ax.imshow(pet, cmap="hot", vmin=PET_DISPLAY_SUV[0], vmax=PET_DISPLAY_SUV[1], alpha=0.5,
              aspect=view.aspect)
    for label, colour in _CONTOUR_COLOURS.items():
        for mask, style in ((view.truth, "solid"), (view.predicted, "dashed")):
            if (mask == label).any():
                ax.contour((mask == label).astype(float), levels=[0.5], colors=colour,
                           linestyles=style, linewidths=1.2)
    ax.set_axis_off()
