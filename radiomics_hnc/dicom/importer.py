"""``import_dicom``: a folder of DICOM exports to a dataset in the HECKTOR 2025 layout.

For each patient (DICOM PatientID) of the source tree: choose the series
(:mod:`radiomics_hnc.dicom.series`), build the CT (HU) and the PET (SUV,
:mod:`radiomics_hnc.dicom.suv`) on their own grids, rasterise the RTSTRUCT's GTVs on the CT
grid (:mod:`radiomics_hnc.dicom.rtstruct`), read the plan dose and its planning CT
(:mod:`radiomics_hnc.dicom.rtdose`), and write::

    DATA/Task 1/<PID>/<PID>__CT.nii.gz, <PID>__PT.nii.gz, <PID>.nii.gz
    DATA/Task 2/<PID>/ the same plus <PID>__CTPlanning.nii.gz, <PID>__RTDOSE.nii.gz (with a dose)
    DATA/clinical.csv         patient ids, age and sex from the headers, the rest to complete
    DATA/import_log.json      per patient: series used, SUV factors, ROI names, problems
    DATA/import_log.parquet   the same, one flat row per patient

Patient ids are ``<CENTER>-<NNN>``, never the DICOM PatientID (which can hold any character and
is often a hospital number); the log keeps the mapping and reruns keep the ids. A patient
that fails is reported and skipped; a rerun imports only patients whose source files or
settings changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk
from pydicom.dataset import Dataset

from radiomics_hnc.dicom.headers import quiet_pydicom, read_dataset, text, unreadable_reason
from radiomics_hnc.dicom.index import Instance, scan_folder
from radiomics_hnc.dicom.problems import Problem
from radiomics_hnc.dicom.rtdose import dose_image
from radiomics_hnc.dicom.rtstruct import RoiMap, label_image
from radiomics_hnc.dicom.series import Selection, Series, instance_summary, select_series
from radiomics_hnc.dicom.suv import NORMALISATIONS, suv_conversion
from radiomics_hnc.dicom.volume import NONUNIFORM_POLICIES, series_volume
from radiomics_hnc.errors import ConfigError, InputDataError, RadiomicsHNCError
from radiomics_hnc.io import provenance, write_csv, write_json, write_parquet
from radiomics_hnc.locks import stage_lock
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.synth.writer import (
    COMMON_COLUMNS,
    ENDPOINT_COLUMNS,
    SUFFIXES,
    TASK_ROLES,
    write_patient_images,
)
from radiomics_hnc.workspace import patient_file

log = logging.getLogger(__name__)

LOG_JSON, LOG_PARQUET, CLINICAL_CSV = "import_log.json", "import_log.parquet", "clinical.csv"
LAYOUT = "hecktor2025"
#: Patient statuses in the log: everything written; written without some part (label,
#: dose) because of an error; nothing written.
STATUSES = ("imported", "partial", "failed")
_CENTER = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass(frozen=True)
class ImportSettings:
    """How patients are imported (part of each patient's fingerprint, so a change reimports)."""

    roi_map: RoiMap
    normalisation: str = "bw"
    nonuniform: str = "refuse"
    center: str = "EXT"
    skip_series: str | None = None

    def check(self) -> None:
        """Refuse settings that cannot work, before any file is read."""
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(f"unknown SUV normalisation {self.normalisation!r}",
                              hint=f"use one of {', '.join(NORMALISATIONS)}")
        if self.nonuniform not in NONUNIFORM_POLICIES:
            raise ConfigError(f"unknown non-uniform slice policy {self.nonuniform!r}",
                              hint=f"use one of {', '.join(NONUNIFORM_POLICIES)}")
        if not _CENTER.fullmatch(self.center):
            raise ConfigError(f"centre code {self.center!r} must be 1-32 letters or digits",
                              hint="it starts every patient id (CENTER-001), as in HECKTOR")
        if self.skip_series is not None:
            try:
                re.compile(self.skip_series)
            except re.error as exc:
                raise ConfigError(f"--skip-series {self.skip_series!r} is not a regular "
                                  f"expression ({exc})") from exc

    def record(self) -> dict[str, Any]:
        return {"normalisation": self.normalisation, "nonuniform": self.nonuniform,
                "center": self.center, "skip_series": self.skip_series,
                "roi_map": self.roi_map.source, "roi_map_sha256": self.roi_map.sha256}

    @property
    def skip_pattern(self) -> re.Pattern[str] | None:
        return None if self.skip_series is None else re.compile(self.skip_series, re.IGNORECASE)


@dataclass(frozen=True)
class PatientTask:
    """One patient to import: its safe id, its files and where to write."""

    patient_id: str
    dicom_patient_id: str
    instances: tuple[Instance, ...]
    out: Path
    settings: ImportSettings
    fingerprint: str
    conflicts: tuple[Problem, ...] = ()


@dataclass
class ImportResult:
    """What an import did: the log rows of every patient and the files written."""

    records: list[dict[str, Any]]
    log_path: Path
    table_path: Path
    clinical_path: Path
    unusable_files: list[dict[str, str]]
    processed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def with_status(self, status: str) -> list[str]:
        return [r["patient_id"] for r in self.records if r["status"] == status]


def fingerprint(instances: Sequence[Instance], settings: ImportSettings) -> str:
    """Content key of a patient's import: its files (path, size, modification time) and the
    settings that shape the output."""
    shaping = {k: v for k, v in settings.record().items() if k != "roi_map"}  # content counts
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode())
    for instance in sorted(instances, key=lambda i: i.path):
        digest.update(f"{instance.path}\0{instance.size}\0{instance.mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_series(series: Series, patient_id: str, problems: list[Problem]) -> list[Dataset]:
    """Every image of a series with pixel data (a second copy of the same image is ignored)."""
    datasets, seen = [], set()
    for instance in series.instances:
        if instance.sop_instance in seen:
            continue
        seen.add(instance.sop_instance)
        try:
            datasets.append(read_dataset(instance.path))
        except Exception as exc:  # a file may be truncated or corrupt
            raise InputDataError(unreadable_reason(exc), patient_id=patient_id,
                                 path=instance.path,
                                 hint="copy or export the file again") from exc
    copies = len(series.instances) - len(seen)
    if copies:
        problems.append(Problem("info", f"{series.label()}: {copies} duplicate copies of images "
                                "ignored (same SOPInstanceUID)"))
    return datasets


def _volume(series: Series, task: PatientTask, what: str, problems: list[Problem],
            scale_from: Any = None) -> tuple[sitk.Image, list[Dataset]]:
    datasets = _read_series(series, task.patient_id, problems)
    scale = 1.0 if scale_from is None else scale_from(datasets)
    image, _, note = series_volume(datasets, task.patient_id, what, task.settings.nonuniform,
                                   scale=scale, keep_integers=what != "PET")
    if note:
        problems.append(Problem("warning", note, series.first.path))
    return image, datasets


def _age(ds: Dataset) -> int | None:
    """Age in years from PatientAge ('063Y'; months, weeks and days give 0)."""
    match = re.fullmatch(r"(\d{1,3})([DWMY])", text(ds, "PatientAge").upper())
    if not match:
        return None
    return int(match.group(1)) if match.group(2) == "Y" else 0


def _label(selection: Selection, ct: sitk.Image, task: PatientTask, record: dict[str, Any],
           problems: list[Problem]) -> sitk.Image | None:
    structure = selection.rtstruct
    if structure is None or selection.ct is None:
        return None
    record["series"]["rtstruct"] = instance_summary(structure)
    try:
        dataset = read_dataset(structure.path)
        result = label_image(dataset, ct, selection.ct.first.frame_of_reference,
                             task.settings.roi_map)
    except RadiomicsHNCError as exc:
        problems.append(Problem.from_error(exc))
        return None
    except Exception as exc:  # a corrupt RTSTRUCT fails the label, not the patient
        problems.append(Problem("error", f"RTSTRUCT not usable: {unreadable_reason(exc)}; no "
                                "label map written", structure.path))
        return None
    record["rois"] = result.rois
    problems.extend(result.problems)
    return result.image


def _dose(selection: Selection, ct_image: sitk.Image, task: PatientTask, record: dict[str, Any],
          problems: list[Problem]) -> dict[str, sitk.Image]:
    if selection.dose is None or selection.planning_ct is None:
        return {}
    record["series"]["rtdose"] = instance_summary(selection.dose)
    record["series"]["planning_ct"] = selection.planning_ct.summary()
    try:
        if selection.planning_ct is selection.ct:
            planning = ct_image
        else:
            planning, _ = _volume(selection.planning_ct, task, "planning CT", problems)
        dose, record["dose"], note = dose_image(read_dataset(selection.dose.path),
                                                task.patient_id, task.settings.nonuniform)
    except RadiomicsHNCError as exc:
        problems.append(Problem.from_error(exc))
        return {}
    except Exception as exc:  # a corrupt dose fails the dose, not the patient
        problems.append(Problem("error", f"RTDOSE or planning CT not usable: "
                                f"{unreadable_reason(exc)}; no dose imported",
                                selection.dose.path))
        return {}
    if note:
        problems.append(Problem("warning", note, selection.dose.path))
    return {"planning_ct": planning, "dose": dose}


def _read_patient(task: PatientTask, record: dict[str, Any],
                  problems: list[Problem]) -> dict[str, sitk.Image]:
    """Every image of a patient in memory (nothing written yet)."""
    selection = select_series(task.instances, task.settings.roi_map, task.settings.skip_pattern)
    problems.extend(selection.problems)
    if selection.pet is None:
        raise InputDataError("no usable PET series (original, attenuation-corrected PET "
                             "images); see the skipped series in the import log",
                             patient_id=task.patient_id,
                             hint="export the AC PET series of the PET/CT")
    if selection.ct is None:
        raise InputDataError(f"no usable CT series in the study or frame of reference of the PET "
                             f"({selection.pet.label()})", patient_id=task.patient_id,
                             hint="export the CT of the PET/CT study with the PET")
    record["series"] = {"pet": selection.pet.summary(), "ct": selection.ct.summary()}
    ct, _ = _volume(selection.ct, task, "CT", problems)

    def suv_factor(datasets: list[Dataset]) -> float:
        conversion = suv_conversion(datasets, task.settings.normalisation, task.patient_id)
        record["suv"] = conversion.record
        problems.extend(Problem("warning", note) for note in conversion.warnings)
        return conversion.factor

    pet, pet_datasets = _volume(selection.pet, task, "PET", problems, scale_from=suv_factor)
    record["demographics"] = {"age": _age(pet_datasets[0]),
                              "sex": text(pet_datasets[0], "PatientSex").upper() or None}
    images = {"ct": ct, "pt": pet}
    label = _label(selection, ct, task, record, problems)
    if label is not None:
        images["label"] = label
    images.update(_dose(selection, ct, task, record, problems))
    return images


def _output_paths(out: Path, patient_id: str, roles: Sequence[str]) -> dict[str, Path]:
    """Where each role's file goes: Task 1 for every patient, Task 2 (the same files as hard
    links, plus the planning CT and dose) for patients with a dose, as in HECKTOR 2025."""
    tasks = (1, 2) if "dose" in roles else (1,)
    return {f"Task {task}/{role}": patient_file(out / f"Task {task}" / patient_id, patient_id,
                                                SUFFIXES[LAYOUT][role])
            for task in tasks for role in TASK_ROLES[task] if role in roles}


def remove_outputs(out: Path, patient_id: str, keep: Sequence[Path] = ()) -> None:
    """Delete a patient's image files this import wrote before, except ``keep``."""
    kept = {Path(p) for p in keep}
    for task in (1, 2):
        folder = out / f"Task {task}" / patient_id
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            ours = path.name == f"{patient_id}.nii.gz" or path.name.startswith(f"{patient_id}__")
            if ours and path.is_file() and path not in kept:
                path.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()


def import_patient(task: PatientTask) -> dict[str, Any]:
    """Import one patient; returns its log record (failures are records too, never raised)."""
    start = time.perf_counter()
    record: dict[str, Any] = {"patient_id": task.patient_id,
                              "dicom_patient_id": task.dicom_patient_id,
                              "fingerprint": task.fingerprint,
                              "source_files": len(task.instances), "series": {}, "suv": None,
                              "rois": [], "dose": None, "demographics": {}, "outputs": {}}
    problems = list(task.conflicts)
    try:
        with quiet_pydicom():
            images = _read_patient(task, record, problems)
    except RadiomicsHNCError as exc:
        problems.append(Problem.from_error(exc))
        remove_outputs(task.out, task.patient_id)
        return _finish(record, "failed", problems, start)
    paths = _output_paths(task.out, task.patient_id, list(images))
    write_patient_images(task.out, LAYOUT, task.patient_id, images,
                         (1, 2) if "dose" in images else (1,))
    remove_outputs(task.out, task.patient_id, keep=list(paths.values()))
    record["outputs"] = {key: str(path.relative_to(task.out)) for key, path in paths.items()}
    failed_parts = any(p.severity == "error" for p in problems)
    return _finish(record, "partial" if failed_parts else "imported", problems, start)


def _finish(record: dict[str, Any], status: str, problems: list[Problem],
            start: float) -> dict[str, Any]:
    record["status"] = status
    record["problems"] = [p.to_dict() for p in problems]
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def _previous_log(out: Path, center: str) -> dict[str, dict[str, Any]]:
    """The records of an earlier import into ``out`` by DICOM PatientID (empty when none)."""
    path = out / LOG_JSON
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        records = {r["dicom_patient_id"]: r for r in data["patients"]}
        previous_center = data["settings"]["center"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputDataError(f"the log of the earlier import cannot be read ({exc})", path=path,
                             hint="import into a new folder, or delete the folder's contents "
                                  "to import everything again") from exc
    if previous_center != center:
        raise ConfigError(f"{out} was imported with --center {previous_center}, not {center}: "
                          "patient ids would change", path=path,
                          hint=f"pass --center {previous_center}, or import into a new folder")
    return records


def assign_ids(dicom_ids: Sequence[str], previous: dict[str, str], center: str) -> dict[str, str]:
    """Safe patient ids ``CENTER-001``... for DICOM PatientIDs, keeping earlier assignments;
    new patients get the next numbers in PatientID order."""
    mapping = {pid: previous[pid] for pid in dicom_ids if pid in previous}
    used = set(previous.values())
    numbers = [int(m.group(1)) for v in used if (m := re.fullmatch(rf"{center}-(\d+)", v))]
    counter = max(numbers, default=0)
    for pid in sorted(dicom_ids):
        if pid in mapping:
            continue
        counter += 1
        while f"{center}-{counter:03d}" in used:
            counter += 1
        mapping[pid] = f"{center}-{counter:03d}"
        used.add(mapping[pid])
    return mapping


def _mixed_series(groups: dict[str, list[Instance]]) -> dict[str, list[Problem]]:
    """Series whose files carry several PatientIDs: removed from every patient, with a problem."""
    owners: dict[str, set[str]] = defaultdict(set)
    for pid, instances in groups.items():
        for instance in instances:
            owners[instance.series].add(pid)
    mixed = {uid for uid, pids in owners.items() if len(pids) > 1}
    problems: dict[str, list[Problem]] = defaultdict(list)
    for pid, instances in groups.items():
        for uid in sorted({i.series for i in instances} & mixed):
            first = next(i for i in instances if i.series == uid)
            problems[pid].append(Problem(
                "error", f"{first.modality} series {first.series_description!r} "
                f"({uid}) holds files of {len(owners[uid])} different PatientIDs: not used",
                first.path))
        groups[pid] = [i for i in instances if i.series not in mixed]
    return problems


def _unchanged(previous: dict[str, Any] | None, fingerprint_: str, out: Path) -> bool:
    return bool(previous and previous.get("fingerprint") == fingerprint_
                and previous.get("status") in ("imported", "partial")
                and all((out / path).is_file() for path in previous.get("outputs", {}).values()))


def _failure_record(task: PatientTask, failure: PatientFailure) -> dict[str, Any]:
    """The log record of a patient whose import hit a bug (not a data problem)."""
    log.error("patient %s: unexpected failure\n%s", task.patient_id, failure.traceback)
    remove_outputs(task.out, task.patient_id)
    return {"patient_id": task.patient_id, "dicom_patient_id": task.dicom_patient_id,
            "fingerprint": None, "source_files": len(task.instances), "status": "failed",
            "series": {}, "suv": None, "rois": [], "dose": None, "demographics": {},
            "outputs": {}, "seconds": None,
            "problems": [Problem("error", f"internal error ({failure.message}); please report "
                                 "it with the traceback printed above").to_dict()]}


def import_dicom(
    source: str | Path,
    out: str | Path,
    roi_map: str | Path | None = None,
    jobs: int = 1,
    normalisation: str = "bw",
    nonuniform: str = "refuse",
    center: str = "EXT",
    skip_series: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> ImportResult:
    """Import every patient of a DICOM tree into ``out`` in the HECKTOR 2025 layout.

    Parameters
    ----------
    source
        Any folder tree of DICOM files (several patients, studies and series, nested
        folders, files without extension).
    out
        The dataset folder to write (then ``radiomics-hnc discover OUT --out WORKSPACE``).
    roi_map
        YAML of ROI name rules (default: the packaged ``roi_map.yaml``).
    jobs
        Patients imported in parallel.
    normalisation
        ``bw`` (SUV body weight), ``sul`` (lean body mass) or ``bsa`` (body surface area).
    nonuniform
        ``refuse`` series with uneven slice spacing, or ``resample`` them.
    center
        Centre code that starts every patient id (``EXT-001``).
    skip_series
        Regular expression: image series whose description matches are never used.
    force
        Reimport patients whose files and settings did not change.
    """
    source, out = Path(source), Path(out)
    settings = ImportSettings(RoiMap.load(roi_map), normalisation, nonuniform, center,
                              skip_series)
    settings.check()
    if not source.is_dir():
        raise InputDataError("DICOM source folder not found", path=source,
                             hint="pass the folder that holds the exported DICOM files")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise ConfigError("the output folder is inside the DICOM source folder", path=out,
                          hint="write the dataset outside the source tree")
    out.mkdir(parents=True, exist_ok=True)
    with stage_lock(out, "import-dicom"):
        previous = _previous_log(out, center)
        index = scan_folder(source)
        groups = index.by_patient()
        if not groups:
            raise InputDataError(f"no DICOM file with a PatientID under the folder "
                                 f"({len(index.unusable)} files could not be used)", path=source,
                                 hint="pass the folder of the DICOM export")
        conflicts = _mixed_series(groups)
        ids = assign_ids(list(groups), {k: v["patient_id"] for k, v in previous.items()},
                         center)
        records = {pid: r for pid, r in previous.items() if pid not in groups}
        tasks, result_unchanged = [], []
        for pid, instances in groups.items():
            key = fingerprint(instances, settings)
            if not force and _unchanged(previous.get(pid), key, out):
                records[pid] = previous[pid]
                result_unchanged.append(ids[pid])
                continue
            tasks.append(PatientTask(ids[pid], pid, tuple(instances), out, settings, key,
                                     tuple(conflicts.get(pid, ()))))
        unusable = [{"file": path, "reason": reason} for path, reason in index.unusable]
        by_id = {t.patient_id: t for t in tasks}
        for patient_id, outcome in map_patients(import_patient, [(t.patient_id, t) for t in tasks],
                                                jobs=jobs, description="import-dicom",
                                                progress=progress):
            task = by_id[patient_id]
            if isinstance(outcome, PatientFailure):
                outcome = _failure_record(task, outcome)
            records[task.dicom_patient_id] = outcome
            _write_log(out, settings, records, unusable)
        ordered = sorted(records.values(), key=lambda r: r["patient_id"])
        log_path, table_path = _write_log(out, settings, records, unusable)
        clinical = write_clinical_template(out, ordered)
    return ImportResult(ordered, log_path, table_path, clinical, unusable,
                        processed=sorted(by_id), unchanged=sorted(result_unchanged))


def _write_log(out: Path, settings: ImportSettings, records: dict[str, dict[str, Any]],
               unusable: list[dict[str, str]]) -> tuple[Path, Path]:
    """Write import_log.json (everything) and import_log.parquet (one row per patient)."""
    ordered = sorted(records.values(), key=lambda r: r["patient_id"])
    meta = provenance(**{"import_settings": settings.record()})
    log_path = write_json({"provenance": meta, "settings": settings.record(),
                           "patients": ordered, "unusable_files": unusable}, out / LOG_JSON)
    table_path = write_parquet(pd.DataFrame([flat_row(r) for r in ordered]),
                               out / LOG_PARQUET, meta)
    return log_path, table_path


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One patient's log record as a flat table row."""
    series, suv = record.get("series") or {}, record.get("suv") or {}
    problems = record.get("problems") or []
    rois = record.get("rois") or []
    row: dict[str, Any] = {
        "patient_id": record["patient_id"], "dicom_patient_id": record["dicom_patient_id"],
        "status": record["status"],
        "errors": sum(p["severity"] == "error" for p in problems),
        "warnings": sum(p["severity"] == "warning" for p in problems),
        "problems": "\n".join(f"{p['severity']}: {p['message']}" for p in problems),
    }
    for role in ("ct", "pet", "planning_ct"):
        row[f"{role}_series_uid"] = (series.get(role) or {}).get("series_uid")
        row[f"{role}_description"] = (series.get(role) or {}).get("description")
    for role in ("rtstruct", "rtdose"):
        row[f"{role}_sop_instance_uid"] = (series.get(role) or {}).get("sop_instance_uid")
    for key in ("units", "rule", "normalisation", "suv_factor", "weight_kg",
                "injected_dose_bq", "half_life_s", "decay_correction", "scan_start",
                "scan_start_source", "injection", "decay_time_s", "decay_factor"):
        row[f"suv_{key}" if not key.startswith("suv") else key] = suv.get(key)
    for label in ("GTVp", "GTVn"):
        row[f"rois_{label}"] = "; ".join(r["name"] for r in rois if r.get("label") == label
                                         and not r.get("refused"))
    row["rois_unmapped"] = "; ".join(r["name"] for r in rois if r.get("label") is None)
    row["seconds"] = record.get("seconds")
    return row


def write_clinical_template(out: Path, records: Sequence[dict[str, Any]]) -> Path:
    """``clinical.csv`` with every imported patient's id, age and sex (1 male, 0 female) and
    the other HECKTOR columns empty, for the user to complete.

    An existing file is the user's work and is never rewritten; patients it lacks are
    logged as a warning.
    """
    path = out / CLINICAL_CSV
    patients = [r for r in records if r["status"] != "failed"]
    if path.is_file():
        try:
            listed = set(pd.read_csv(path, dtype=str)["PatientID"].dropna())
        except (OSError, ValueError, KeyError):
            listed = set()
        missing = [r["patient_id"] for r in patients if r["patient_id"] not in listed]
        if missing:
            log.warning("%s exists and was left as it is; add rows for %s", path, missing)
        return path
    sexes = {"M": 1, "F": 0}
    rows = [{column: None for column in (*COMMON_COLUMNS, *ENDPOINT_COLUMNS)}
            | {"PatientID": r["patient_id"], "Age": (r.get("demographics") or {}).get("age"),
               "Gender": sexes.get((r.get("demographics") or {}).get("sex") or "")}
            for r in patients]
    table = pd.DataFrame(rows, columns=[*COMMON_COLUMNS, *ENDPOINT_COLUMNS])
    for column in ("Age", "Gender"):
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    return write_csv(table, path)

