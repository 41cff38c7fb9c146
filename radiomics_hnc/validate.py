"""Dataset validation: every patient checked, every problem a row, nothing raised.

In the spirit of nnU-Net's integrity check, but for PET/CT and returning a table of findings
instead of failing at the first problem. Each finding has a check id from :data:`CHECKS`, a
severity, the patient and file concerned, what was expected and what was found. Patients
with an ``error`` are excluded from later stages; ``warning`` and ``info`` rows are advice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.clinical import accepted_spellings
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.geometry import grid_mismatch, physical_bounds
from radiomics_hnc.io import provenance, read_image, read_provenance
from radiomics_hnc.locks import locked_stage
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.records import RecordModel, WorkspaceRecord
from radiomics_hnc.workspace import (
    IMAGE_ROLES,
    Workspace,
    manifest_records,
    unsafe_name_reason,
)

log = logging.getLogger(__name__)

ERROR, WARNING, INFO = "error", "warning", "info"
Severity = Literal["error", "warning", "info"]

#: Every check: id -> (severity, what it means).
CHECKS: dict[str, tuple[str, str]] = {
    "missing_image": (ERROR, "the CT or the PET of a patient is missing"),
    "missing_label": (WARNING, "no label map: the patient can be segmented, not used for training"),
    "unreadable_file": (ERROR, "a file is truncated or not a readable image"),
    "image_shape": (ERROR, "a CT, PET or label map is not a 3-D image with one value per voxel"),
    "non_finite_voxels": (ERROR, "a CT, PET or label map has NaN or infinite voxels"),
    "no_overlap": (ERROR, "CT, PET and label do not overlap in physical space"),
    "partial_overlap": (WARNING, "PET covers less than half of the CT field of view"),
    "label_not_on_ct_grid": (ERROR, "the label map's grid differs from the CT's"),
    "label_values": (ERROR, "label values outside {0 background, 1 GTVp, 2 GTVn}"),
    "label_empty": (WARNING, "the label map has no GTVp nor GTVn voxel"),
    "gtvn_components": (INFO, "number of GTVn components (individual nodes)"),
    "pet_not_suv": (ERROR, "PET values are not plausible SUV (Bq/ml-looking)"),
    "ct_not_hu": (ERROR, "CT values are not plausible Hounsfield units"),
    "dose_not_gy": (WARNING, "dose values are not plausible Gy: dose features will be wrong"),
    "dose_unusable": (WARNING, "dose map or planning CT not a finite 3-D scalar image: no dose "
                      "features"),
    "dose_without_planning_ct": (WARNING, "a dose map without its planning CT cannot be mapped"),
    "planning_ct_without_dose": (WARNING, "a planning CT without a dose map"),
    "missing_clinical": (WARNING, "images without a clinical row: no outcome modelling"),
    "missing_images": (ERROR, "a clinical row without images"),
    "duplicate_id": (ERROR, "the same patient id appears more than once"),
    "unsafe_id": (ERROR, "the patient id is not safe as a file name"),
    "clinical_unreadable": (WARNING, "a clinical value could not be read: treated as missing"),
    "clinical_conflict": (WARNING, "clinical tables disagree about a patient"),
    "clinical_impossible": (ERROR, "an impossible clinical value"),
    "rfs_zero": (WARNING, "an RFS time of 0 days: the RFS models treat the patient as unlabelled"),
    "outcome_column_missing": (WARNING, "no clinical table has a relapse, RFS time or HPV column"),
    "outcome_column_ignored": (WARNING, "a clinical column that looks like an outcome is ignored"),
    "clinical_column_ignored": (INFO, "a clinical column the package does not read"),
    "file_conflict": (WARNING, "two files claim the same role for a patient"),
    "unrecognised_file": (WARNING, "an image file whose name does not follow the layout"),
}

# Plausibility limits, with the reasoning in the messages that use them.
PET_MAX_SUV = 150.0  # hottest FDG uptake in H&N (brain, tumours) stays well below ~60 SUV
CT_AIR_HU = -500.0  # the 0.5th percentile of a H&N CT is air (about -1000 HU) around the neck
CT_MIN_HU, CT_MAX_HU = -2000.0, 10000.0
DOSE_MAX_GY = 120.0  # prescriptions are about 70 Gy; cGy maps reach thousands
#: The values a label map may hold: 0 background, 1 GTVp, 2 GTVn.
LABEL_VALUES = (0, 1, 2)

# Clinical columns with their allowed values (set) or range (tuple).
_CLINICAL_RULES: dict[str, set[float] | tuple[float, float]] = {
    "age": (0.0, 120.0),
    "rfs_days": (0.0, 36500.0),
    "relapse": {0.0, 1.0},
    "hpv_status": {0.0, 1.0},
    "gender": {0.0, 1.0},
    "tobacco": {0.0, 1.0},
    "alcohol": {0.0, 1.0},
    "performance_status": {0.0, 1.0, 2.0, 3.0, 4.0},
    "treatment": {0.0, 1.0, 2.0},
    "surgery": {0.0, 1.0},
}


@dataclass(frozen=True)
class Finding:
    """One validation result (a row of validation.json)."""

    patient_id: str | None
    check: str
    severity: Severity
    message: str
    file: str | None = None
    expected: str | None = None
    found: str | None = None
    center: str | None = None

    def describe(self) -> str:
        """The message with what was expected and found (the text of an extraction error)."""
        parts = [self.message]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.found:
            parts.append(f"found {self.found}")
        return "; ".join(parts)


def finding(check: str, patient_id: str | None, message: str, **fields: Any) -> Finding:
    """A :class:`Finding` whose severity comes from :data:`CHECKS`."""
    return Finding(patient_id, check, CHECKS[check][0], message, **fields)


# --- per-image checks (public: extraction runs them on the images it reads) -------------


def check_patient_images(row: dict[str, Any]) -> list[Finding]:
    """All image checks of one manifest row; never raises for bad data."""
    pid = row["patient_id"]
    found: list[Finding] = []
    images: dict[str, sitk.Image] = {}
    for role in IMAGE_ROLES:
        path = row.get(f"{role}_path")
        if not path:
            continue
        try:
            images[role] = read_image(path, pid)
        except InputDataError as exc:
            found.append(finding("unreadable_file", pid, exc.message, file=path))
    found += _presence_checks(row)
    ct = images.get("ct")
    for role, check in (("ct", check_ct), ("pet", check_pet), ("planning_ct", check_planning_ct),
                        ("dose", check_dose)):
        if role in images:
            found += check(images[role], pid, row[f"{role}_path"])
    if "label" in images:
        found += check_label(images["label"], ct, pid, row["label_path"])
        found += _gtvn_components(images["label"], pid, row["label_path"])
    for role in ("pet", "label"):
        if ct is not None and role in images:
            found += check_overlap(ct, images[role], role, pid, row[f"{role}_path"])
    return found


def _presence_checks(row: dict[str, Any]) -> list[Finding]:
    pid = row["patient_id"]
    found = []
    if not row.get("ct_path") and not row.get("pet_path"):
        return found  # a clinical row without images: reported by the cohort checks
    for role, name in (("ct", "CT"), ("pet", "PET")):
        if not row.get(f"{role}_path"):
            found.append(finding("missing_image", pid, f"no {name} image found",
                                 expected=f"{pid}__{'CT' if role == 'ct' else 'PT'}.nii.gz"))
    if not row.get("label_path"):
        found.append(finding("missing_label", pid, "no label map found",
                             expected=f"{pid}.nii.gz"))
    if row.get("dose_path") and not row.get("planning_ct_path"):
        found.append(finding("dose_without_planning_ct", pid, "dose map has no planning CT",
                             file=row["dose_path"], expected=f"{pid}__CTPlanning.nii.gz"))
    if row.get("planning_ct_path") and not row.get("dose_path"):
        found.append(finding("planning_ct_without_dose", pid, "planning CT has no dose map",
                             file=row["planning_ct_path"], expected=f"{pid}__RTDOSE.nii.gz"))
    return found


def is_3d_scalar(image: sitk.Image) -> bool:
    """True for a 3-D image with one value per voxel (what every stage works on)."""
    return image.GetDimension() == 3 and image.GetNumberOfComponentsPerPixel() == 1


def _form_checks(image: sitk.Image, name: str, pid: str, path: str,
                 check: str | None = None) -> list[Finding]:
    """A 3-D scalar image with finite voxels, or the finding that says why not.

    ``check`` replaces the ids ``image_shape`` / ``non_finite_voxels`` (for the dose side,
    whose problems cost the dose features only).
    """
    if not is_3d_scalar(image):
        components = image.GetNumberOfComponentsPerPixel()
        return [finding(
            check or "image_shape", pid, f"the {name} is not a 3-D image with one value per "
            "voxel; export the volume as a single 3-D scalar image (one NIfTI per modality)",
            file=path, expected="3-D image, 1 value per voxel",
            found=f"{image.GetDimension()}-D image of size {image.GetSize()}, {components} "
            f"value{'s' if components > 1 else ''} per voxel ({image.GetPixelIDTypeAsString()})",
        )]
    values = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(values.dtype, np.floating):
        return []
    nan = int(np.isnan(values).sum())
    infinite = int(np.isinf(values).sum())
    if nan or infinite:
        return [finding(
            check or "non_finite_voxels", pid, f"the {name} has NaN or infinite voxels (NIfTI "
            "readers would silently read them as 0); re-export it with finite values",
            file=path, expected="finite values only",
            found=f"{nan} NaN and {infinite} infinite voxels of {values.size}",
        )]
    return []


def check_ct(ct: sitk.Image, pid: str, path: str) -> list[Finding]:
    """Findings on a CT: a 3-D scalar image of finite, plausible Hounsfield units."""
    form = _form_checks(ct, "CT", pid, path)
    if form:
        return form
    values = sitk.GetArrayViewFromImage(ct)
    low = float(np.percentile(values[:: max(1, values.shape[0] // 16)], 0.5))
    vmin, vmax = float(values.min()), float(values.max())
    if low > CT_AIR_HU or vmin < CT_MIN_HU or vmax > CT_MAX_HU:
        return [finding(
            "ct_not_hu", pid,
            "CT values do not look like Hounsfield units (no air around the neck, or out of "
            "range); a stored rescale offset may be missing",
            file=path, expected=f"0.5th percentile <= {CT_AIR_HU:g} HU, range within "
            f"[{CT_MIN_HU:g}, {CT_MAX_HU:g}]",
            found=f"0.5th percentile {low:g}, range [{vmin:g}, {vmax:g}]",
        )]
    return []


def _plausible_maximum(image: sitk.Image, limit: float, unit: str, check: str, message: str,
                       pid: str, path: str) -> list[Finding]:
    """A finding when the image's maximum is not in (0, limit] ``unit``."""
    vmax = float(sitk.GetArrayViewFromImage(image).max())
    if 0 < vmax <= limit:
        return []
    return [finding(check, pid, message, file=path, expected=f"0 < max <= {limit:g} {unit}",
                    found=f"max {vmax:g}")]


def check_pet(pet: sitk.Image, pid: str, path: str) -> list[Finding]:
    """Findings on a PET: a 3-D scalar image of finite, plausible SUV."""
    return _form_checks(pet, "PET", pid, path) or _plausible_maximum(
        pet, PET_MAX_SUV, "SUV", "pet_not_suv", "PET maximum is not a plausible SUV: the image "
        "is probably in Bq/ml; convert it to body-weight SUV (activity / (injected dose / "
        "weight)) before use", pid, path)


def check_planning_ct(planning: sitk.Image, pid: str, path: str) -> list[Finding]:
    """Findings on a planning CT: usable for mapping the dose (3-D scalar, finite)."""
    return _form_checks(planning, "planning CT", pid, path, check="dose_unusable")


def check_dose(dose: sitk.Image, pid: str, path: str) -> list[Finding]:
    """Findings on a dose map: a 3-D scalar image of finite, plausible Gy."""
    return _form_checks(dose, "dose map", pid, path, check="dose_unusable") or _plausible_maximum(
        dose, DOSE_MAX_GY, "Gy", "dose_not_gy", "dose maximum is not plausible in Gy (cGy or "
        "scaled values?)", pid, path)


def check_label(label: sitk.Image, ct: sitk.Image | None, pid: str, path: str) -> list[Finding]:
    """Findings on a label map (ground truth, predicted or the user's own), on the pixel type
    it was stored with: a 3-D scalar image on the CT grid holding only 0, 1 and 2."""
    form = _form_checks(label, "label map", pid, path)
    if form:
        return form
    found = []
    if ct is not None and is_3d_scalar(ct):
        mismatch = grid_mismatch(label, ct)
        if mismatch is not None:
            found.append(finding(
                "label_not_on_ct_grid", pid,
                "the label map is not on the CT grid (HECKTOR labels live on the CT grid); "
                "resample it nearest-neighbour onto the CT",
                file=path, expected=f"the CT's {mismatch.expected}", found=mismatch.found,
            ))
    values = label_values(label)
    unexpected = values[~np.isin(values, LABEL_VALUES)]
    if unexpected.size:
        found.append(finding(
            "label_values", pid, "label map has values other than 0 (background), 1 (GTVp) and "
            f"2 (GTVn); {_label_values_hint(values)}", file=path, expected="{0, 1, 2}",
            found=f"values {_values_text(values)} ({label.GetPixelIDTypeAsString()})",
        ))
    elif not np.isin(values, (1, 2)).any():
        found.append(finding("label_empty", pid, "label map has no GTVp nor GTVn voxel",
                             file=path))
    return found


def label_values(label: sitk.Image) -> np.ndarray:
    """The distinct voxel values of a label map, on its stored pixel type (sorted)."""
    values = sitk.GetArrayViewFromImage(label)
    if values.size and values.min() >= 0 and values.max() <= 2:
        # The usual case, ~10x faster than np.unique's sort of a full-size map.
        counts = [np.count_nonzero(values == v) for v in LABEL_VALUES]
        if sum(counts) == values.size:
            return np.array([v for v, n in zip(LABEL_VALUES, counts, strict=True) if n],
                            values.dtype)
    return np.unique(values)


def _values_text(values: np.ndarray, shown: int = 10) -> str:
    text = ", ".join(f"{v:g}" for v in values[:shown].tolist())
    return f"[{text}{', ...' if values.size > shown else ''}] ({values.size} distinct)"


def _label_values_hint(values: np.ndarray) -> str:
    """What the unexpected values suggest the file is, and how to turn it into a label map."""
    if not np.all(np.mod(values, 1) == 0):
        return ("fractions look like a probability map: threshold it (e.g. >= 0.5) into 1 "
                "(GTVp) / 2 (GTVn) and save it with an integer pixel type")
    if set(values.tolist()) <= {0, 255}:
        return "a 0/255 binary mask: set 255 to 1 (GTVp) or 2 (GTVn)"
    return "relabel the map (tumour 1, lymph nodes 2, everything else 0)"


def _gtvn_components(label: sitk.Image, pid: str, path: str) -> list[Finding]:
    if not is_3d_scalar(label) or 2 not in label_values(label):
        return []
    nodes = sitk.ConnectedComponent(sitk.Cast(label == 2, sitk.sitkUInt8), True)
    count = int(sitk.GetArrayViewFromImage(nodes).max())
    return [finding("gtvn_components", pid, f"{count} GTVn component(s)", file=path,
                    found=str(count))]


def raise_for_errors(findings: Iterable[Finding], also: Collection[str] = ()) -> None:
    """Raise the first ``error`` finding (or one whose check is in ``also``) as an
    :class:`InputDataError` with the finding's text, patient and file."""
    for item in findings:
        if item.severity == ERROR or item.check in also:
            raise InputDataError(item.describe(), patient_id=item.patient_id, path=item.file)


def overlap_fraction(a: sitk.Image, b: sitk.Image) -> float:
    """Fraction of ``a``'s bounding box volume covered by ``b``'s bounding box."""
    (a_low, a_high), (b_low, b_high) = physical_bounds(a), physical_bounds(b)
    extent = np.clip(np.minimum(a_high, b_high) - np.maximum(a_low, b_low), 0, None)
    return float(np.prod(extent) / np.prod(a_high - a_low))


def check_overlap(ct: sitk.Image, other: sitk.Image, role: str, pid: str,
                  path: str) -> list[Finding]:
    """Findings on where ``other`` (role ``pet`` or ``label``) lies relative to the CT."""
    if not (is_3d_scalar(ct) and is_3d_scalar(other)):
        return []  # reported by the form checks
    fraction = overlap_fraction(ct, other)
    if fraction == 0:
        return [finding(
            "no_overlap", pid, f"CT and {role} do not overlap in physical space (origins or "
            "directions are wrong)", file=path, expected="overlap > 0",
            found=f"CT origin {_fmt(ct.GetOrigin())}, {role} origin {_fmt(other.GetOrigin())}",
        )]
    if role == "pet" and fraction < 0.5:
        return [finding(
            "partial_overlap", pid, "the PET covers only part of the CT field of view",
            file=path, expected=">= 50 % of the CT box", found=f"{100 * fraction:.0f} %",
        )]
    return []


def _fmt(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


# --- cohort checks (ids, clinical table; no voxels) --------------------------------------


def check_cohort(manifest: pd.DataFrame, notes: dict[str, Any]) -> list[Finding]:
    """Checks across patients: ids, clinical rows versus images, clinical values."""
    found: list[Finding] = []
    ids = manifest["patient_id"].astype(str)
    for pid in ids:
        if reason := unsafe_name_reason(pid):
            found.append(finding("unsafe_id", pid, f"the patient id {reason}, so it will never "
                                 "be used in a file name", found=repr(pid)))
    folded = ids.str.upper().str.replace("_", "-", regex=False)
    for key in folded[folded.duplicated(keep=False)].unique():
        twins = sorted(ids[folded == key])
        for pid in twins:
            found.append(finding("duplicate_id", pid, f"ids {twins} name the same patient"))
    for pid, sources in notes.get("duplicate_ids", {}).items():
        found.append(finding("duplicate_id", pid, "listed more than once in a clinical table",
                             file="; ".join(sources)))
    has_images = manifest[["ct_path", "pet_path"]].notna().any(axis=1)
    for pid in manifest.loc[has_images & ~manifest["has_clinical"], "patient_id"]:
        found.append(finding("missing_clinical", pid, "no row in the clinical tables"))
    for pid in manifest.loc[~has_images, "patient_id"]:
        found.append(finding("missing_images", pid, "a clinical row but no CT or PET image"))
    found += _clinical_table_checks(notes)
    for pid, conflicts in notes.get("file_conflicts", {}).items():
        found += [finding("file_conflict", pid, text) for text in conflicts]
    for path in notes.get("unrecognised_files", []):
        found.append(finding("unrecognised_file", None, "not named <PID>__<MODALITY>.nii.gz",
                             file=path))
    found += _clinical_value_checks(manifest)
    found += _rfs_zero_checks(manifest)
    return found


#: Check id of each kind of :class:`radiomics_hnc.clinical.ClinicalIssue`.
_ISSUE_CHECKS = {"unreadable": "clinical_unreadable", "conflict": "clinical_conflict",
                 "column_ignored": "clinical_column_ignored",
                 "outcome_column_ignored": "outcome_column_ignored"}
#: What the models do without each outcome column.
_WITHOUT_OUTCOME = {
    "relapse": "no patient has a known relapse, so the RFS models have no labelled patient "
               "and cannot be fitted",
    "rfs_days": "no patient has a known RFS time, so the RFS models have no labelled patient "
                "and cannot be fitted",
    "hpv_status": "no patient has a known HPV status, so the HPV models have no labelled "
                  "patient and cannot be fitted",
}


def _clinical_table_checks(notes: dict[str, Any]) -> list[Finding]:
    """Unreadable values, conflicts and ignored columns found by discovery, and the outcome
    columns no table has."""
    found = []
    for issue in notes.get("clinical_issues", []):
        message = issue["message"]
        if issue["patient_id"] is not None:
            message = f"{issue['column']}: {message}"
        found.append(finding(_ISSUE_CHECKS[issue.get("kind", "unreadable")], issue["patient_id"],
                             message, file=issue["source"], found=issue["found"]))
    if "clinical_columns_found" not in notes:  # a manifest written before this check existed
        return found
    for column, consequence in _WITHOUT_OUTCOME.items():
        if column not in notes["clinical_columns_found"]:
            found.append(finding(
                "outcome_column_missing", None, f"no clinical table has the {column} column: "
                f"{consequence}", expected=f"a column named {accepted_spellings(column)}",
                found="columns read: " + (", ".join(notes["clinical_columns_found"]) or "none")))
    return found


def _rfs_zero_checks(manifest: pd.DataFrame) -> list[Finding]:
    """RFS times of 0 days, which the survival models cannot use (see
    :func:`radiomics_hnc.modeling.dataset.survival_target`: a time must be positive)."""
    if "rfs_days" not in manifest:
        return []
    rfs = pd.to_numeric(manifest["rfs_days"], errors="coerce").astype(float)
    return [finding(
        "rfs_zero", pid, "RFS time is 0 days: the RFS models treat the patient as unlabelled "
        "(left out of their fitting and validation; a survival time must be positive), the "
        "HPV models still use it; if the relapse was seen at the end of radiotherapy, enter "
        "the days until it was seen (at least 1)", expected="rfs_days > 0", found="0")
        for pid in manifest.loc[rfs == 0, "patient_id"]]


def _clinical_value_checks(manifest: pd.DataFrame) -> list[Finding]:
    found = []
    for column, rule in _CLINICAL_RULES.items():
        if column not in manifest:
            continue
        values = pd.to_numeric(manifest[column], errors="coerce").astype(float)
        if isinstance(rule, tuple):
            bad = values.notna() & ((values < rule[0]) | (values > rule[1]))
            expected = f"{rule[0]:g} to {rule[1]:g}"
        else:
            bad = values.notna() & ~values.isin(rule)
            expected = " or ".join(f"{v:g}" for v in sorted(rule)) + " (or missing)"
        for pid, value in zip(manifest.loc[bad, "patient_id"], values[bad], strict=True):
            found.append(finding("clinical_impossible", pid, f"impossible {column}",
                                 expected=expected, found=f"{value:g}"))
    return found


# --- orchestration ----------------------------------------------------------------------


@dataclass
class ValidationReport:
    """All findings of a validation run and the patients they exclude."""

    findings: list[Finding]
    n_patients: int

    @property
    def table(self) -> pd.DataFrame:
        """Findings as a DataFrame (one row per finding)."""
        columns = list(Finding.__dataclass_fields__)
        return pd.DataFrame([asdict(f) for f in self.findings], columns=columns)

    @property
    def excluded(self) -> list[str]:
        """Patients with at least one error (sorted)."""
        return sorted({f.patient_id for f in self.findings
                       if f.severity == ERROR and f.patient_id is not None})

    def summary(self) -> dict[str, Any]:
        """Counts per severity and per check."""
        return {
            "patients": self.n_patients,
            "excluded": len(self.excluded),
            "by_severity": dict(Counter(f.severity for f in self.findings)),
            "by_check": dict(Counter(f.check for f in self.findings)),
        }

    def record(self) -> ValidationRecord:
        """What ``validation.json`` holds."""
        return ValidationRecord(
            provenance=provenance(), summary=ValidationSummary(**self.summary()),
            checks={name: CheckMeaning(severity=s, meaning=m) for name, (s, m) in CHECKS.items()},
            excluded=self.excluded, findings=self.findings)


class ValidationSummary(RecordModel):
    """Patients checked and excluded, findings counted by severity and by check."""

    patients: int
    excluded: int
    by_severity: dict[str, int]
    by_check: dict[str, int]


class CheckMeaning(RecordModel):
    """A check's severity and what it means (:data:`CHECKS`)."""

    severity: Severity
    meaning: str


class ValidationRecord(WorkspaceRecord):
    """``validation.json``: every finding, and the patients later stages leave out."""

    DESCRIPTION = "validation findings file (validation.json)"

    provenance: dict[str, Any]
    summary: ValidationSummary
    checks: dict[str, CheckMeaning]
    excluded: list[str]  # sorted ids of patients with at least one error
    findings: list[Finding]

    @classmethod
    def rewrite_hint(cls, path: Path, raw: Any) -> str:
        return f"rerun 'radiomics-hnc validate {path.parent}'"


def validate_manifest(
    manifest: pd.DataFrame,
    notes: dict[str, Any] | None = None,
    *,
    jobs: int = 1,
    progress: bool = False,
) -> ValidationReport:
    """Run every check on a manifest (as returned by :func:`radiomics_hnc.discover.discover`).

    Parameters
    ----------
    manifest
        One row per patient with the image paths.
    notes
        Discovery's own findings; defaults to ``manifest.attrs["discovery"]``.
    jobs
        Worker processes for the image checks.
    """
    notes = notes if notes is not None else manifest.attrs.get("discovery", {})
    findings = check_cohort(manifest, notes)
    columns = ["patient_id"] + [f"{role}_path" for role in IMAGE_ROLES]
    tasks = [(str(r["patient_id"]), r) for r in manifest_records(manifest, columns)]
    for pid, result in map_patients(check_patient_images, tasks, jobs=jobs,
                                    description="validating", progress=progress):
        if isinstance(result, PatientFailure):
            found = finding("unreadable_file", pid, result.message)
            findings.append(found)
        else:
            findings.extend(result)
    centers = dict(zip(manifest["patient_id"], manifest["center"], strict=True))
    findings = [
        Finding(**{**asdict(f), "center": centers.get(f.patient_id)}) for f in findings
    ]
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    findings.sort(key=lambda f: (order[f.severity], f.check, f.patient_id or ""))
    return ValidationReport(findings, len(manifest))


@locked_stage("validate")
def validate_workspace(
    workspace: str | Path, *, jobs: int = 1, progress: bool = False
) -> ValidationReport:
    """Validate the manifest of a workspace and write ``validation.json`` beside it."""
    ws = Workspace(workspace)
    manifest = ws.load_manifest()
    notes = read_provenance(ws.manifest_path).get("discovery", {})
    report = validate_manifest(manifest, notes, jobs=jobs, progress=progress)
    report.record().write(ws.validation_path)
    log.info("validation: %s", report.summary())
    return report
