"""Dataset discovery: find every patient's files in any HECKTOR layout and write the manifest.

Three layouts are recognised (see the user guide):

1. per-task folders of the 2025 release: ``Task 1/<PID>/<PID>__CT.nii.gz`` ... with
   ``HECKTOR_2025_Training_Task_<n>.csv`` beside them (folder names contain a space);
2. flat 2022-style folders: ``imagesTr/<PID>__CT.nii.gz`` and ``labelsTr/<PID>.nii.gz``;
3. a flat per-patient tree (2026 edition): ``<PID>/<PID>__CT.nii.gz`` and one CSV.

Discovery only reads file names and image headers; :mod:`radiomics_hnc.validate` reads voxels.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from radiomics_hnc.clinical import CLINICAL_COLUMNS, merge_clinical
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import file_sha256, provenance, read_image_header, write_parquet
from radiomics_hnc.workspace import GEOMETRY_FIELDS, IMAGE_ROLES, Workspace

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd")

# File-name modality tags (after '<PID>__') of each image role, lower-cased.
_ROLE_TAGS: dict[str, str] = {
    "ct": "ct",
    "pt": "pet",
    "pet": "pet",
    "ctplanning": "planning_ct",
    "planningct": "planning_ct",
    "planning_ct": "planning_ct",
    "dosimetry_ct": "planning_ct",
    "rtdose": "dose",
    "dose": "dose",
    "radiotherapy_dosemaps": "dose",
    "gt": "label",
    "gtv": "label",
    "seg": "label",
    "label": "label",
    "mask": "label",
}

_TASK_DIR = re.compile(r"^task[\s_-]*(\d+)$", re.IGNORECASE)


@dataclass
class PatientFiles:
    """Files found for one patient (path per image role) and the tasks it appeared in."""

    patient_id: str
    paths: dict[str, Path] = field(default_factory=dict)
    tasks: set[str] = field(default_factory=set)
    conflicts: list[str] = field(default_factory=list)

    def add(self, role: str, path: Path, task: str | None) -> None:
        if task:
            self.tasks.add(task)
        known = self.paths.get(role)
        if known is None:
            self.paths[role] = path
        elif known != path and not _same_content(known, path):
            self.conflicts.append(f"{role}: {known} and {path} (kept the first)")


def _same_content(a: Path, b: Path) -> bool:
    """True for hard links or byte-identical copies (the 2025 release repeats files per task)."""
    if a.samefile(b):
        return True
    return a.stat().st_size == b.stat().st_size and file_sha256(a) == file_sha256(b)


@dataclass
class Discovery:
    """Result of scanning a dataset folder, before it becomes the manifest table."""

    root: Path
    layout: str
    patients: dict[str, PatientFiles]
    csv_paths: list[Path]
    unmatched_files: list[Path]


def _strip_suffix(name: str) -> str | None:
    lower = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def parse_image_name(name: str, label_folder: bool = False) -> tuple[str, str] | None:
    """``(patient_id, role)`` from a file name, or None when it is not a recognised image.

    ``CHUM-001__CT.nii.gz`` -> ("CHUM-001", "ct"); ``CHUM-001.nii.gz`` -> ("CHUM-001", "label").
    In a labelsTr folder any image is a label map.
    """
    stem = _strip_suffix(name)
    if stem is None or stem.startswith("."):
        return None
    if "__" in stem:
        patient_id, tag = stem.split("__", 1)
        role = "label" if label_folder else _ROLE_TAGS.get(tag.lower())
        return (patient_id, role) if role and patient_id else None
    return stem, "label"


def center_of(patient_id: str) -> str:
    """Centre code of a patient id, the prefix before the first '-' or '_': CHUM-001 -> CHUM."""
    return re.split(r"[-_]", patient_id, maxsplit=1)[0].upper()


def _id_key(patient_id: str) -> str:
    """Spelling-independent id key: an early 2025 description wrote CHUM_001 for CHUM-001."""
    return re.sub(r"[-_\s]+", "-", patient_id.strip()).upper()


def detect_layout(root: Path) -> str:
    """Name of the layout of ``root``: ``per-task``, ``flat`` or ``per-patient``."""
    if not root.is_dir():
        raise InputDataError(
            "dataset folder not found", path=root, hint="pass the folder holding the HECKTOR data"
        )
    children = [p for p in root.iterdir() if p.is_dir()]
    if any(_TASK_DIR.match(p.name) for p in children):
        return "per-task"
    if (root / "imagesTr").is_dir() or (root / "imagesTs").is_dir():
        return "flat"
    if any(any(parse_image_name(f.name) for f in p.iterdir() if f.is_file()) for p in children):
        return "per-patient"
    raise InputDataError(
        "no HECKTOR layout recognised (no 'Task N' folders, no imagesTr/labelsTr, "
        "no <PID>/<PID>__CT.nii.gz folders)",
        path=root, hint="see the user guide for the supported layouts",
    )


def _scan_patient_folders(
    folders: Iterable[Path], task: str | None, found: dict[str, PatientFiles], unmatched: list[Path]
) -> None:
    for folder in sorted(folders):
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            parsed = parse_image_name(path.name)
            if parsed is None:
                if _strip_suffix(path.name) is not None:
                    unmatched.append(path)
                continue
            patient_id, role = parsed
            if role == "label" and _id_key(patient_id) == _id_key(folder.name):
                patient_id = folder.name
            found.setdefault(patient_id, PatientFiles(patient_id)).add(role, path, task)


def _scan_flat(root: Path, found: dict[str, PatientFiles], unmatched: list[Path]) -> None:
    for images_name, labels_name in (("imagesTr", "labelsTr"), ("imagesTs", "labelsTs")):
        for folder, is_label in ((root / images_name, False), (root / labels_name, True)):
            if not folder.is_dir():
                continue
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                parsed = parse_image_name(path.name, label_folder=is_label)
                if parsed is None:
                    if _strip_suffix(path.name) is not None:
                        unmatched.append(path)
                    continue
                patient_id, role = parsed
                found.setdefault(patient_id, PatientFiles(patient_id)).add(role, path, None)


def _reconcile_label_ids(found: dict[str, PatientFiles]) -> None:
    """Attach label files spelled with another separator (CHUM_001) to their images (CHUM-001)."""
    by_key = {_id_key(pid): pid for pid, files in found.items() if set(files.paths) - {"label"}}
    for pid in list(found):
        files = found[pid]
        if set(files.paths) != {"label"}:
            continue
        target = by_key.get(_id_key(pid))
        if target and target != pid and "label" not in found[target].paths:
            found[target].add("label", files.paths["label"], None)
            found[target].tasks |= files.tasks
            del found[pid]


def scan_dataset(root: str | Path) -> Discovery:
    """Find the image files and clinical tables of a dataset folder in any supported layout."""
    root = Path(root).expanduser().resolve()
    layout = detect_layout(root)
    found: dict[str, PatientFiles] = {}
    unmatched: list[Path] = []
    csv_folders = [root]
    if layout == "per-task":
        task_dirs = sorted(
            (p for p in root.iterdir() if p.is_dir() and _TASK_DIR.match(p.name)),
            key=lambda p: int(_TASK_DIR.match(p.name).group(1)),  # type: ignore[union-attr]
        )
        for task_dir in task_dirs:
            task = _TASK_DIR.match(task_dir.name).group(1)  # type: ignore[union-attr]
            _scan_patient_folders(
                (p for p in task_dir.iterdir() if p.is_dir()), task, found, unmatched
            )
        csv_folders += task_dirs
    elif layout == "flat":
        _scan_flat(root, found, unmatched)
    else:
        _scan_patient_folders((p for p in root.iterdir() if p.is_dir()), None, found, unmatched)
    _reconcile_label_ids(found)
    csv_paths = sorted(p for folder in csv_folders for p in folder.glob("*.csv"))
    return Discovery(root, layout, found, csv_paths, unmatched)


def _geometry_columns(role: str, path: Path | None, patient_id: str) -> dict[str, object]:
    columns: dict[str, object] = {f"{role}_{name}": None for name in GEOMETRY_FIELDS}
    if path is None:
        return columns
    try:
        header = read_image_header(path, patient_id)
    except InputDataError as exc:
        log.debug("%s", exc)  # validate reports unreadable files with the reason
        return columns
    columns.update({f"{role}_{name}": header[name] for name in GEOMETRY_FIELDS})
    return columns


def build_manifest(discovery: Discovery) -> tuple[pd.DataFrame, dict]:
    """One row per patient (images or clinical row), with geometry and normalised clinical data.

    Returns the manifest and the findings of discovery itself (clinical values that could not
    be read, ids listed twice, conflicting files, unrecognised images) for the validator.
    """
    merged = merge_clinical(discovery.csv_paths)
    clinical = merged.table.set_index("patient_id")
    clinical_by_key = {_id_key(pid): pid for pid in clinical.index}
    rows = []
    image_keys = set()
    for pid in sorted(discovery.patients):
        files = discovery.patients[pid]
        image_keys.add(_id_key(pid))
        clinical_id = clinical_by_key.get(_id_key(pid))
        rows.append(_manifest_row(discovery.layout, files, clinical, clinical_id))
    for pid in clinical.index:  # clinical rows without images: kept so validation can list them
        if _id_key(pid) not in image_keys:
            rows.append(_manifest_row(discovery.layout, PatientFiles(pid), clinical, pid))
    manifest = pd.DataFrame(rows)
    if manifest.empty:
        raise InputDataError(
            "no patients found", path=discovery.root,
            hint="check that image files are named <PID>__CT.nii.gz, <PID>__PT.nii.gz",
        )
    for column in CLINICAL_COLUMNS:
        manifest[column] = manifest[column].astype(clinical[column].dtype)
    notes = {
        "clinical_issues": [asdict(issue) for issue in merged.issues],
        "clinical_columns_found": merged.columns_found,
        "duplicate_ids": merged.duplicates,
        "file_conflicts": {
            pid: files.conflicts for pid, files in discovery.patients.items() if files.conflicts
        },
        "unrecognised_files": [str(p) for p in discovery.unmatched_files],
    }
    return manifest, notes


def _manifest_row(
    layout: str, files: PatientFiles, clinical: pd.DataFrame, clinical_id: str | None
) -> dict[str, object]:
    pid = files.patient_id
    row: dict[str, object] = {
        "patient_id": pid,
        "center": center_of(pid),
        "tasks": ";".join(sorted(files.tasks, key=int)) if files.tasks else None,
        "layout": layout,
    }
    for role in IMAGE_ROLES:
        path = files.paths.get(role)
        row[f"{role}_path"] = str(path) if path else None
    for role in IMAGE_ROLES:
        row.update(_geometry_columns(role, files.paths.get(role), pid))
    row["has_clinical"] = clinical_id is not None
    if clinical_id is None:
        row.update({column: None for column in CLINICAL_COLUMNS})
    else:
        values = clinical.loc[clinical_id]
        row.update({column: values[column] for column in CLINICAL_COLUMNS})
    return row


def discover(data_dir: str | Path, workspace: str | Path | None = None) -> pd.DataFrame:
    """Scan ``data_dir`` and return the manifest; write ``manifest.parquet`` when given a workspace.

    Parameters
    ----------
    data_dir
        The dataset folder, in any supported layout.
    workspace
        Folder that receives ``manifest.parquet`` (created if missing). Discovery's own findings
        (unreadable clinical values, duplicated ids) travel in the file's metadata, and in
        ``manifest.attrs["discovery"]``, for :mod:`radiomics_hnc.validate`.
    """
    discovery = scan_dataset(data_dir)
    manifest, notes = build_manifest(discovery)
    manifest.attrs["discovery"] = notes
    if workspace is not None:
        meta = provenance(
            dataset=str(discovery.root),
            layout=discovery.layout,
            clinical_tables=[str(p) for p in discovery.csv_paths],
            discovery=notes,
        )
        write_parquet(manifest, Workspace(workspace).manifest_path, meta)
    return manifest
