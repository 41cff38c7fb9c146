"""Dataset validation: every patient checked, every problem a row, nothing raised.

In the spirit of nnU-Net's integrity check, but for PET/CT and returning a table of findings
instead of failing at the first problem. Each finding has a check id from :data:`CHECKS`, a
severity, the patient and file concerned, what was expected and what was found. Patients
with an ``error`` are excluded from later stages; ``warning`` and ``info`` rows are advice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import (
    check_gzip_stream,
    provenance,
    read_image,
    read_provenance,
    write_json,
)
from radiomics_hnc.locks import locked_stage
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.workspace import (
    IMAGE_ROLES,
    Workspace,
    is_safe_patient_id,
    manifest_records,
)

log = logging.getLogger(__name__)

ERROR, WARNING, INFO = "error", "warning", "info"

#: Every check: id -> (severity, what it means).
CHECKS: dict[str, tuple[str, str]] = {
    "missing_image": (ERROR, "the CT or the PET of a patient is missing"),
    "missing_label": (WARNING, "no label map: the patient can be segmented, not used for training"),
    "unreadable_file": (ERROR, "a file is truncated or not a readable image"),
    "no_overlap": (ERROR, "CT, PET and label do not overlap in physical space"),
    "partial_overlap": (WARNING, "PET covers less than half of the CT field of view"),
    "label_not_on_ct_grid": (ERROR, "the label map's grid differs from the CT's"),
    "label_values": (ERROR, "label values outside {0 background, 1 GTVp, 2 GTVn}"),
    "label_empty": (WARNING, "the label map has no GTVp nor GTVn voxel"),
    "gtvn_components": (INFO, "number of GTVn components (individual nodes)"),
    "pet_not_suv": (ERROR, "PET values are not plausible SUV (Bq/ml-looking)"),
    "ct_not_hu": (ERROR, "CT values are not plausible Hounsfield units"),
    "dose_not_gy": (WARNING, "dose values are not plausible Gy: dose features will be wrong"),
    "dose_without_planning_ct": (WARNING, "a dose map without its planning CT cannot be mapped"),
    "planning_ct_without_dose": (WARNING, "a planning CT without a dose map"),
    "missing_clinical": (WARNING, "images without a clinical row: no outcome modelling"),
    "missing_images": (ERROR, "a clinical row without images"),
    "duplicate_id": (ERROR, "the same patient id appears more than once"),
    "unsafe_id": (ERROR, "the patient id is not safe as a file name"),
    "clinical_unreadable": (WARNING, "a clinical value could not be read: treated as missing"),
    "clinical_conflict": (WARNING, "clinical tables disagree about a patient"),
    "clinical_impossible": (ERROR, "an impossible clinical value"),
    "file_conflict": (WARNING, "two files claim the same role for a patient"),
    "unrecognised_file": (WARNING, "an image file whose name does not follow the layout"),
}

# Plausibility limits, with the reasoning in the messages that use them.
PET_MAX_SUV = 150.0  # hottest FDG uptake in H&N (brain, tumours) stays well below ~60 SUV
CT_AIR_HU = -500.0  # the 0.5th percentile of a H&N CT is air (about -1000 HU) around the neck
CT_MIN_HU, CT_MAX_HU = -2000.0, 10000.0
DOSE_MAX_GY = 120.0  # prescriptions are about 70 Gy; cGy maps reach thousands
GEOMETRY_TOLERANCE = 1e-3  # relative, for spacing/origin (in voxels)/direction comparisons

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
    severity: str
    message: str
    file: str | None = None
    expected: str | None = None
    found: str | None = None
    center: str | None = None


def finding(check: str, patient_id: str | None, message: str, **fields: Any) -> Finding:
    """A :class:`Finding` whose severity comes from :data:`CHECKS`."""
    return Finding(patient_id, check, CHECKS[check][0], message, **fields)


# --- per-patient image checks (read voxels; run in parallel) -----------------------------


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
            check_gzip_stream(path, pid)
            images[role] = read_image(path, pid)
        except InputDataError as exc:
            found.append(finding("unreadable_file", pid, exc.message, file=path))
    found += _presence_checks(row)
    if "ct" in images:
        found += _ct_checks(images["ct"], pid, row["ct_path"])
    if "pet" in images:
        found += _pet_checks(images["pet"], pid, row["pet_path"])
    if "dose" in images:
        found += _dose_checks(images["dose"], pid, row["dose_path"])
    if "label" in images:
        found += _label_checks(images["label"], images.get("ct"), pid, row["label_path"])
    found += _overlap_checks(images, row)
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


def _ct_checks(ct: sitk.Image, pid: str, path: str) -> list[Finding]:
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


def _pet_checks(pet: sitk.Image, pid: str, path: str) -> list[Finding]:
    vmax = float(sitk.GetArrayViewFromImage(pet).max())
    if not np.isfinite(vmax) or vmax > PET_MAX_SUV or vmax <= 0:
        return [finding(
            "pet_not_suv", pid,
            "PET maximum is not a plausible SUV: the image is probably in Bq/ml; convert it "
            "to body-weight SUV (activity / (injected dose / weight)) before use",
            file=path, expected=f"0 < max <= {PET_MAX_SUV:g} SUV", found=f"max {vmax:g}",
        )]
    return []


def _dose_checks(dose: sitk.Image, pid: str, path: str) -> list[Finding]:
    vmax = float(sitk.GetArrayViewFromImage(dose).max())
    if not np.isfinite(vmax) or vmax > DOSE_MAX_GY or vmax <= 0:
        return [finding(
            "dose_not_gy", pid, "dose maximum is not plausible in Gy (cGy or scaled values?)",
            file=path, expected=f"0 < max <= {DOSE_MAX_GY:g} Gy", found=f"max {vmax:g}",
        )]
    return []


def same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    """True when two images share size, spacing, origin and direction (within tolerance)."""
    if a.GetSize() != b.GetSize():
        return False
    spacing_a, spacing_b = np.array(a.GetSpacing()), np.array(b.GetSpacing())
    if not np.allclose(spacing_a, spacing_b, rtol=GEOMETRY_TOLERANCE):
        return False
    origin_shift = np.abs(np.array(a.GetOrigin()) - np.array(b.GetOrigin())) / spacing_a
    if np.any(origin_shift > GEOMETRY_TOLERANCE * 100):  # a tenth of a voxel
        return False
    return np.allclose(a.GetDirection(), b.GetDirection(), atol=GEOMETRY_TOLERANCE)


def _label_checks(
    label: sitk.Image, ct: sitk.Image | None, pid: str, path: str
) -> list[Finding]:
    found = []
    if ct is not None and not same_grid(label, ct):
        found.append(finding(
            "label_not_on_ct_grid", pid,
            "the label map is not on the CT grid (HECKTOR labels live on the CT grid); "
            "resample it nearest-neighbour onto the CT",
            file=path, expected=f"size {ct.GetSize()}, spacing {_fmt(ct.GetSpacing())}",
            found=f"size {label.GetSize()}, spacing {_fmt(label.GetSpacing())}",
        ))
    values = sitk.GetArrayViewFromImage(label)
    unique = np.unique(values)
    unexpected = [v for v in unique.tolist() if v not in (0, 1, 2)]
    if unexpected:
        found.append(finding(
            "label_values", pid, "label map has values other than 0, 1 (GTVp) and 2 (GTVn)",
            file=path, expected="{0, 1, 2}", found=str(sorted(unique.tolist())[:10]),
        ))
    if not np.isin(unique, (1, 2)).any():
        found.append(finding("label_empty", pid, "label map has no GTVp nor GTVn voxel",
                             file=path))
    if 2 in unique:
        nodes = sitk.ConnectedComponent(sitk.Cast(label == 2, sitk.sitkUInt8), True)
        count = int(sitk.GetArrayViewFromImage(nodes).max())
        found.append(finding("gtvn_components", pid, f"{count} GTVn component(s)",
                             file=path, found=str(count)))
    return found


def physical_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned physical bounding box (mm) of an image's voxel extent."""
    size = np.array(image.GetSize())
    corners = [
        image.TransformContinuousIndexToPhysicalPoint([(c - 0.5) for c in corner])
        for corner in np.array(np.meshgrid(*[[0, s] for s in size], indexing="ij")).reshape(3, -1).T
    ]
    points = np.array(corners)
    return points.min(axis=0), points.max(axis=0)


def overlap_fraction(a: sitk.Image, b: sitk.Image) -> float:
    """Fraction of ``a``'s bounding box volume covered by ``b``'s bounding box."""
    (a_low, a_high), (b_low, b_high) = physical_bounds(a), physical_bounds(b)
    extent = np.clip(np.minimum(a_high, b_high) - np.maximum(a_low, b_low), 0, None)
    return float(np.prod(extent) / np.prod(a_high - a_low))


def _overlap_checks(images: dict[str, sitk.Image], row: dict[str, Any]) -> list[Finding]:
    pid = row["patient_id"]
    ct = images.get("ct")
    if ct is None:
        return []
    found = []
    for role in ("pet", "label"):
        other = images.get(role)
        if other is None or ct.GetDimension() != 3 or other.GetDimension() != 3:
            continue
        fraction = overlap_fraction(ct, other)
        if fraction == 0:
            found.append(finding(
                "no_overlap", pid, f"CT and {role} do not overlap in physical space (origins or "
                "directions are wrong)", file=row[f"{role}_path"], expected="overlap > 0",
                found=f"CT origin {_fmt(ct.GetOrigin())}, {role} origin {_fmt(other.GetOrigin())}",
            ))
        elif role == "pet" and fraction < 0.5:
            found.append(finding(
                "partial_overlap", pid, "the PET covers only part of the CT field of view",
                file=row["pet_path"], expected=">= 50 % of the CT box",
                found=f"{100 * fraction:.0f} %",
            ))
    return found


def _fmt(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


# --- cohort checks (ids, clinical table; no voxels) --------------------------------------


def check_cohort(manifest: pd.DataFrame, notes: dict[str, Any]) -> list[Finding]:
    """Checks across patients: ids, clinical rows versus images, clinical values."""
    found: list[Finding] = []
    ids = manifest["patient_id"].astype(str)
    for pid in ids:
        if not is_safe_patient_id(pid):
            found.append(finding("unsafe_id", pid, "patient id contains path separators, '..' "
                                 "or control characters and will never be used in a file name",
                                 found=repr(pid)))
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
    for issue in notes.get("clinical_issues", []):
        check = "clinical_conflict" if "disagree" in issue["message"] else "clinical_unreadable"
        found.append(finding(check, issue["patient_id"], f"{issue['column']}: {issue['message']}",
                             file=issue["source"], found=issue["found"]))
    for pid, conflicts in notes.get("file_conflicts", {}).items():
        found += [finding("file_conflict", pid, text) for text in conflicts]
    for path in notes.get("unrecognised_files", []):
        found.append(finding("unrecognised_file", None, "not named <PID>__<MODALITY>.nii.gz",
                             file=path))
    found += _clinical_value_checks(manifest)
    return found


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

    def to_json(self) -> dict[str, Any]:
        return {
            "provenance": provenance(),
            "summary": self.summary(),
            "checks": {name: {"severity": s, "meaning": m} for name, (s, m) in CHECKS.items()},
            "excluded": self.excluded,
            "findings": [asdict(f) for f in self.findings],
        }


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
    write_json(report.to_json(), ws.validation_path)
    log.info("validation: %s", report.summary())
    return report
