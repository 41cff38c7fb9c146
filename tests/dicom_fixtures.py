"""DICOM test data: a generated cohort exported as DICOM, tools to damage copies of it, the
real sample files fetched by ``make setup``, and the comparison of an import with its truth."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from radiomics_hnc.synth import generate_cohort

#: The five PET header styles come from these centres (centre id modulo 5).
STYLE_CENTERS = ["CHB", "CHUM", "CHUP", "CHUS", "CHUV"]
#: Real DICOM samples from the pysuv and dicompyler-core source archives (see setup_venv.sh).
SAMPLES = Path(sys.prefix) / "dicom-test-data"
IBSI_CT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ibsi1" / "ct_phantom"


def sample_folder(*parts: str) -> Path:
    """A folder of the fetched sample files, or a skip saying how to get them."""
    matches = sorted(SAMPLES.glob("/".join(parts)))
    if not matches:
        pytest.skip(f"DICOM samples not found under {SAMPLES} (run 'make setup' with access to "
                    "the package registry to fetch them)")
    return matches[0]


def ibsi_phantom() -> Path:
    if not (IBSI_CT / "dicom" / "image").is_dir():
        pytest.skip(f"IBSI CT phantom not found at {IBSI_CT} (shared test data)")
    return IBSI_CT


def dicom_cohort(root: Path, patients: int = 6, seed: int = 7) -> Path:
    """A small generated cohort with its DICOM export (root/dicom) and NIfTI truth."""
    generate_cohort(root, patients, seed, scale="small", centers=STYLE_CENTERS,
                    image_format="dicom")
    return root


def rewrite(paths: list[Path], **changes: object) -> None:
    """Set (or, with None, delete) header attributes of DICOM files in place."""
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)


def copy_series(source: Path, target: Path, every: int = 1, **changes: object) -> list[Path]:
    """Copy a series folder as a new series (new series and image UIDs), every n-th file."""
    series_uid = generate_uid()
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for number, path in enumerate(sorted(p for p in source.iterdir() if p.is_file())):
        if number % every:
            continue
        copy = target / path.name
        shutil.copyfile(path, copy)
        rewrite([copy], SeriesInstanceUID=series_uid, SOPInstanceUID=generate_uid(), **changes)
        copies.append(copy)
    return copies


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def compare_patient(truth: dict[str, Path], imported: dict[str, Path]) -> dict[str, float]:
    """Largest differences between the generator's images and the imported ones, per role.

    Returns ``ct`` (HU), ``pet`` (SUV, relative to the image's maximum), ``dose`` (Gy),
    ``planning_ct`` (HU) and ``dice_1``/``dice_2`` per label; geometry must match exactly.
    """
    found: dict[str, float] = {}
    for role, path in truth.items():
        expected, got = sitk.ReadImage(str(path)), sitk.ReadImage(str(imported[role]))
        assert got.GetSize() == expected.GetSize(), role
        assert np.allclose(got.GetOrigin(), expected.GetOrigin(), atol=1e-4), role
        assert np.allclose(got.GetSpacing(), expected.GetSpacing(), atol=1e-6), role
        assert np.allclose(got.GetDirection(), expected.GetDirection(), atol=1e-9), role
        a = sitk.GetArrayFromImage(expected).astype(np.float64)
        b = sitk.GetArrayFromImage(got).astype(np.float64)
        if role == "label":
            for value in (1, 2):
                if (a == value).any():
                    found[f"dice_{value}"] = dice(a == value, b == value)
        elif role == "pet":
            found[role] = float(np.abs(a - b).max() / a.max())
        else:
            found[role] = float(np.abs(a - b).max())
    return found
