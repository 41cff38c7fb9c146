"""RTDOSE to a dose map in Gy on its own grid.

A dose file is one multi-frame image: ``ImagePositionPatient`` places the first frame and
``GridFrameOffsetVector`` gives each frame's offset along the slice normal, either relative to
that position (first value 0, the usual form) or, for axial grids only, as absolute z
coordinates (first value equal to the position's z). Stored values times ``DoseGridScaling``
are the dose in ``DoseUnits`` (GY; RELATIVE doses are refused).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from radiomics_hnc.dicom.headers import number, source_path, tag_text, text, vector
from radiomics_hnc.dicom.volume import stack_geometry, to_image
from radiomics_hnc.errors import InputDataError

#: Dose summation types that describe a whole treatment (a plan or several plans).
WHOLE_PLAN_TYPES = ("MULTI_PLAN", "PLAN")


def _frame_offsets(ds: Dataset, frames: int, position: tuple[float, ...],
                   normal: np.ndarray, patient_id: str | None) -> np.ndarray:
    """Offsets (mm) of the frames along the normal, relative to ImagePositionPatient."""
    raw = ds.get("GridFrameOffsetVector")
    if frames == 1 and not raw:
        return np.zeros(1)
    try:
        offsets = np.array([float(v) for v in raw], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        offsets = np.empty(0)
    if offsets.size != frames:
        raise InputDataError(f"{tag_text('GridFrameOffsetVector')} has {offsets.size} values for "
                             f"{frames} frames", patient_id=patient_id, path=source_path(ds),
                             hint="the dose file is corrupt; export it again")
    if offsets[0] == 0:
        return offsets
    axial = abs(abs(normal[2]) - 1) < 1e-6
    if axial and abs(offsets[0] - position[2]) < 1e-3:
        return (offsets - offsets[0]) * np.sign(normal[2])
    raise InputDataError(f"{tag_text('GridFrameOffsetVector')} starts at {offsets[0]}, neither 0 "
                         f"(relative offsets) nor the image position's z {position[2]} "
                         "(absolute, axial grids only)", patient_id=patient_id,
                         path=source_path(ds), hint="the dose file is corrupt; export it again")


def dose_image(ds: Dataset, patient_id: str | None, policy: str = "refuse",
               ) -> tuple[sitk.Image, dict[str, Any], str | None]:
    """The dose (Gy, float32) on the RTDOSE grid, its log record and a resampling note.

    Raises
    ------
    InputDataError
        Relative doses, missing scaling or geometry, corrupt frame offsets, or (with
        ``policy="refuse"``) unevenly spaced frames.
    """
    path = source_path(ds)
    units = text(ds, "DoseUnits").upper()
    if units != "GY":
        raise InputDataError(f"{tag_text('DoseUnits')} is {units or 'empty'!r}, not GY",
                             patient_id=patient_id, path=path,
                             hint="export the absolute dose in Gy")
    if text(ds, "DoseType").upper() == "ERROR":
        raise InputDataError("DoseType is ERROR (a dose difference map, not a dose)",
                             patient_id=patient_id, path=path, hint="export the plan dose")
    scaling = number(ds, "DoseGridScaling", patient_id, positive=True,
                     hint="export the dose with its scaling factor")
    orientation = vector(ds, "ImageOrientationPatient", 6, patient_id)
    position = vector(ds, "ImagePositionPatient", 3, patient_id)
    spacing = vector(ds, "PixelSpacing", 2, patient_id)
    try:
        stored = ds.pixel_array
    except Exception as exc:  # pydicom raises several types for bad pixel data
        raise InputDataError(f"dose pixel data cannot be read ({type(exc).__name__}: {exc})",
                             patient_id=patient_id, path=path,
                             hint="the file is truncated or corrupt; export it again") from exc
    frames = int(ds.get("NumberOfFrames") or 1)
    stored = stored.reshape(frames, *stored.shape[-2:])
    row, column = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, column) / np.linalg.norm(np.cross(row, column))
    offsets = _frame_offsets(ds, frames, position, normal, patient_id)
    origins = np.array(position) + np.outer(offsets, normal)
    files = [f"{path} frame {k + 1}" for k in range(frames)]
    geometry = stack_geometry(origins, orientation, spacing, files, patient_id, "RTDOSE")
    dose = stored[geometry.order].astype(np.float64) * scaling
    image, note = to_image(dose.astype(np.float32), geometry, patient_id, "RTDOSE", policy, files)
    record = {"dose_units": units, "dose_type": text(ds, "DoseType"),
              "dose_summation_type": text(ds, "DoseSummationType"),
              "dose_grid_scaling": scaling, "frames": frames,
              "max_dose_gy": float(dose.max()) if dose.size else 0.0}
    return image, record, note
