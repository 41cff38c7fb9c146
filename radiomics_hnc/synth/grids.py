"""Image grids of the generated scans and the scanner frame each was acquired in.

A :class:`~radiomics_hnc.geometry.Grid` (identity direction here) maps voxel indices to
physical points (mm, ITK/LPS); a :class:`Scan` adds the rigid transform to the *diagnostic*
frame in which the phantom is defined. The planning CT is a different scan: it carries the
rigid set-up offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from radiomics_hnc.geometry import Grid
from radiomics_hnc.synth.anatomy import Posture
from radiomics_hnc.synth.centers import CT_EXTENT_MM, FOV_CENTER_MM, SCALE_FACTOR, CenterProfile
from radiomics_hnc.synth.shapes import Region

#: PET voxels are this much coarser at the small scale.
PET_SMALL_FACTOR = 1.3
#: Points per slab: whole slices, about this many points at a time (memory-light).
SLAB_POINTS = 4_000_000


@dataclass(frozen=True)
class Scan:
    """A scan's axis-aligned voxel grid and where its scanner frame sits in the diagnostic frame.

    ``rotation`` and ``translation`` (mm) map this scan's physical points into the diagnostic
    frame: ``p_diag = rotation @ (p - pivot) + pivot + translation``; the patient's
    ``posture`` then maps diagnostic points into the anatomical frame of the phantom.
    """

    grid: Grid
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pivot: np.ndarray = field(default_factory=lambda: np.array(FOV_CENTER_MM))
    posture: Posture | None = None

    def axes(self) -> list[np.ndarray]:
        """Physical coordinates (mm) of the voxel centres along x, y and z."""
        grid = self.grid
        return [o + s * np.arange(n) for o, s, n in zip(grid.origin, grid.spacing, grid.size,
                                                         strict=True)]

    def slabs(self) -> Iterator[tuple[slice, Region]]:
        """Yield ``(z slice, region)``: the anatomical-frame points (z, y, x, 3) of a slab of
        whole slices (the diagnostic frame when the scan has no posture)."""
        x, y, z = (axis - c for axis, c in zip(self.axes(), self.pivot, strict=True))
        shift = self.pivot + self.translation
        matrix = self.rotation
        slices = max(1, SLAB_POINTS // (len(x) * len(y)))
        for start in range(0, self.grid.size[2], slices):
            zs = z[start:start + slices]
            points = np.empty((len(zs), len(y), len(x), 3), dtype=np.float32)
            for i in range(3):  # rotation @ (p - pivot) + pivot + translation, axis by axis
                points[..., i] = (matrix[i, 0] * x[None, None, :] + matrix[i, 1] * y[None, :, None]
                                  + (matrix[i, 2] * zs + shift[i])[:, None, None])
            if self.posture is not None:
                points = self.posture.to_anatomy(points)
            yield slice(start, start + len(zs)), Region(points)

    def refined(self, factor: int) -> Scan:
        """The same box sampled ``factor`` times finer (for partial-volume averaging)."""
        grid = self.grid
        spacing = tuple(s / factor for s in grid.spacing)
        origin = tuple(o - s / 2 + f / 2 for o, s, f in zip(grid.origin, grid.spacing, spacing,
                                                             strict=True))
        size = tuple(n * factor for n in grid.size)
        return replace(self, grid=Grid(size, spacing, origin))  # type: ignore[arg-type]


def box_grid(
    spacing: tuple[float, float, float],
    extent: tuple[float, float, float],
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Grid:
    """A grid covering ``extent`` (mm) around the field-of-view centre, moved by ``shift`` mm."""
    size = tuple(max(4, round(e / s)) for e, s in zip(extent, spacing, strict=True))
    origin = tuple(
        c + d - n * s / 2 + s / 2
        for c, d, n, s in zip(FOV_CENTER_MM, shift, size, spacing, strict=True)
    )
    return Grid(size, spacing, origin)  # type: ignore[arg-type]


def ct_grid(profile: CenterProfile, scale: str) -> Grid:
    """The diagnostic CT grid of a centre (full: about 512 x 512 x 150 at 1 x 1 x 3 mm)."""
    fxy, fz = SCALE_FACTOR[scale]
    spacing = (profile.ct_spacing_xy * fxy,) * 2 + (profile.ct_slice_mm * fz,)
    extent = CT_EXTENT_MM[scale]
    if scale == "full":  # a 512-pixel matrix whatever the pixel size, like the scanners
        extent = (512 * spacing[0], 512 * spacing[1], extent[2])
    return box_grid(spacing, extent)  # type: ignore[arg-type]


def pet_grid(profile: CenterProfile, scale: str) -> Grid:
    """The PET grid: its own voxel size and origin, covering the same region as the CT."""
    factor = PET_SMALL_FACTOR if scale == "small" else 1.0
    spacing = (profile.pet_spacing_xy * factor,) * 2 + (profile.pet_slice_mm * factor,)
    extent = CT_EXTENT_MM[scale]
    extent = (extent[0] + 20.0, extent[1] + 20.0, extent[2] - 8.0)
    return box_grid(spacing, extent, shift=(0.7, -1.3, 2.1))  # type: ignore[arg-type]


def planning_grid(scale: str) -> Grid:
    """Planning CT grid (1.17 x 1.17 x 3 mm at full scale; its rigid set-up offset is the
    :class:`Scan`'s)."""
    spacing = (1.17, 1.17, 3.0) if scale == "full" else (3.5, 3.5, 4.5)
    extent = CT_EXTENT_MM[scale]
    return box_grid(spacing, (extent[0] - 20.0, extent[1] - 20.0, extent[2]),
                    shift=(-1.1, 2.3, -3.0))


def downsample_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Block mean of a (z, y, x) array by an integer ``factor`` along every axis."""
    z, y, x = (n // factor for n in array.shape)
    blocks = array[: z * factor, : y * factor, : x * factor]
    return blocks.reshape(z, factor, y, factor, x, factor).mean(axis=(1, 3, 5))
