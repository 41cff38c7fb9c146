"""Dataset layouts and clinical tables, written exactly like the HECKTOR releases.

``hecktor2025``: ``Task 1/<PID>/`` (CT, PT, label) for every patient; ``Task 2/<PID>/`` (the
same plus ``__CTPlanning`` and ``__RTDOSE`` for the dose subset) for patients with an outcome
record; ``Task 3/<PID>/`` (CT, PT) for patients with a known HPV status; the three
``HECKTOR_2025_Training_Task_<n>.csv`` tables beside the task folders. Copies of a file in
several task folders are hard links (same bytes, no extra disk) where the file system allows.
``flat``: the 2022-style ``imagesTr``/``labelsTr`` folders and one clinical table.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.io import atomic_path, write_csv, write_image
from radiomics_hnc.workspace import patient_file

LAYOUTS = ("hecktor2025", "flat")
#: File-name suffix of each image role, per layout.
SUFFIXES = {
    "hecktor2025": {"ct": "__CT.nii.gz", "pt": "__PT.nii.gz", "label": ".nii.gz",
                    "planning_ct": "__CTPlanning.nii.gz", "dose": "__RTDOSE.nii.gz"},
    "flat": {"ct": "__CT.nii.gz", "pt": "__PT.nii.gz", "label": ".nii.gz",
             "planning_ct": "__dosimetry_CT.nii.gz", "dose": "__radiotherapy_dosemaps.nii.gz"},
}
#: Image roles in each task folder of the 2025 release.
TASK_ROLES = {1: ("ct", "pt", "label"), 2: ("ct", "pt", "label", "planning_ct", "dose"),
              3: ("ct", "pt")}
#: Clinical table columns, spelled as in the organisers' tables.
COMMON_COLUMNS = {
    "PatientID": "patient_id", "CenterID": "center_id", "Age": "age", "Gender": "gender",
    "Tobacco Consumption": "tobacco", "Alcohol Consumption": "alcohol",
    "Performance Status": "performance_status", "Treatment": "treatment", "M-stage": "m_stage",
    "HPV Status": "hpv",
}
ENDPOINT_COLUMNS = {"Relapse": "relapse", "RFS": "rfs_days"}
FLAT_CSV = "HECKTOR_Training_clinical_info.csv"


def task_csv_name(task: int) -> str:
    return f"HECKTOR_2025_Training_Task_{task}.csv"


def _link_or_copy(source: Path, target: Path) -> None:
    """Place ``source``'s bytes at ``target`` atomically (a hard link when possible)."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def write_patient_images(dataset: Path, layout: str, patient_id: str,
                         images: dict[str, sitk.Image], tasks: tuple[int, ...]) -> None:
    """Write one patient's images in ``layout`` (every file atomically)."""
    suffixes = SUFFIXES[layout]
    if layout == "flat":
        for role, image in images.items():
            folder = dataset / ("labelsTr" if role == "label" else "imagesTr")
            write_image(image, patient_file(folder, patient_id, suffixes[role]))
        return
    written: dict[str, Path] = {}
    for task in tasks:
        folder = dataset / f"Task {task}" / patient_id
        for role in TASK_ROLES[task]:
            if role not in images:
                continue
            target = patient_file(folder, patient_id, suffixes[role])
            if role in written:
                _link_or_copy(written[role], target)
            else:
                written[role] = write_image(images[role], target)


def clinical_tables(rows: list[dict[str, object]], layout: str) -> dict[str, pd.DataFrame]:
    """The released clinical tables (file name -> table) from per-patient observed rows.

    Each row holds the observed values (None when missing), ``tasks`` and the endpoints.
    Integer columns are nullable, so missing values are empty cells.
    """
    frame = pd.DataFrame(rows)
    table = pd.DataFrame({name: frame[key] for name, key in {**COMMON_COLUMNS,
                                                              **ENDPOINT_COLUMNS}.items()})
    for name in table.columns.drop(["PatientID", "M-stage"]):
        table[name] = pd.to_numeric(table[name]).round().astype("Int64")
    table = table.sort_values("PatientID", ignore_index=True)
    tasks = frame.set_index("patient_id").loc[table["PatientID"], "tasks"].to_numpy()
    if layout == "flat":
        flat = table.copy()
        no_outcome = [2 not in t for t in tasks]
        flat.loc[no_outcome, list(ENDPOINT_COLUMNS)] = pd.NA
        return {FLAT_CSV: flat}
    common = list(COMMON_COLUMNS)
    columns = {1: [c for c in common if c != "HPV Status"], 2: common + list(ENDPOINT_COLUMNS),
               3: common}
    return {task_csv_name(task): table.loc[[task in t for t in tasks], columns[task]]
            for task in (1, 2, 3)}


def write_clinical_tables(dataset: Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Write the tables as CSV (atomically) into the dataset root."""
    return [write_csv(table, dataset / name) for name, table in tables.items()]
