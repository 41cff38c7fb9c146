"""Radiotherapy: the planning CT's set-up offset and an RTDOSE map in Gy on the planning grid.

The plan prescribes about 70 Gy to the GTVs plus a margin and about 54 Gy to the elective neck,
with an error-function fall-off (penumbra of a few mm) and a low-dose bath. For some patients a
part of one lesion is under-dosed (a cap of the lesion cut by a plane), a risk factor of the
outcome model. The dose is computed on a coarser grid and interpolated onto the planning CT.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import distance_transform_edt
from scipy.optimize import brentq
from scipy.special import erfc

from radiomics_hnc.geometry import Grid
from radiomics_hnc.synth.anatomy import AIR, BONE, METAL, Phantom
from radiomics_hnc.synth.grids import Scan
from radiomics_hnc.synth.lesions import Lesion, paint_lesions
from radiomics_hnc.synth.shapes import Union, tube

HIGH_DOSE_GY, ELECTIVE_DOSE_GY, BATH_GY = 70.0, 54.0, 3.0
PTV_MARGIN_MM, PENUMBRA_MM = 7.0, 4.0
#: Elective nodal volume: the left and right level II-IV node chains along the neck.
ELECTIVE_NECK = Union((tube([(-32, 5, -95), (-34, 5, 30)], (15.0, 19.0)),
                       tube([(32, 5, -95), (34, 5, 30)], (15.0, 19.0))))


def sample_setup(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rigid offset of the planning scan: rotation (about 1.5 degrees SD per axis), shift (mm)."""
    ax, ay, az = np.deg2rad(rng.normal(0, 1.5, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx, rng.normal(0, 3.0, 3)


def cap_height(fraction: float) -> float:
    """Normalised plane offset ``q`` cutting a unit sphere's cap of volume ``fraction``."""
    return float(brentq(lambda q: (1 - q) ** 2 * (2 + q) / 4 - fraction, -1.0, 1.0))


def _falloff(distance_mm: np.ndarray, level_gy: float, margin_mm: float) -> np.ndarray:
    """Dose (Gy) at ``distance_mm`` from a target: ``level_gy`` inside, falling past the margin."""
    width = np.sqrt(2) * PENUMBRA_MM
    return level_gy * erfc((distance_mm - margin_mm) / width) / erfc(-margin_mm / width)


def dose_image(
    planning: Scan, phantom: Phantom, lesions: list[Lesion],
    underdose: tuple[int, float, np.ndarray, float] | None, dose_spacing_mm: float,
) -> sitk.Image:
    """RTDOSE (Gy, float32) on the planning CT grid.

    Parameters
    ----------
    underdose
        ``(lesion index, fraction of its volume, cut direction, dose level in Gy)`` or None.
    dose_spacing_mm
        Isotropic spacing of the grid the dose is computed on before interpolation.
    """
    grid = planning.grid
    low = np.array(grid.origin) - np.array(grid.spacing) / 2
    extent = np.array(grid.size) * np.array(grid.spacing)
    size = tuple(int(n) for n in np.ceil(extent / dose_spacing_mm))
    coarse = replace(planning, grid=Grid(size, (dose_spacing_mm,) * 3,  # type: ignore[arg-type]
                                         tuple(low + dose_spacing_mm / 2)))
    shape = coarse.grid.shape
    body = np.zeros(shape, bool)
    gtv = np.zeros(shape, bool)
    elective = np.zeros(shape, bool)
    cut = np.zeros(shape, bool)
    inside_body = np.arange(len(phantom.tissues)) > 0
    soft = ~phantom.kind_mask(AIR, BONE, METAL)
    for z, region in coarse.slabs():
        tissue = phantom.paint(region)
        body[z] = inside_body[tissue]
        hu, suv = phantom.hu_table[tissue], phantom.suv_table[tissue]
        gtv[z] = paint_lesions(region, lesions, hu, suv, soft[tissue]) > 0
        points = region.points
        elective[z] = ELECTIVE_NECK.inside(points) & body[z]
        if underdose is not None:
            lesion = lesions[underdose[0]]
            offset = points - lesion.center
            height = cap_height(underdose[1]) * lesion.radius
            near = np.linalg.norm(offset, axis=-1) <= lesion.reach + 8.0
            cut[z] = near & (offset @ underdose[2] > height)
    sampling = coarse.grid.spacing[::-1]
    high = _falloff(distance_transform_edt(~gtv, sampling=sampling), HIGH_DOSE_GY, PTV_MARGIN_MM)
    if underdose is not None:
        high = np.where(cut, np.minimum(high, underdose[3]), high)
    neck = _falloff(distance_transform_edt(~elective, sampling=sampling), ELECTIVE_DOSE_GY, 2.0)
    dose = np.maximum(np.maximum(high, neck), BATH_GY * body) * np.where(body, 1.0, 0.3)
    coarse_image = coarse.grid.image(dose.astype(np.float32))
    return sitk.Resample(coarse_image, grid.reference(), sitk.Transform(), sitk.sitkLinear, 0.0,
                         sitk.sitkFloat32)
