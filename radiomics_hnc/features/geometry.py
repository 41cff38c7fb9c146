"""Lesion masks stored as a bounding-box crop of a larger image grid.

A full-size CT is ~512x512x150 voxels while a lesion spans a few thousand, so lesion masks are
kept as the boolean array of their bounding box plus where that box sits on the full grid. The
grid arithmetic that must match PyRadiomics exactly works on
:class:`~radiomics_hnc.geometry.Grid` (the full image's geometry), never on the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from radiomics_hnc.geometry import Grid


@dataclass(frozen=True)
class Region:
    """An inclusive index box ``lower..upper`` (x, y, z) on a :class:`Grid`."""

    lower: tuple[int, int, int]
    upper: tuple[int, int, int]

    @property
    def size(self) -> tuple[int, int, int]:
        return tuple(int(u - lo + 1) for lo, u in zip(self.lower, self.upper, strict=True))

    def padded(self, margin: np.ndarray | int, grid: Grid) -> Region:
        """This box grown by ``margin`` voxels per axis, clamped to the grid."""
        margin = np.broadcast_to(np.asarray(margin, dtype=int), (3,))
        lower = np.maximum(np.array(self.lower) - margin, 0)
        upper = np.minimum(np.array(self.upper) + margin, np.array(grid.size) - 1)
        return Region(tuple(int(v) for v in lower), tuple(int(v) for v in upper))

    def slices(self) -> tuple[slice, slice, slice]:
        """numpy (z, y, x) slices of this box."""
        return tuple(slice(lo, u + 1) for lo, u in zip(self.lower[::-1], self.upper[::-1],
                                                      strict=True))


def crop(image: sitk.Image, grid: Grid, region: Region) -> sitk.Image:
    """The part of ``image`` inside ``region`` of ``grid``.

    ``image`` may be the full image on ``grid`` or any sub-image of it that contains the
    region (its own index offset is found from its origin), so callers can pass either.
    """
    offset = np.rint(grid.point_to_index(image.GetOrigin())).astype(int)
    lower = np.array(region.lower) - offset
    upper = np.array(region.upper) - offset + 1
    if np.any(lower < 0) or np.any(upper > np.array(image.GetSize())):
        raise ValueError(f"region {region} is not inside the given image")
    return image[lower[0]:upper[0], lower[1]:upper[1], lower[2]:upper[2]]


def region_image(grid: Grid, region: Region, pixel_type: int = sitk.sitkFloat32) -> sitk.Image:
    """An empty image covering ``region`` of ``grid`` (a resampling reference)."""
    image = sitk.Image(list(region.size), pixel_type)
    image.SetSpacing(grid.spacing)
    image.SetDirection(grid.direction)
    image.SetOrigin(grid.index_to_point(region.lower))
    return image


@dataclass(frozen=True)
class LesionMask:
    """A binary lesion mask: its bounding-box array (numpy z, y, x) placed on a full grid.

    ``source``, when given, is a full-grid label image in which this lesion is exactly the
    voxels equal to ``source_value`` (e.g. one patient's lesion index map, built once).
    """

    grid: Grid
    region: Region
    array: np.ndarray
    source: sitk.Image | None = None
    source_value: int = 1

    @classmethod
    def from_array(cls, binary: np.ndarray, grid: Grid) -> LesionMask | None:
        """From a full-grid boolean array (numpy z, y, x); ``None`` when it is empty."""
        if not binary.any():
            return None
        zyx = [np.flatnonzero(binary.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
        region = Region(tuple(int(a[0]) for a in zyx[::-1]),
                        tuple(int(a[-1]) for a in zyx[::-1]))
        return cls(grid, region, np.ascontiguousarray(binary[region.slices()]))

    @classmethod
    def from_image(cls, mask: sitk.Image) -> LesionMask:
        """From a full-size binary image (any non-zero voxel is inside)."""
        lesion = cls.from_array(sitk.GetArrayViewFromImage(mask) != 0, Grid.of(mask))
        if lesion is None:
            raise ValueError("the mask is empty")
        return lesion

    @property
    def voxel_count(self) -> int:
        return int(self.array.sum())

    def volume_ml(self) -> float:
        """Volume in ml: voxel count times voxel volume."""
        return self.voxel_count * self.grid.voxel_volume_ml()

    def centroid_mm(self) -> tuple[float, float, float]:
        """Physical centroid (mm) of the mask's voxel centres."""
        zyx = np.argwhere(self.array).mean(axis=0)
        return tuple(float(v) for v in self.grid.index_to_point(
            zyx[::-1] + np.array(self.region.lower)))

    def to_image(self, region: Region, value: int = 1) -> sitk.Image:
        """The mask as a UInt8 image covering ``region`` (which must contain the mask's box)."""
        out = np.zeros(region.size[::-1], dtype=np.uint8)
        start = np.array(self.region.lower) - np.array(region.lower)
        if np.any(start < 0) or np.any(start + self.region.size > np.array(region.size)):
            raise ValueError("the region does not contain the lesion")
        box = Region(tuple(int(v) for v in start),
                     tuple(int(v) for v in start + np.array(self.region.size) - 1))
        out[box.slices()] = self.array.astype(np.uint8) * value
        image = sitk.GetImageFromArray(out)
        image.SetSpacing(self.grid.spacing)
        image.SetDirection(self.grid.direction)
        image.SetOrigin(self.grid.index_to_point(region.lower))
        return image

    def full_grid_source(self) -> tuple[sitk.Image, int]:
        """A full-grid image and the value marking this lesion in it."""
        if self.source is not None:
            return self.source, self.source_value
        return self.to_full_image(1), 1

    def to_full_image(self, value: int = 1) -> sitk.Image:
        """The mask on its whole grid (for writing a mask file, e.g. for PyRadiomics' CLI)."""
        return self.to_image(Region((0, 0, 0), tuple(s - 1 for s in self.grid.size)), value)
