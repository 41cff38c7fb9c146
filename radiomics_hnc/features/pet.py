"""PET lesion masks on the PET grid and the conventional SUV metrics clinicians report.

Definitions (all on the PET image's own grid, SUV body weight):

- mask on the PET grid: a PET voxel belongs to the lesion when at least half of its volume lies
  inside the CT-grid lesion mask. The fraction is measured by testing a regular lattice of
  sub-voxel points (``ceil(PET spacing / CT spacing)`` per axis, at least 2) against the CT mask
  (nearest CT voxel), so a node a few CT voxels wide is not lost or doubled by the coarser grid;
- SUVmax, SUVmean: maximum and mean SUV of the lesion's PET voxels;
- SUVpeak: mean SUV of the PET voxels whose centres lie within the 1 ml sphere (radius
  6.20 mm) centred on the lesion's hottest voxel, including voxels outside the lesion (the
  sphere is the 1 cm^3 region of PERCIST placed on SUVmax rather than searched for); when
  several voxels hold SUVmax, the highest of their spheres' means (IBSI's local intensity
  peak);
- MTV: the lesion's volume on the PET grid (ml): the metabolic volume is the delineated GTV,
  as in HECKTOR, not a threshold on SUV;
- TLG: SUVmean x MTV (SUV x ml).
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomics_hnc.features.geometry import LesionMask, Region, crop
from radiomics_hnc.geometry import Grid

#: Radius (mm) of the 1 ml sphere used for SUVpeak: (3 / (4 pi))^(1/3) cm.
PEAK_RADIUS_MM = 10.0 * (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
_MIN_SUBSAMPLES = 2
_MAX_SUBSAMPLES = 8


def mask_on_grid(mask: LesionMask, target: Grid) -> LesionMask | None:
    """Map a lesion mask onto another grid by partial volume (>= 50 % of each voxel inside).

    Returns ``None`` when no target voxel is at least half inside the lesion.
    """
    factors = [
        int(min(_MAX_SUBSAMPLES, max(_MIN_SUBSAMPLES, math.ceil(t / s - 1e-6))))
        for t, s in zip(target.spacing, mask.grid.spacing, strict=True)
    ]
    corners = [mask.grid.index_to_point(np.array(c) + d)
               for c in (mask.region.lower, mask.region.upper) for d in (-0.5, 0.5)]
    indices = np.array([target.point_to_index(p) for p in corners])
    box = Region(tuple(int(v) for v in np.floor(indices.min(axis=0))),
                 tuple(int(v) for v in np.ceil(indices.max(axis=0))))
    box = box.padded(1, target)
    if np.any(np.array(box.upper) < np.array(box.lower)):
        return None
    sub_spacing = tuple(s / f for s, f in zip(target.spacing, factors, strict=True))
    first_point = target.index_to_point(
        np.array(box.lower) - 0.5 + 0.5 / np.array(factors, dtype=float))
    sub = Grid(tuple(n * f for n, f in zip(box.size, factors, strict=True)), sub_spacing,
               tuple(first_point), target.direction)
    source = mask.to_image(mask.region.padded(1, mask.grid))
    resampler = sitk.ResampleImageFilter()
    resampler.SetOutputSpacing(sub.spacing)
    resampler.SetOutputOrigin(sub.origin)
    resampler.SetOutputDirection(sub.direction)
    resampler.SetSize(list(sub.size))
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    inside = sitk.GetArrayFromImage(resampler.Execute(source)).astype(np.float32)
    nz, ny, nx = box.size[::-1]
    fz, fy, fx = factors[::-1]
    fraction = inside.reshape(nz, fz, ny, fy, nx, fx).mean(axis=(1, 3, 5))
    binary = np.zeros(target.size[::-1], dtype=bool)
    binary[box.slices()] = fraction >= 0.5
    return LesionMask.from_array(binary, target)


def suv_metrics(pet: sitk.Image, mask: LesionMask) -> dict[str, float]:
    """SUVmax, SUVmean, SUVpeak, MTV (ml) and TLG (SUV x ml) of a lesion on the PET grid.

    ``pet`` is the PET image in SUV (full, or any crop containing the lesion and the peak
    sphere); ``mask`` is the lesion on the PET grid (see :func:`mask_on_grid`).
    """
    grid = mask.grid
    reach = np.ceil(PEAK_RADIUS_MM / np.array(grid.spacing)).astype(int)
    region = mask.region.padded(reach, grid)
    suv = sitk.GetArrayFromImage(crop(pet, grid, region)).astype(np.float64)
    inside = np.zeros(suv.shape, dtype=bool)
    offset = np.array(mask.region.lower) - np.array(region.lower)
    inside[Region(tuple(int(v) for v in offset),
                  tuple(int(v) for v in offset + np.array(mask.region.size) - 1)).slices()] = \
        mask.array
    values = suv[inside]
    # Several voxels may hold SUVmax: the peak is the highest of their spheres (IBSI's local
    # intensity peak; the first one found would make SUVpeak depend on the scan order).
    hottest = inside & (suv == values.max())
    peak = sphere_means(suv, grid.spacing[::-1], PEAK_RADIUS_MM)[hottest].max()
    return {
        "SUVmax": float(values.max()),
        "SUVmean": float(values.mean()),
        "SUVpeak": float(peak),
        "MTV": mask.volume_ml(),
        "TLG": float(values.mean()) * mask.volume_ml(),
    }


def sphere_means(values: np.ndarray, spacing_zyx: tuple[float, ...],
                 radius_mm: float) -> np.ndarray:
    """For every voxel, the mean of the voxels of ``values`` whose centres lie within
    ``radius_mm`` of its centre (voxels beyond the array's edge are not counted)."""
    reach = np.floor(radius_mm / np.asarray(spacing_zyx) + 1e-9).astype(int)
    axes = [np.arange(-r, r + 1) * s for r, s in zip(reach, spacing_zyx, strict=True)]
    dz, dy, dx = np.meshgrid(*axes, indexing="ij")
    sphere = (dz**2 + dy**2 + dx**2 <= radius_mm**2).astype(np.float64)
    sums = ndimage.correlate(values, sphere, mode="constant", cval=0.0)
    counts = ndimage.correlate(np.ones_like(values), sphere, mode="constant", cval=0.0)
    return sums / counts
