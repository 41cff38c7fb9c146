"""PET/CT preprocessing shared by training and inference (the organisers' recipe, see
reference/hecktor.md).

1. The overlap of the CT and PET fields of view is found in physical (LPS, mm) coordinates.
2. A head-and-neck box (200 x 200 x 310 mm by default) is placed under the hottest region of the
   top quarter of the PET (the brain): centred on it left-right and antero-posteriorly, its top a
   margin above the brain's top. It is clipped to the overlap.
3. CT (linear), PET (linear) and the label (nearest neighbour) are resampled onto an isotropic,
   axis-aligned grid over that box (2 mm default).
4. CT is windowed to -250..250 HU and scaled to [-1, 1]; PET (SUV) is z-normalised.

Axis order: SimpleITK sizes, spacings and points are (x, y, z); numpy arrays from
``sitk.GetArrayFromImage`` are (z, y, x). Every array in this module is (z, y, x) and every
physical quantity (x, y, z); the conversions are the explicit ``[::-1]`` below. The grid has the
identity direction, so increasing numpy index 0 means increasing physical z (superior in LPS).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.geometry import Grid, physical_bounds
from radiomics_hnc.io import atomic_path, file_sha256, read_image, text_sha256
from radiomics_hnc.segment.spec import PreprocessSpec
from radiomics_hnc.workspace import patient_file

log = logging.getLogger(__name__)

#: Coarse grid (mm) on which the brain is located; fine enough for a 200 mm box.
_LOCATOR_SPACING_MM = 4.0
#: Percentile of PET uptake in the top slab that marks the brain.
_BRAIN_PERCENTILE = 99.0
#: Bump when the preprocessing code changes, so cached volumes are recomputed.
_CACHE_VERSION = "1"


@dataclass(frozen=True)
class PreprocessedCase:
    """One patient on the common grid: ``image`` (2, z, y, x) CT and PET channels, float32;
    ``label`` (1, z, y, x) uint8 or None; ``grid`` the geometry for pasting predictions back."""

    image: np.ndarray
    label: np.ndarray | None
    grid: Grid


def field_of_view_overlap(ct: sitk.Image, pet: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The physical box (x, y, z mm) covered by both CT and PET; raises when they do not meet."""
    ct_low, ct_high = physical_bounds(ct)
    pet_low, pet_high = physical_bounds(pet)
    low, high = np.maximum(ct_low, pet_low), np.minimum(ct_high, pet_high)
    if np.any(high <= low):
        raise InputDataError(
            "CT and PET fields of view do not overlap",
            hint="check the images' origins and directions",
        )
    return low, high


def _grid_over(low: np.ndarray, high: np.ndarray, spacing: float) -> Grid:
    size = np.maximum(np.floor((high - low) / spacing).astype(int), 1)
    origin = low + spacing / 2.0  # voxel centres inside the box
    return Grid(size=tuple(int(s) for s in size), spacing=(spacing,) * 3,
                origin=tuple(float(v) for v in origin))


def resample(image: sitk.Image, grid: Grid, nearest: bool = False, default: float = 0.0
             ) -> np.ndarray:
    """``image`` resampled onto ``grid`` as a (z, y, x) array (linear, or nearest for labels)."""
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    pixel = image.GetPixelID() if nearest else sitk.sitkFloat32
    out = sitk.Resample(image, grid.reference(), sitk.Transform(), interpolator, default, pixel)
    return sitk.GetArrayFromImage(out)


def locate_brain(pet: sitk.Image, low: np.ndarray, high: np.ndarray,
                 search_fraction: float) -> tuple[np.ndarray, float]:
    """Centre (x, y, z mm) of the hottest PET region in the top ``search_fraction`` of the
    overlap, and the physical z (mm) of its top."""
    coarse = _grid_over(low, high, _LOCATOR_SPACING_MM)
    suv = resample(pet, coarse)  # (z, y, x); index 0 grows towards superior
    first = int(np.floor(suv.shape[0] * (1.0 - search_fraction)))
    slab = suv[first:]
    hot = np.argwhere(slab >= np.percentile(slab, _BRAIN_PERCENTILE))  # rows of (z, y, x)
    hot[:, 0] += first
    origin, spacing = np.asarray(coarse.origin), np.asarray(coarse.spacing)
    centre_xyz = origin + hot.mean(axis=0)[::-1] * spacing
    top_z = origin[2] + (hot[:, 0].max() + 0.5) * spacing[2]  # upper edge of the top voxel
    return centre_xyz, float(top_z)


def head_neck_grid(ct: sitk.Image, pet: sitk.Image, settings: PreprocessSpec) -> Grid:
    """The isotropic grid over the head-and-neck box (see the module docstring)."""
    low, high = field_of_view_overlap(ct, pet)
    centre, top_z = locate_brain(pet, low, high, settings.brain_search_fraction)
    size = np.asarray(settings.crop_size_mm)
    box_low = np.array([centre[0] - size[0] / 2, centre[1] - size[1] / 2,
                        top_z + settings.brain_top_margin_mm - size[2]])
    box_high = box_low + size
    return _grid_over(np.maximum(box_low, low), np.minimum(box_high, high), settings.spacing_mm)


def normalise_ct(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """HU clipped to ``window`` and scaled linearly to [-1, 1]."""
    lo, hi = window
    return (2.0 * (np.clip(hu, lo, hi) - lo) / (hi - lo) - 1.0).astype(np.float32)


def normalise_pet(suv: np.ndarray) -> np.ndarray:
    """SUV z-normalised over the cropped volume (zero mean, unit variance)."""
    std = float(suv.std())
    return ((suv - suv.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def preprocess_images(ct: sitk.Image, pet: sitk.Image, label: sitk.Image | None,
                      settings: PreprocessSpec) -> PreprocessedCase:
    """CT, PET (and label) of one patient on the common grid, normalised."""
    grid = head_neck_grid(ct, pet, settings)
    ct_arr = normalise_ct(resample(ct, grid, default=-1024.0), settings.ct_window_hu)
    pet_arr = normalise_pet(resample(pet, grid))
    label_arr = None
    if label is not None:
        label_arr = resample(sitk.Cast(label, sitk.sitkUInt8), grid, nearest=True)[None]
    return PreprocessedCase(np.stack([ct_arr, pet_arr]), label_arr, grid)


def paste_back(labels: np.ndarray, grid: Grid, ct_grid: Grid) -> sitk.Image:
    """A (z, y, x) label array on ``grid`` resampled nearest-neighbour onto the CT's own grid
    (same size, spacing, origin and direction); outside the crop the label is 0."""
    on_grid = grid.image(labels.astype(np.uint8))
    return sitk.Resample(on_grid, ct_grid.reference(), sitk.Transform(),
                         sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _fingerprint(record: dict, settings: PreprocessSpec, with_label: bool) -> str:
    roles = ("ct", "pet", "label") if with_label else ("ct", "pet")
    parts = {role: file_sha256(record[f"{role}_path"]) for role in roles}
    parts.update(settings=settings.model_dump(mode="json"), version=_CACHE_VERSION)
    return text_sha256(json.dumps(parts, sort_keys=True))


def load_case(record: dict, settings: PreprocessSpec, with_label: bool) -> PreprocessedCase:
    """Read one manifest row's images and preprocess them."""
    pid = record["patient_id"]
    if with_label and not record.get("label_path"):
        raise InputDataError("no ground-truth label for this patient", patient_id=pid)
    ct = read_image(record["ct_path"], pid)
    pet = read_image(record["pet_path"], pid, sitk.sitkFloat32)
    label = read_image(record["label_path"], pid) if with_label else None
    try:
        return preprocess_images(ct, pet, label, settings)
    except InputDataError as exc:
        raise InputDataError(exc.message, patient_id=pid, path=record["ct_path"],
                             hint=exc.hint) from exc


def cached_case(record: dict, settings: PreprocessSpec, cache_dir: str | Path,
                with_label: bool = True) -> PreprocessedCase:
    """:func:`load_case`, stored in ``cache_dir`` under a key of the input files' SHA-256 and the
    settings, so later epochs and runs skip the resampling."""
    key = _fingerprint(record, settings, with_label)[:20]
    path = patient_file(cache_dir, record["patient_id"], f"_{key}.npz")
    if path.is_file():
        with np.load(path) as data:
            label = data["label"] if with_label else None
            grid = Grid(size=tuple(int(v) for v in data["size"]),
                        spacing=tuple(float(v) for v in data["spacing"]),
                        origin=tuple(float(v) for v in data["origin"]))
            return PreprocessedCase(data["image"], label, grid)
    case = load_case(record, settings, with_label)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, image=case.image,
                 label=case.label if case.label is not None else np.zeros(0, np.uint8),
                 origin=case.grid.origin, spacing=case.grid.spacing, size=case.grid.size)
    return case
