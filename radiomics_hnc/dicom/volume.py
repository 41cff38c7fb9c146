"""Planes (image slices or dose frames) stacked into a 3-D image with the DICOM's geometry.

The rules that keep the NIfTI at the same physical place as the DICOM:

- planes are sorted by their position along the slice normal (the cross product of the row and
  column directions of ImageOrientationPatient), never by InstanceNumber or file name;
- the written spacing is the mean step, and every plane must lie within
  :data:`~radiomics_hnc.geometry.GRID_TOLERANCE_VOXELS` of that regular grid (the project's
  one rule for "same grid"); a missing slice or variable spacing is refused or, on request,
  resampled by linear interpolation onto a regular grid (and the import log says which);
- the plane origins must lie along the normal: a stack whose origins drift sideways was
  acquired with a gantry tilt and is refused (resampling it would need a shear);
- the direction matrix is the DICOM orientation itself (no reorientation), so the voxel at
  index (i, j, k) keeps its physical position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from radiomics_hnc.choices import NonuniformSlices
from radiomics_hnc.dicom.headers import number, optional_number, source_path, text, vector
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.geometry import GRID_TOLERANCE_VOXELS

#: What to do with a stack whose planes are not evenly spaced.
NONUNIFORM_POLICIES = tuple(NonuniformSlices.values())
#: Two planes closer than this (mm) along the normal are at the same position.
SAME_POSITION_MM = 1e-3


@dataclass(frozen=True)
class StackGeometry:
    """Where a stack's planes lie: their order along the normal and the grid they form.

    ``positions`` are the sorted distances (mm) of the planes along ``normal``;
    ``row_direction`` is the direction of increasing column index (ITK x), ``column_direction``
    that of increasing row index (ITK y); ``pixel_spacing`` is (x, y) in mm.
    """

    order: np.ndarray
    origin: np.ndarray
    row_direction: np.ndarray
    column_direction: np.ndarray
    normal: np.ndarray
    pixel_spacing: tuple[float, float]
    positions: np.ndarray

    @property
    def spacing(self) -> float:
        """Mean step between planes (mm); the slice thickness of a single plane is unknown."""
        if len(self.positions) < 2:
            return 1.0
        return float((self.positions[-1] - self.positions[0]) / (len(self.positions) - 1))

    @property
    def irregularity(self) -> float:
        """Largest distance of a plane from the regular grid, in steps of that grid."""
        if len(self.positions) < 3:
            return 0.0
        grid = self.positions[0] + self.spacing * np.arange(len(self.positions))
        return float(np.abs(self.positions - grid).max() / self.spacing)

    @property
    def regular(self) -> bool:
        return self.irregularity <= GRID_TOLERANCE_VOXELS

    def direction(self) -> tuple[float, ...]:
        """ITK direction cosines (row-major 3 x 3, columns x, y, z)."""
        matrix = np.column_stack([self.row_direction, self.column_direction, self.normal])
        return tuple(float(v) for v in matrix.ravel())


def stack_geometry(
    origins: np.ndarray, orientation: Sequence[float], pixel_spacing: Sequence[float],
    files: Sequence[str | None], patient_id: str | None, what: str,
) -> StackGeometry:
    """Sort planes along the slice normal and check they form a stack without tilt or doubles.

    Parameters
    ----------
    origins
        (n, 3) ImagePositionPatient of each plane (mm), in any order.
    orientation
        ImageOrientationPatient (row direction cosines, then column direction cosines).
    pixel_spacing
        PixelSpacing as DICOM writes it: (spacing between rows, between columns) in mm.
    files
        The file of each plane, for messages.
    """
    row, column = np.array(orientation[:3], float), np.array(orientation[3:], float)
    if (abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3
            or abs(row @ column) > 1e-3):
        raise InputDataError(f"{what}: ImageOrientationPatient {list(orientation)} is not two "
                             "orthogonal unit vectors", patient_id=patient_id, path=files[0],
                             hint="the series header is corrupt; re-export it")
    row, column = row / np.linalg.norm(row), column / np.linalg.norm(column)
    normal = np.cross(row, column)
    origins = np.asarray(origins, float)
    distance = origins @ normal
    order = np.argsort(distance, kind="stable")
    positions = distance[order]
    steps = np.diff(positions)
    if steps.size and steps.min() < SAME_POSITION_MM:
        k = int(np.argmin(steps))
        raise InputDataError(
            f"{what}: two planes at the same position ({positions[k]:.2f} mm along the slice "
            f"normal): {files[order[k]]} and {files[order[k + 1]]}", patient_id=patient_id,
            path=files[order[k]],
            hint="the series mixes several acquisitions or time frames (dynamic or gated PET?); "
                 "export one static series")
    sideways = (origins[order] - origins[order[0]]) - np.outer(positions - positions[0], normal)
    drift = float(np.linalg.norm(sideways, axis=1).max()) if len(order) else 0.0
    if drift > GRID_TOLERANCE_VOXELS * min(pixel_spacing):
        raise InputDataError(
            f"{what}: the slices are sheared (their origins drift {drift:.2f} mm sideways from "
            "the slice normal): the series was acquired with a gantry tilt",
            patient_id=patient_id, path=files[order[0]],
            hint="tilted acquisitions are refused; reconstruct the series without tilt "
                 "(or resample it to an orthogonal grid in the planning system) and re-export")
    return StackGeometry(order, origins[order[0]], row, column, normal,
                         (float(pixel_spacing[1]), float(pixel_spacing[0])), positions)


def describe_spacing(geometry: StackGeometry) -> str:
    """The steps between planes in words: '148 steps of 3 mm, 1 step of 6 mm'."""
    counts = Counter(np.round(np.diff(geometry.positions), 2).tolist())
    return ", ".join(f"{n} step{'s' if n > 1 else ''} of {step:g} mm"
                     for step, n in sorted(counts.items()))


def to_image(stack: np.ndarray, geometry: StackGeometry, patient_id: str | None, what: str,
             policy: str, files: Sequence[str | None]) -> tuple[sitk.Image, str | None]:
    """A SimpleITK image of ``stack`` (planes in sorted order, z y x) on the stack's grid.

    Returns the image and, when the planes were resampled onto a regular grid, a sentence
    saying so (for the import log). An irregular stack is refused unless ``policy`` is
    ``"resample"``.
    """
    note = None
    spacing = geometry.spacing
    origin = geometry.origin
    if not geometry.regular:
        found = describe_spacing(geometry)
        if policy != "resample":
            worst = int(np.argmax(np.abs(np.diff(geometry.positions) - np.median(
                np.diff(geometry.positions)))))
            raise InputDataError(
                f"{what}: the slice spacing is not uniform ({found}; the odd step is between "
                f"{files[geometry.order[worst]]} and {files[geometry.order[worst + 1]]})",
                patient_id=patient_id, path=files[geometry.order[worst]],
                hint="re-export the complete series (a slice is missing?), or pass "
                     "--nonuniform resample to interpolate it onto a regular grid")
        stack, spacing = _resample_regular(stack, geometry.positions)
        note = (f"{what}: slice spacing not uniform ({found}); resampled by linear "
                f"interpolation to {stack.shape[0]} slices every {spacing:g} mm")
    image = sitk.GetImageFromArray(stack)
    image.SetSpacing((*geometry.pixel_spacing, spacing))
    image.SetOrigin(tuple(float(v) for v in origin))
    image.SetDirection(geometry.direction())
    return image, note


def _resample_regular(stack: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, float]:
    """Linear interpolation of the planes onto the regular grid of their median step."""
    step = float(np.median(np.diff(positions)))
    count = int(np.floor((positions[-1] - positions[0]) / step + 1e-6)) + 1
    targets = positions[0] + step * np.arange(count)
    below = np.clip(np.searchsorted(positions, targets, side="right") - 1, 0, len(positions) - 2)
    weight = (targets - positions[below]) / (positions[below + 1] - positions[below])
    shape = (-1,) + (1,) * (stack.ndim - 1)
    resampled = (stack[below] * (1 - weight).reshape(shape)
                 + stack[below + 1] * weight.reshape(shape))
    if np.issubdtype(stack.dtype, np.integer):
        resampled = np.round(resampled)
    return resampled.astype(stack.dtype), step


def plane_values(ds: Dataset, patient_id: str | None) -> np.ndarray:
    """The modality values of a single-frame image (stored values x RescaleSlope +
    RescaleIntercept), as float64 (rows, columns).

    pydicom decodes uncompressed and RLE data itself; for the compressed transfer syntaxes it
    has no decoder for here (JPEG Lossless, JPEG 2000, JPEG-LS: common in PACS exports) the
    slice is read by SimpleITK's GDCM, which applies the same rescale.
    """
    path = source_path(ds)
    photometric = text(ds, "PhotometricInterpretation", "MONOCHROME2").upper()
    if photometric != "MONOCHROME2":
        raise InputDataError(f"PhotometricInterpretation is {photometric}, expected MONOCHROME2",
                             patient_id=patient_id, path=path,
                             hint="export the original grey-scale images")
    try:
        stored = ds.pixel_array
    except Exception as exc:  # pydicom raises several types for bad pixel data
        transfer = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if path and transfer is not None and transfer.is_compressed:
            return _gdcm_values(path, patient_id, exc)
        raise InputDataError(f"pixel data cannot be read ({type(exc).__name__}: {exc})",
                             patient_id=patient_id, path=path,
                             hint="the file is truncated or corrupt; copy or export it again"
                             ) from exc
    if stored.ndim != 2:
        raise InputDataError(f"expected one image per file, found pixel data of shape "
                             f"{stored.shape}", patient_id=patient_id, path=path,
                             hint="multi-frame images are not supported; export single-frame "
                                  "(classic) images")
    slope = optional_number(ds, "RescaleSlope")
    intercept = optional_number(ds, "RescaleIntercept")
    return stored.astype(np.float64) * (1.0 if slope is None else slope) + (intercept or 0.0)


def _gdcm_values(path: str, patient_id: str | None, cause: Exception) -> np.ndarray:
    try:
        image = sitk.ReadImage(path, sitk.sitkFloat64)
    except RuntimeError as exc:
        raise InputDataError(f"compressed pixel data cannot be decoded ({cause})",
                             patient_id=patient_id, path=path,
                             hint="export the series uncompressed") from exc
    return sitk.GetArrayFromImage(image).reshape(image.GetSize()[1], image.GetSize()[0])


def slice_origins(datasets: Sequence[Dataset], patient_id: str | None) -> np.ndarray:
    """(n, 3) ImagePositionPatient of single-frame images."""
    return np.array([vector(ds, "ImagePositionPatient", 3, patient_id) for ds in datasets])


def check_same_plane_layout(datasets: Sequence[Dataset], patient_id: str | None,
                            what: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Orientation and pixel spacing shared by every image of a series (refused when they
    vary: a localizer or reformat mixed into the series)."""
    first = datasets[0]
    orientation = vector(first, "ImageOrientationPatient", 6, patient_id)
    spacing = vector(first, "PixelSpacing", 2, patient_id)
    shape = (number(first, "Rows", patient_id), number(first, "Columns", patient_id))
    for ds in datasets[1:]:
        other = vector(ds, "ImageOrientationPatient", 6, patient_id)
        if not np.allclose(other, orientation, atol=1e-4):
            raise InputDataError(
                f"{what}: the images have different orientations ({list(orientation)} in "
                f"{source_path(first)}, {list(other)} here)", patient_id=patient_id,
                path=source_path(ds), hint="the series mixes planes (a localizer or a "
                "reformat?); export the axial series alone")
        if not np.allclose(vector(ds, "PixelSpacing", 2, patient_id), spacing, rtol=1e-5):
            raise InputDataError(f"{what}: the images have different pixel spacings",
                                 patient_id=patient_id, path=source_path(ds),
                                 hint="export the axial series alone")
        if (number(ds, "Rows", patient_id), number(ds, "Columns", patient_id)) != shape:
            raise InputDataError(f"{what}: the images have different sizes",
                                 patient_id=patient_id, path=source_path(ds),
                                 hint="export the axial series alone")
    return orientation, spacing


def series_volume(datasets: Sequence[Dataset], patient_id: str | None, what: str, policy: str,
                  scale: float = 1.0, keep_integers: bool = False,
                  ) -> tuple[sitk.Image, StackGeometry, str | None]:
    """The 3-D image of a series of single-frame images.

    Parameters
    ----------
    datasets
        The series' images with pixel data, in any order.
    scale
        Factor applied to the modality values (the SUV factor of a PET).
    keep_integers
        Store the values as int16 when every one is a whole number in its range (CT in HU,
        which stay exact); otherwise float32.
    """
    files = [source_path(ds) for ds in datasets]
    tilt = optional_number(datasets[0], "GantryDetectorTilt")
    if tilt:
        raise InputDataError(f"{what}: acquired with a gantry tilt of {tilt:g} degrees "
                             "(GantryDetectorTilt)", patient_id=patient_id, path=files[0],
                             hint="tilted acquisitions are refused; reconstruct the series "
                                  "without tilt and re-export")
    orientation, spacing = check_same_plane_layout(datasets, patient_id, what)
    geometry = stack_geometry(slice_origins(datasets, patient_id), orientation, spacing, files,
                              patient_id, what)
    first = plane_values(datasets[geometry.order[0]], patient_id)
    stack = np.empty((len(datasets), *first.shape), np.float32)
    for position, index in enumerate(geometry.order):
        values = first if position == 0 else plane_values(datasets[index], patient_id)
        if values.shape != first.shape:
            raise InputDataError(f"{what}: the images have different sizes",
                                 patient_id=patient_id, path=files[index],
                                 hint="export the axial series alone")
        stack[position] = values * scale
    if keep_integers and _whole_int16(stack):
        stack = stack.astype(np.int16)
    image, note = to_image(stack, geometry, patient_id, what, policy, files)
    return image, geometry, note


def _whole_int16(stack: np.ndarray) -> bool:
    info = np.iinfo(np.int16)
    return bool(stack.min() >= info.min and stack.max() <= info.max
                and np.array_equal(stack, np.round(stack)))
