"""Small analytic PET/CT/dose phantoms and workspaces for the feature-extraction tests.

Anatomy is defined in diagnostic-scanner coordinates (mm) and sampled onto each image's grid, so
the planning CT can be the same anatomy seen through a known rigid shift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomics_hnc.io import write_image, write_parquet

CT_SPACING = (1.5, 1.5, 3.0)
CT_SIZE = (80, 80, 30)
CT_ORIGIN = (-60.0, -60.0, -45.0)
PET_SPACING = (4.0, 4.0, 4.0)
PET_SIZE = (32, 32, 24)
PET_ORIGIN = (-62.0, -62.0, -46.0)
#: (centre mm, radius mm, label, SUV) of the lesions: GTVp, a large node, a small node.
LESIONS = (
    ((-10.0, 5.0, 0.0), 12.0, 1, 12.0),
    ((25.0, -20.0, 6.0), 8.0, 2, 7.0),
    ((25.0, 25.0, -15.0), 5.0, 2, 5.0),
)
DOSE_CENTRE = (-10.0, 5.0, 0.0)


def _points(size, spacing, origin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Physical z, y, x coordinates (mm) of every voxel centre, numpy (z, y, x) shaped."""
    axes = [o + s * np.arange(n) for n, s, o in zip(size, spacing, origin, strict=True)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return z, y, x


def _image(array: np.ndarray, spacing, origin) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _inside(z, y, x, centre, radius) -> np.ndarray:
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2


def anatomy_hu(z, y, x, rng) -> np.ndarray:
    """HU of the phantom: a neck whose width changes with z, fat rim, vertebrae, jaw, lesions."""
    hu = np.full(x.shape, -1000.0)
    half_width = 50.0 + 0.25 * z
    body = (x / half_width) ** 2 + ((y - 3.0) / 42.0) ** 2 <= 1.0
    muscle = (x / (half_width - 6.0)) ** 2 + ((y - 3.0) / 36.0) ** 2 <= 1.0
    hu[body] = -100.0
    hu[muscle] = 45.0
    vertebrae = ((x - 2.0) ** 2 + (y - 28.0) ** 2 <= 8.0**2) & (np.mod(z + 45.0, 18.0) < 12.0)
    hu[vertebrae] = 700.0
    hu[(np.abs(y + 28.0) < 4.0) & (np.abs(x + 10.0) < 30.0) & (z > -20.0)] = 900.0
    for centre, radius, _, _ in LESIONS:
        hu[_inside(z, y, x, centre, radius)] = 60.0
    return hu + rng.normal(0.0, 5.0, x.shape) * body


def make_patient(seed: int = 0, shift_mm: tuple[float, float, float] = (6.0, -4.5, 3.0),
                 tiny_node: bool = False) -> dict[str, sitk.Image]:
    """CT (HU int16), PET (SUV float32), label map, planning CT and dose (Gy) of one patient."""
    rng = np.random.default_rng(seed)
    z, y, x = _points(CT_SIZE, CT_SPACING, CT_ORIGIN)
    ct = _image(np.round(anatomy_hu(z, y, x, rng)).astype(np.int16), CT_SPACING, CT_ORIGIN)
    labels = np.zeros(x.shape, dtype=np.uint8)
    for centre, radius, label, _ in LESIONS:
        labels[_inside(z, y, x, centre, radius)] = label
    if tiny_node:
        labels[20, 10:12, 60:62] = 2  # 4 voxels of 6.75 mm^3: far below 0.5 ml
    label = _image(labels, CT_SPACING, CT_ORIGIN)
    pz, py, px = _points(PET_SIZE, PET_SPACING, PET_ORIGIN)
    suv = 0.8 + 0.2 * rng.random(px.shape)
    for centre, radius, _, peak in LESIONS:
        distance = np.sqrt((px - centre[0]) ** 2 + (py - centre[1]) ** 2 + (pz - centre[2]) ** 2)
        suv += peak * np.clip(1.0 - distance / (radius + 4.0), 0.0, None)
    pet = _image(suv.astype(np.float32), PET_SPACING, PET_ORIGIN)
    # Planning CT: the same anatomy, at q = p + shift in planning coordinates, other grid.
    plan_spacing, plan_size = (2.0, 2.0, 3.0), (64, 64, 30)
    plan_origin = (-64.0 + shift_mm[0], -64.0 + shift_mm[1], -45.0 + shift_mm[2] + 1.0)
    qz, qy, qx = _points(plan_size, plan_spacing, plan_origin)
    az, ay, ax = qz - shift_mm[2], qy - shift_mm[1], qx - shift_mm[0]
    planning = _image(np.round(anatomy_hu(az, ay, ax, rng)).astype(np.int16), plan_spacing,
                      plan_origin)
    dose = _image(dose_gy(az, ay, ax).astype(np.float32), plan_spacing, plan_origin)
    return {"ct": ct, "pet": pet, "label": label, "planning_ct": planning, "dose": dose}


def dose_gy(z, y, x) -> np.ndarray:
    """The planned dose (Gy) at anatomical points: 72 Gy plateau, linear fall-off to 0."""
    distance = np.sqrt((x - DOSE_CENTRE[0]) ** 2 + (y - DOSE_CENTRE[1]) ** 2
                       + (z - DOSE_CENTRE[2]) ** 2)
    return np.clip(72.0 - np.clip(distance - 10.0, 0.0, None) * 1.5, 0.0, None)


def write_workspace(root: Path, patients: dict[str, dict[str, sitk.Image]]) -> Path:
    """Write images and a minimal manifest.parquet; returns the workspace folder."""
    workspace = root / "ws"
    rows = []
    for pid, images in patients.items():
        row = {"patient_id": pid, "center": pid.split("-")[0], "age": 60.0, "relapse": 0,
               "rfs_days": 900.0}
        for role in ("ct", "pet", "label", "planning_ct", "dose"):
            path = None
            if role in images:
                path = str(write_image(images[role], root / "data" / f"{pid}__{role}.nii.gz"))
            row[f"{role}_path"] = path
        rows.append(row)
    write_parquet(pd.DataFrame(rows), workspace / "manifest.parquet")
    return workspace


def many_patient_workspace(root: Path, count: int, images: dict[str, sitk.Image]) -> Path:
    """``count`` patients sharing one set of image files (the cache is per patient id)."""
    ws = write_workspace(root, {"CHB-001": images})
    manifest = pd.read_parquet(ws / "manifest.parquet")
    copies = [manifest.assign(patient_id=f"CHB-{i:03d}") for i in range(1, count + 1)]
    write_parquet(pd.concat(copies, ignore_index=True), ws / "manifest.parquet")
    return ws
