"""Cohort extraction: per-patient work in parallel, cached atomically, gathered into tables.

Each patient's images are read once; every lesion is extracted on its own neighbourhood (see
:mod:`radiomics_hnc.features.pyradiomics_engine`). A worker writes the patient's lesion rows to
``<features folder>/cache/<PID>.arrow`` (an Arrow IPC file, atomically) as soon as it finishes,
with a fingerprint of the content of its images (SHA-256) and of the settings (feature config hash,
minimum lesion size, seed, software versions). A rerun skips patients whose fingerprint is
unchanged, so an interrupted run (even ``kill -9``) loses only the patients in flight. Failed
patients are not cached: they are retried by the next run.

Hashing every image on every rerun would read the whole dataset again (50-80 MB per full-size
patient: 0.04-0.08 s from the page cache, far more from disk; 60 GB for a HECKTOR-size cohort),
so each cache entry also records every image's (path, size, mtime, ctime, inode, device)
beside its hash, and a rerun re-hashes only files whose record changed. A user can restore a
file's mtime but not its ctime, which the kernel sets on every write, so an in-place edit is
always noticed, with two exceptions: file systems that keep no change time (FAT/exFAT report
ctime = mtime; some network and FUSE mounts), where a same-size rewrite with its mtime
restored escapes; and a same-size rewrite within the same timestamp tick (a few ms) as the
hashing, i.e. a file being written while the extraction reads it. A patient whose files
changed record but not content (a copied or moved dataset) is re-hashed, not re-extracted.

One features folder holds one mask source (see :mod:`radiomics_hnc.mask_sources`), and
one run at a time writes it (:func:`radiomics_hnc.locks.stage_lock`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import SimpleITK as sitk

from radiomics_hnc.errors import InputDataError, RadiomicsHNCError
from radiomics_hnc.features.configs import FeatureConfigs, load_feature_configs
from radiomics_hnc.features.dose import (
    MIN_REGISTRATION_CORRELATION,
    REGISTRATION,
    DoseMapping,
    register_planning_ct,
)
from radiomics_hnc.features.lesion_features import ModalityExtractors, extract_lesion
from radiomics_hnc.features.lesions import (
    MAX_NODE_COMPONENTS,
    MIN_LESION_VOLUME_ML,
    NODAL_LABEL,
    Lesion,
    find_lesions,
)
from radiomics_hnc.features.pyradiomics_engine import LesionFeatureExtractor
from radiomics_hnc.features.tables import (
    errors_table,
    lesions_frame,
    patient_lesion_table,
    patients_table,
)
from radiomics_hnc.geometry import Grid
from radiomics_hnc.io import (
    file_sha256,
    provenance,
    read_arrow,
    read_image,
    read_provenance,
    schema_provenance,
    text_sha256,
    write_arrow,
    write_parquet,
)
from radiomics_hnc.locks import lock_name, stage_lock
from radiomics_hnc.mask_sources import MaskSource, check_features_folder
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

_IMAGE_ROLES = ("ct_path", "pet_path", "mask_path", "planning_ct_path", "dose_path")


def file_status(path: str | Path) -> dict[str, Any]:
    """A file's path and the parts of its status that any write changes (a user can set the
    mtime back, not the ctime)."""
    stat = os.stat(path)
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino, "device": stat.st_dev}


def _same_status(status: dict[str, Any], known: dict[str, Any] | None) -> bool:
    return known is not None and all(known.get(k) == v for k, v in status.items())


def file_record(path: str | Path, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`file_status` and SHA-256 of a file; the hash is taken from ``known`` when
    ``known`` has the same status (see the module docstring for what that misses), else
    computed from the bytes."""
    record = file_status(path)
    reusable = known.get("sha256") if known is not None and _same_status(record, known) else None
    record["sha256"] = reusable or file_sha256(path)
    return record


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
    force: bool = False

    def settings(self) -> dict[str, Any]:
        """Everything besides the images that the features depend on."""
        record = provenance(config_hash=self.configs.content_hash)
        record.pop("created_utc")
        return {**record, "min_lesion_ml": self.min_lesion_ml, "seed": self.seed,
                "dose_registration": dataclasses.asdict(REGISTRATION),
                "min_registration_correlation": MIN_REGISTRATION_CORRELATION}

    def input_records(self, known: dict[str, Any] | None = None) -> dict[str, Any]:
        """:func:`file_record` of each image (None where absent), reusing ``known`` hashes."""
        known = known or {}
        return {role: None if getattr(self, role) is None
                else file_record(getattr(self, role), known.get(role))
                for role in _IMAGE_ROLES}

    def fingerprint(self, inputs: dict[str, Any]) -> str:
        """Identity of the image contents and settings: equal fingerprints give equal features.

        Paths are left out: the same images elsewhere (a moved dataset) give the same features.
        """
        files = {role: None if record is None else record["sha256"]
                 for role, record in inputs.items()}
        payload = {"files": files, "settings": self.settings()}
        return text_sha256(json.dumps(payload, sort_keys=True, default=str))

    def cache_is_current(self) -> bool:
        """Whether the cache entry matches the images' status and the settings (no hashing)."""
        cached = _cached_provenance(Path(self.cache_path))
        known = cached.get("inputs") or {}
        for role in _IMAGE_ROLES:
            path, record = getattr(self, role), known.get(role)
            if (path is None) != (record is None):
                return False
            if path is None:
                continue
            try:
                if not _same_status(file_status(path), record):
                    return False
            except OSError:
                return False
        return cached.get("fingerprint") == self.fingerprint(known)


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


def _read_dose(task: PatientTask, ct: sitk.Image, lesions: list[Lesion],
               extractor: LesionFeatureExtractor, errors: list[dict]) -> DoseMapping | None:
    """The mapped dose, cut down to what ``lesions`` need, or None without one; a bad dose map
    is an error row, not a failure.

    The planning CT is released before the dose is read, and only the lesions' part of the
    dose is kept: each full-size image costs its size twice while ITK reads it.
    """
    if not task.dose_path or not task.planning_ct_path:
        return None
    try:
        planning = read_image(task.planning_ct_path, task.patient_id)
        raise_for_errors(check_planning_ct(planning, task.patient_id, task.planning_ct_path),
                         also=("dose_unusable",))
        transform, metric, correlation = register_planning_ct(ct, planning, seed=task.seed)
        del planning
        dose = read_image(task.dose_path, task.patient_id)
        raise_for_errors(check_dose(dose, task.patient_id, task.dose_path),
                         also=("dose_unusable",))
        regions = [extractor.prepare(lesion.mask)[0] for lesion in lesions]
        return DoseMapping(dose, transform, metric, correlation).cropped(Grid.of(ct), regions)
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


def extract_patient(task: PatientTask) -> tuple[pa.Table, list[dict], dict]:
    """Every lesion of one patient: (lesion rows, lesion-level errors, dose registration info).

    Raises :class:`InputDataError` for an unreadable CT, PET or label map, one that fails a
    validation check with an error (not 3-D, NaN voxels, label values, label off the CT grid,
    PET not SUV, ...), or a mask with more node components than :data:`MAX_NODE_COMPONENTS`.
    A dose map that cannot be used leaves the dose columns empty, with an error row; so does
    a label map without any lesion (a valid case: no visible tumour), with a ``NoLesion`` row.
    """
    ct, labels, pet = _read_checked_images(task)
    errors: list[dict] = []
    lesions = find_lesions(labels, task.min_lesion_ml)
    del labels  # the lesions hold what they need of it
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
    dose = _read_dose(task, ct, lesions, extractors.dose, errors)
    registration = {
        "dose_available": dose is not None,
        "dose_registration_metric": float("nan") if dose is None else dose.metric,
        "dose_registration_correlation": float("nan") if dose is None else dose.correlation,
        "dose_registration_failed": None if dose is None else dose.failed,
    }
    rows = []
    for lesion in lesions:
        result = extract_lesion(lesion, ct, pet, extractors, dose)
        rows.append({"patient_id": task.patient_id, "center": task.center, **result.row,
                     **registration})
        errors.extend({"patient_id": task.patient_id, **e} for e in result.errors)
    return patient_lesion_table(rows), errors, registration


def run_patient(task: PatientTask) -> dict:
    """Worker entry point: extract one patient and write its cache file atomically.

    The images are hashed first, as they are when extraction starts; when their content and
    the settings match the cache entry (a moved or touched file), only the entry's file
    records are refreshed and nothing is extracted.
    """
    cached = _cached_provenance(Path(task.cache_path))
    inputs = _input_records(task, cached.get("inputs"))
    fingerprint = task.fingerprint(inputs)
    current = not task.force and cached.get("fingerprint") == fingerprint
    table = _cached_table(task.cache_path) if current else None
    if table is not None:
        write_arrow(table, task.cache_path, {**cached, "inputs": inputs})
        return {"extracted": False}
    table, errors, registration = extract_patient(task)
    record = provenance(config_hash=task.configs.content_hash, fingerprint=fingerprint,
                        inputs=inputs, errors=errors, registration=registration)
    write_arrow(table, task.cache_path, record)
    return {"extracted": True, "lesions": table.num_rows, "errors": len(errors)}


def _input_records(task: PatientTask, known: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return task.input_records(known)
    except OSError as exc:
        raise InputDataError(f"image file could not be read ({exc.strerror})",
                             patient_id=task.patient_id, path=exc.filename,
                             hint="check the dataset folder or rerun discover") from exc


def _cached_table(path: str | Path) -> pa.Table | None:
    """A cache file's lesion rows, or None when the file is damaged (an Arrow IPC file has no
    checksum: only damage to its structure is seen)."""
    try:
        return read_arrow(path)
    except (OSError, pa.ArrowException):
        return None


def _cached_provenance(path: Path) -> dict[str, Any]:
    try:
        return read_provenance(path) if path.is_file() else {}
    except Exception:  # an unreadable cache file is recomputed
        return {}


def build_tasks(
    workspace: Workspace, configs: FeatureConfigs, masks: MaskSource,
    min_lesion_ml: float = MIN_LESION_VOLUME_ML, seed: int = 0, out_dir: Path | None = None,
    force: bool = False,
) -> tuple[list[PatientTask], list[dict]]:
    """One task per eligible patient, and error rows for patients that cannot even start."""
    cache_dir = (out_dir or masks.default_features_dir(workspace)) / "cache"
    tasks, errors = [], []
    for record in manifest_records(workspace.eligible_manifest()):
        pid = record["patient_id"]
        mask_path = masks.mask_path(workspace, record)
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
            cache_path=str(patient_file(cache_dir, pid, ".arrow")), configs=configs,
            min_lesion_ml=min_lesion_ml, seed=seed, force=force))
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
    seed: int = 0,
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
        Recompute every patient even when its cache is up to date, and replace the tables of
        another mask source in ``out_dir``.
    out_dir
        Folder of the tables and cache; default the mask source's own folder
        (``WORKSPACE/features``, ``features_predicted`` or ``features_<folder name>``, see
        :mod:`radiomics_hnc.mask_sources`).
    seed
        Seed of the dose registration's random sampling.

    Raises
    ------
    ConfigError
        ``out_dir`` holds another mask source's tables (without ``force``).
    WorkspaceBusyError
        Another run is writing ``out_dir``.
    """
    ws = Workspace(workspace)
    configs = configs or load_feature_configs()
    source = MaskSource.parse(masks)
    out = Path(out_dir) if out_dir is not None else source.default_features_dir(ws)
    with stage_lock(ws.root, lock_name("extract", out, ws.root)):
        check_features_folder(out, source, force)
        tasks, errors = build_tasks(ws, configs, source, min_lesion_ml, seed, out, force)
        result = _run_tasks(tasks, errors, jobs, backend, scheduler, progress)
        record = provenance(config_hash=configs.content_hash, config_sources=configs.sources,
                            config_sha256_by_modality=configs.modality_hashes,
                            config_settings=configs.settings_record(),
                            min_lesion_ml=min_lesion_ml, seed=seed, **source.record())
        _gather(ws, out, tasks, errors, record, result)
    return result


def _run_tasks(tasks: list[PatientTask], errors: list[dict], jobs: int, backend: str,
               scheduler: str | None, progress: bool) -> ExtractionResult:
    """Run the patients whose cache is not current; failures become error rows."""
    result = ExtractionResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    todo = [t for t in tasks if t.force or not t.cache_is_current()]
    result.skipped = sorted({t.patient_id for t in tasks} - {t.patient_id for t in todo})
    for pid, outcome in map_patients(run_patient, [(t.patient_id, t) for t in todo], jobs=jobs,
                                     backend=backend, scheduler=scheduler,
                                     description="extract", progress=progress,
                                     fork_workers=True):
        if isinstance(outcome, PatientFailure):
            result.failed.append(pid)
            if not outcome.expected:
                logger.error("patient %s: unexpected failure\n%s", pid, outcome.traceback)
            errors.append({"patient_id": pid, "lesion_id": None, "stage": "extract",
                           "error_type": outcome.error_type, "message": outcome.message})
        elif outcome["extracted"]:
            result.computed.append(pid)
        else:
            result.skipped.append(pid)
    result.skipped.sort()
    return result


def _gather(ws: Workspace, out: Path, tasks: list[PatientTask], errors: list[dict],
            record: dict[str, Any], result: ExtractionResult) -> None:
    """Write the three tables, with provenance ``record``, from the cache of every patient
    that did not fail."""
    cached, done = [], []
    failed = set(result.failed)
    for task in tasks:
        if task.patient_id in failed:
            continue
        table = _cached_table(task.cache_path)
        if table is None:  # current by its footer, damaged inside: recomputed next time
            Path(task.cache_path).unlink(missing_ok=True)
            result.failed.append(task.patient_id)
            errors.append({"patient_id": task.patient_id, "lesion_id": None, "stage": "extract",
                           "error_type": "DamagedCache",
                           "message": f"file {task.cache_path}: the cached features are "
                           "damaged; the file was removed and the next run recomputes them"})
            continue
        cached.append(table)
        errors.extend(schema_provenance(table.schema).get("errors", []))
        done.append(task.patient_id)
    lesions = lesions_frame(cached)
    tables = {"lesions": lesions, "patients": patients_table(lesions, ws.eligible_manifest(), done),
              "errors": errors_table(errors)}
    for name, table in tables.items():
        result.paths[name] = write_parquet(table, out / f"{name}.parquet", record)
    # Python and disk users see the same tables: every column's type survives the parquet round
    # trip (tests compare them), so the files are not read back (0.3 s for 2268 columns).
    result.lesions, result.patients, result.errors = (
        tables[name] for name in ("lesions", "patients", "errors"))

