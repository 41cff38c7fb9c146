"""Tiny PET/CT/label phantoms written in the three HECKTOR layouts, for data-layer tests."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

CSV_COLUMNS_2025 = [
    "PatientID", "CenterID", "Age", "Gender", "Tobacco Consumption", "Alcohol Consumption",
    "Performance Status", "Treatment", "M-stage", "HPV Status", "Relapse", "RFS",
]


def _seed(pid: str) -> int:
    return zlib.crc32(pid.encode()) % 1000


def tiny_images(seed: int = 0, dose: bool = False) -> dict[str, sitk.Image]:
    """CT (2x2x3 mm, HU), PET (4 mm, SUV) and a label map on the CT grid: 1 GTVp, 2 nodes."""
    rng = np.random.default_rng(seed)
    ct_arr = np.full((12, 24, 24), -1000, dtype=np.int16)  # numpy (z, y, x)
    ct_arr[:, 4:20, 4:20] = 40 + rng.integers(-20, 20, size=(12, 16, 16))
    ct = sitk.GetImageFromArray(ct_arr)
    ct.SetSpacing((2.0, 2.0, 3.0))
    ct.SetOrigin((-24.0, -24.0, -18.0))
    label_arr = np.zeros_like(ct_arr, dtype=np.uint8)
    label_arr[4:8, 8:14, 8:14] = 1
    label_arr[3:6, 15:18, 15:18] = 2
    label_arr[8:10, 5:7, 16:18] = 2
    label = sitk.GetImageFromArray(label_arr)
    label.CopyInformation(ct)
    pet_arr = (0.5 + rng.random((9, 12, 12))).astype(np.float32)
    pet_arr[3:6, 5:8, 5:8] = 9.0
    pet = sitk.GetImageFromArray(pet_arr)
    pet.SetSpacing((4.0, 4.0, 4.0))
    pet.SetOrigin((-22.0, -22.0, -16.0))
    images = {"CT": ct, "PT": pet, "label": label}
    if dose:
        planning = sitk.Image(ct)
        planning.SetOrigin((-26.0, -23.0, -18.0))
        images["CTPlanning"] = planning
        dose_arr = np.full((6, 12, 12), 54.0, dtype=np.float32)
        dose_img = sitk.GetImageFromArray(dose_arr)
        dose_img.SetSpacing((4.0, 4.0, 6.0))
        dose_img.SetOrigin((-26.0, -23.0, -18.0))
        images["RTDOSE"] = dose_img
    return images


def write_patient(folder: Path, pid: str, images: dict[str, sitk.Image],
                  label_name: str | None = None) -> None:
    """Write one patient's images as <pid>__<TAG>.nii.gz and the label as <pid>.nii.gz."""
    folder.mkdir(parents=True, exist_ok=True)
    for tag, image in images.items():
        if tag == "label":
            continue
        sitk.WriteImage(image, str(folder / f"{pid}__{tag}.nii.gz"))
    if "label" in images:
        sitk.WriteImage(images["label"], str(folder / (label_name or f"{pid}.nii.gz")))


def clinical_row(pid: str, center_id: int = 1, **overrides: object) -> dict[str, object]:
    """A clinical row with the organisers' 2025 column spellings."""
    row: dict[str, object] = {
        "PatientID": pid, "CenterID": center_id, "Age": 61, "Gender": 1,
        "Tobacco Consumption": 1, "Alcohol Consumption": "", "Performance Status": 0,
        "Treatment": 1, "M-stage": "M0", "HPV Status": 1, "Relapse": 0, "RFS": 1200,
    }
    row.update(overrides)
    return row


def write_per_task(root: Path, pids: list[str], dose_pids: tuple[str, ...] = ()) -> Path:
    """The 2025 release layout: 'Task 1' and 'Task 2' folders plus one CSV per task."""
    for pid in pids:
        write_patient(root / "Task 1" / pid, pid, tiny_images(_seed(pid)))
    for pid in dose_pids:
        write_patient(root / "Task 2" / pid, pid, tiny_images(_seed(pid), dose=True))
    rows = [clinical_row(pid) for pid in pids]
    pd.DataFrame(rows, columns=CSV_COLUMNS_2025).to_csv(
        root / "HECKTOR_2025_Training_Task_1.csv", index=False
    )
    task2 = [clinical_row(pid) for pid in dose_pids]
    pd.DataFrame(task2, columns=CSV_COLUMNS_2025).to_csv(
        root / "HECKTOR_2025_Training_Task_2.csv", index=False
    )
    return root


def write_flat(root: Path, pids: list[str], underscore_labels: bool = False) -> Path:
    """The 2022 layout: imagesTr/<pid>__CT.nii.gz and labelsTr/<pid>.nii.gz (2022 spellings)."""
    for pid in pids:
        images = tiny_images(_seed(pid))
        label = images.pop("label")
        write_patient(root / "imagesTr", pid, images)
        label_name = pid.replace("-", "_") if underscore_labels else pid
        (root / "labelsTr").mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(label, str(root / "labelsTr" / f"{label_name}.nii.gz"))
    rows = [{"PatientID": pid, "Gender": "M", "Age": 55, "Tobacco": "Yes", "Alcohol": "No",
             "Performance": 1, "Treatment": 0, "M-stage": "Mx", "HPV Status": "",
             "Relapse": 1, "RFS": 400.0} for pid in pids]
    pd.DataFrame(rows).to_csv(root / "hecktor2022_clinical_info_training.csv", index=False)
    return root


def write_per_patient(root: Path, pids: list[str]) -> Path:
    """The 2026 layout: <root>/<pid>/<pid>__CT.nii.gz ... and one CSV (with T/N stage)."""
    for pid in pids:
        write_patient(root / pid, pid, tiny_images(_seed(pid)))
    rows = [clinical_row(pid, **{"T-stage": "T2", "N-stage": "N1"}) for pid in pids]
    pd.DataFrame(rows).to_csv(root / "clinical.csv", index=False)
    return root


def truncate_file(path: Path) -> None:
    """Cut a file to a third of its length, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def shifted(image: sitk.Image, voxels: float) -> sitk.Image:
    """A copy of ``image`` whose origin moved ``voxels`` voxels along x (same voxel values)."""
    moved = sitk.Image(image)
    origin = list(image.GetOrigin())
    origin[0] += voxels * image.GetSpacing()[0]
    moved.SetOrigin(origin)
    return moved
