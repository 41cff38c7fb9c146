"""Cohort extraction: per-patient work in parallel, cached atomically, gathered into tables.

Each patient's images are read once; every lesion is extracted on its own neighbourhood (see
:mod:`radiomics_hnc.features.pyradiomics_engine`). A worker writes the patient's lesion rows to
``features/cache/<PID>.parquet`` (atomically) as soon as it finishes, with a fingerprint of its
inputs (path, size and modification time of every image) and settings (feature config hash,
minimum lesion size, software versions). A rerun skips patients whose fingerprint is unchanged,
so an interrupted run (even ``kill -9``) loses only the patients in flight. Failed patients are
not cached: they are retried by the next run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.errors import InputDataError, RadiomicsHNCError
from radiomics_hnc.features.configs import FeatureConfigs, load_feature_configs
from radiomics_hnc.features.dose import DoseMapping, map_dose
from radiomics_hnc.features.lesion_features import ModalityExtractors, extract_lesion
from radiomics_hnc.features.lesions import (
    MAX_NODE_COMPONENTS,
    MIN_LESION_VOLUME_ML,
    NODAL_LABEL,
    find_lesions,
)
from radiomics_hnc.features.tables import errors_table, order_lesion_columns, patients_table
from radiomics_hnc.io import provenance, read_image, read_provenance, text_sha256, write_parquet
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.validate import (
    check_ct,
    check_dose,
    check_label,
    check_overlap,
    check_pet,
    check_planning_ct,
    raise_for_errors,
)
from radiomics_hnc.workspace import Workspace, manifest_records, patient_file

logger = logging.getLogger(__name__)

MASK_SOURCES = ("ground-truth", "predicted")
_STATUS_DTYPES = {"label": "int64", "too_small": "bool", "dose_available": "bool",
                  "dose_registration_metric": "float64",
                  "dose_registration_correlation": "float64",
                  "dose_registration_failed": "boolean"}
_IMAGE_ROLES = ("ct_path", "pet_path", "mask_path", "planning_ct_path", "dose_path")


@dataclass(frozen=True)
class PatientTask:
    """What one worker needs for one patient: paths (None where absent) and settings."""

    patient_id: str
    center: str
    ct_path: str
    pet_path: str
    mask_path: str
    planning_ct_path: str | None
    dose_path: str | None
    cache_path: str
    configs: FeatureConfigs
    min_lesion_ml: float = MIN_LESION_VOLUME_ML
    seed: int = 0

    def fingerprint(self) -> str:
        """Identity of the inputs and settings: equal fingerprints give equal features."""
        files = {}
        for role in _IMAGE_ROLES:
            path = getattr(self, role)
            if path is not None and Path(path).is_file():
                stat = Path(path).stat()
                files[role] = [str(path), stat.st_size, stat.st_mtime_ns]
            else:
                files[role] = path
        record = provenance(config_hash=self.configs.content_hash)
        record.pop("created_utc")
        payload = {"files": files, "provenance": record, "min_lesion_ml": self.min_lesion_ml,
                   "seed": self.seed}
        return text_sha256(json.dumps(payload, sort_keys=True))


@dataclass
class ExtractionResult:
    """Tables of a cohort run and what happened to each patient."""

    lesions: pd.DataFrame
    patients: pd.DataFrame
    errors: pd.DataFrame
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)


def _read_dose(task: PatientTask, ct: sitk.Image, errors: list[dict]) -> DoseMapping | None:
    """The mapped dose, or None without one; a bad dose map is an error row, not a failure."""
    if not task.dose_path or not task.planning_ct_path:
        return None
    try:
        planning = read_image(task.planning_ct_path, task.patient_id)
        raise_for_errors(check_planning_ct(planning, task.patient_id, task.planning_ct_path),
                         also=("dose_unusable",))
        dose = read_image(task.dose_path, task.patient_id)
        raise_for_errors(check_dose(dose, task.patient_id, task.dose_path),
                         also=("dose_unusable",))
        return map_dose(ct, planning, dose, seed=task.seed)
    except (RadiomicsHNCError, RuntimeError) as exc:  # SimpleITK raises RuntimeError
        errors.append({"patient_id": task.patient_id, "lesion_id": None,
                       "stage": "extract:RTDOSE", "error_type": type(exc).__name__,
                       "message": str(exc)})
        return None


def _read_checked_images(task: PatientTask) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """CT, label map (UInt8, on the CT grid) and PET, each refused (:class:`InputDataError`
    with the validation finding's text) when a validation check finds an error in it, so a
    workspace never validated gets the same protection as one that was."""
    pid = task.patient_id
    ct = read_image(task.ct_path, pid)
    raise_for_errors(check_ct(ct, pid, task.ct_path))
    # The label is checked on its stored pixel type: read as UInt8, 257 would become 1.
    labels = read_image(task.mask_path, pid)
    raise_for_errors(check_label(labels, ct, pid, task.mask_path))
    labels = sitk.Cast(labels, sitk.sitkUInt8)
    labels.CopyInformation(ct)  # on the CT grid within tolerance: header rounding only
    pet = read_image(task.pet_path, pid)
    raise_for_errors(check_pet(pet, pid, task.pet_path))
    raise_for_errors(check_overlap(ct, pet, "pet", pid, task.pet_path))
    return ct, labels, pet


def extract_patient(task: PatientTask) -> tuple[pd.DataFrame, list[dict], dict]:
    """Every lesion of one patient: (lesion rows, lesion-level errors, dose registration info).

    Raises :class:`InputDataError` for an unreadable CT, PET or label map, one that fails a
    validation check with an error (not 3-D, NaN voxels, label values, label off the CT grid,
    PET not SUV, ...), or a mask with more node components than :data:`MAX_NODE_COMPONENTS`.
    A dose map that cannot be used leaves the dose columns empty, with an error row; so does
    a label map without any lesion (a valid case: no visible tumour), with a ``NoLesion`` row.
    """
    ct, labels, pet = _read_checked_images(task)
    errors: list[dict] = []
    dose = _read_dose(task, ct, errors)
    registration = {
        "dose_available": dose is not None,
        "dose_registration_metric": float("nan") if dose is None else dose.metric,
        "dose_registration_correlation": float("nan") if dose is None else dose.correlation,
        "dose_registration_failed": pd.NA if dose is None else dose.failed,
    }
    lesions = find_lesions(labels, task.min_lesion_ml)
    if not lesions:
        errors.append({"patient_id": task.patient_id, "lesion_id": None,
                       "stage": "extract:lesions", "error_type": "NoLesion",
                       "message": f"file {task.mask_path}: the label map has no GTVp (1) nor "
                       "GTVn (2) voxel, so the patient has no lesion features (its patients "
                       "row has lesion counts 0)"})
    nodes = sum(lesion.label == NODAL_LABEL for lesion in lesions)
    if nodes > MAX_NODE_COMPONENTS:
        raise InputDataError(
            f"the mask has {nodes} GTVn components (at most {MAX_NODE_COMPONENTS} expected): "
            "it looks like a failed segmentation", patient_id=task.patient_id,
            path=task.mask_path, hint="check or retrain the segmenter, or fix the label map",
        )
    extractors = ModalityExtractors.from_configs(task.configs)
    rows = []
    for lesion in lesions:
        result = extract_lesion(lesion, ct, pet, extractors, dose)
        rows.append({"patient_id": task.patient_id, "center": task.center, **result.row,
                     **registration})
        errors.extend({"patient_id": task.patient_id, **e} for e in result.errors)
    frame = order_lesion_columns(pd.DataFrame(rows)) if rows else pd.DataFrame(
        {"patient_id": pd.Series(dtype="string")})
    return frame, errors, registration


def run_patient(task: PatientTask) -> dict:
    """Worker entry point: extract one patient and write its cache file atomically."""
    fingerprint = task.fingerprint()  # of the inputs as they were when extraction started
    frame, errors, registration = extract_patient(task)
    record = provenance(config_hash=task.configs.content_hash, fingerprint=fingerprint,
                        errors=errors, registration=registration)
    write_parquet(frame, task.cache_path, record)
    return {"lesions": len(frame), "errors": len(errors)}


def _cached_fingerprint(path: Path) -> str | None:
    try:
        return read_provenance(path).get("fingerprint") if path.is_file() else None
    except Exception:  # an unreadable cache file is recomputed
        return None


def _mask_path(workspace: Workspace, record: dict, masks: str | Path) -> str | None:
    if str(masks) == "ground-truth":
        return record.get("label_path")
    folder = workspace.masks_dir if str(masks) == "predicted" else Path(masks)
    return str(patient_file(folder, record["patient_id"], ".nii.gz"))


def build_tasks(
    workspace: Workspace, configs: FeatureConfigs, masks: str | Path = "ground-truth",
    min_lesion_ml: float = MIN_LESION_VOLUME_ML, seed: int = 0, out_dir: Path | None = None,
) -> tuple[list[PatientTask], list[dict]]:
    """One task per eligible patient, and error rows for patients that cannot even start."""
    cache_dir = (out_dir or workspace.features_dir) / "cache"
    tasks, errors = [], []
    for record in manifest_records(workspace.eligible_manifest()):
        pid = record["patient_id"]
        mask_path = _mask_path(workspace, record, masks)
        missing = [role for role, path in (("CT", record.get("ct_path")),
                                           ("PET", record.get("pet_path")),
                                           ("mask", mask_path)) if not path]
        if missing:
            errors.append({"patient_id": pid, "lesion_id": None, "stage": "extract",
                           "error_type": "InputDataError",
                           "message": f"no {' or '.join(missing)} image for this patient"})
            continue
        tasks.append(PatientTask(
            patient_id=pid, center=record.get("center") or pid.split("-")[0],
            ct_path=record["ct_path"], pet_path=record["pet_path"], mask_path=mask_path,
            planning_ct_path=record.get("planning_ct_path"), dose_path=record.get("dose_path"),
            cache_path=str(patient_file(cache_dir, pid, ".parquet")), configs=configs,
            min_lesion_ml=min_lesion_ml, seed=seed))
    return tasks, errors


def extract_features(
    workspace: str | Path,
    masks: str | Path = "ground-truth",
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    configs: FeatureConfigs | None = None,
    min_lesion_ml: float = MIN_LESION_VOLUME_ML,
    progress: bool = False,
    force: bool = False,
    out_dir: str | Path | None = None,
) -> ExtractionResult:
    """Extract features for every eligible patient and write the three feature tables.

    Parameters
    ----------
    workspace
        Workspace folder with manifest.parquet.
    masks
        ``"ground-truth"`` (the dataset's label maps), ``"predicted"`` (WORKSPACE/masks) or a
        folder of ``<PID>.nii.gz`` label maps on the CT grid.
    jobs, backend, scheduler
        Parallelism, see :func:`radiomics_hnc.parallel.map_patients`.
    configs
        PyRadiomics settings; default :func:`load_feature_configs` with packaged files.
    min_lesion_ml
        Lesions below this volume (ml) keep shape and volume only, flagged ``too_small``.
    force
        Recompute every patient even when its cache is up to date.
    out_dir
        Folder of the tables and cache (default ``WORKSPACE/features``); the pipeline writes
        features from predicted masks to ``WORKSPACE/features_predicted`` beside them.
    """
    ws = Workspace(workspace)
    configs = configs or load_feature_configs()
    if str(masks) not in MASK_SOURCES and not Path(masks).is_dir():
        raise RadiomicsHNCError(f"mask source {masks!r} is neither {MASK_SOURCES} nor a folder",
                                hint="pass ground-truth, predicted or a folder of label maps")
    out = Path(out_dir) if out_dir is not None else ws.features_dir
    tasks, errors = build_tasks(ws, configs, masks, min_lesion_ml, out_dir=out)
    todo = [t for t in tasks
            if force or _cached_fingerprint(Path(t.cache_path)) != t.fingerprint()]
    result = ExtractionResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    result.skipped = sorted({t.patient_id for t in tasks} - {t.patient_id for t in todo})
    for pid, outcome in map_patients(run_patient, [(t.patient_id, t) for t in todo], jobs=jobs,
                                     backend=backend, scheduler=scheduler,
                                     description="extract", progress=progress):
        if isinstance(outcome, PatientFailure):
            result.failed.append(pid)
            if not outcome.expected:
                logger.error("patient %s: unexpected failure\n%s", pid, outcome.traceback)
            errors.append({"patient_id": pid, "lesion_id": None, "stage": "extract",
                           "error_type": outcome.error_type, "message": outcome.message})
        else:
            result.computed.append(pid)
    _gather(ws, out, tasks, set(result.failed), errors, configs, result)
    return result


def _gather(ws: Workspace, out: Path, tasks: list[PatientTask], failed: set[str],
            errors: list[dict], configs: FeatureConfigs, result: ExtractionResult) -> None:
    frames, done = [], []
    for task in tasks:
        if task.patient_id in failed:
            continue
        frames.append(pd.read_parquet(task.cache_path))
        errors.extend(read_provenance(task.cache_path).get("errors", []))
        done.append(task.patient_id)
    frames = [f for f in frames if len(f)]
    lesions = order_lesion_columns(pd.concat(frames, ignore_index=True)) if frames else \
        pd.DataFrame(columns=["patient_id", "center", "lesion_id", "label"])
    lesions = lesions.sort_values(["patient_id", "label", "lesion_id"],
                                  key=_lesion_sort_key).reset_index(drop=True)
    lesions = lesions.astype({c: t for c, t in _STATUS_DTYPES.items() if c in lesions})
    record = provenance(config_hash=configs.content_hash, config_sources=configs.sources)
    tables = {"lesions": lesions, "patients": patients_table(lesions, ws.eligible_manifest(), done),
              "errors": errors_table(errors)}
    for name, table in tables.items():
        result.paths[name] = write_parquet(table, out / f"{name}.parquet", record)
    # The returned tables are the files as written, so Python and disk users see the same.
    result.lesions, result.patients, result.errors = (
        pd.read_parquet(result.paths[name]) for name in ("lesions", "patients", "errors"))


def _lesion_sort_key(column: pd.Series) -> pd.Series:
    if column.name == "lesion_id":  # GTVn_10 after GTVn_9
        return column.str.extract(r"(\d+)$")[0].astype(float).fillna(0)
    return column

