"""Image geometry shared by validate, segment, features and synth: the :class:`Grid` of an
image, its physical extent, and the one rule for "is this image on that image's voxel grid".

Axis order: SimpleITK sizes, spacings, origins and points are (x, y, z); numpy arrays of an
image (``sitk.GetArrayFromImage``) are (z, y, x). :class:`Grid` fields are (x, y, z) and
:attr:`Grid.shape` is the numpy (z, y, x) shape.

Same grid
---------
A label map is used voxel by voxel with its CT: voxel (i, j, k) of the label marks voxel
(i, j, k) of the CT. That pairing is right when the two grids put every voxel centre at the
same physical point. Headers written by different tools differ in rounding (NIfTI stores the
origin as 32-bit floats; DICOM converters round spacings), so equality is too strict; a label
resampled with the corner-instead-of-centre convention is half a voxel off and must be refused.

The rule: same size, and every voxel centre of the image lies within
:data:`GRID_TOLERANCE_VOXELS` voxels (along each axis of the reference grid) of the reference's
voxel centre with the same index. One number covers origin, spacing and direction together (a
spacing or direction difference displaces the far corner most, so the eight corners are
checked).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

#: Largest accepted displacement of a voxel centre, in voxels of the reference grid. Header
#: rounding moves centres by less than 1e-4 voxel; the commonest real error (corner versus
#: centre convention) by 0.5 voxel. A tenth of a voxel is far from both, and below it the
#: displacement (0.1 x 3 mm = 0.3 mm for a coarse CT slice) is well under contouring precision.
GRID_TOLERANCE_VOXELS = 0.1


#: Direction cosines of an axis-aligned grid (ITK's row-major 3 x 3 identity).
IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Grid:
    """Geometry of a 3-D image: size (voxels), spacing (mm), origin (mm, the centre of voxel
    (0, 0, 0)) and direction cosines (row-major 3 x 3), all in ITK (x, y, z) order."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = IDENTITY_DIRECTION

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        """The grid of a SimpleITK image."""
        return cls(tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()),
                   tuple(image.GetDirection()))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Numpy array shape (z, y, x) of an image on this grid."""
        return self.size[2], self.size[1], self.size[0]

    def _place(self, image: sitk.Image) -> sitk.Image:
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def header(self) -> sitk.Image:
        """A 1-voxel image carrying this geometry, for ITK's index/physical transforms."""
        return self._place(sitk.Image(1, 1, 1, sitk.sitkUInt8))

    def reference(self, pixel_type: int = sitk.sitkUInt8) -> sitk.Image:
        """An empty image of this size and geometry (a resampling reference)."""
        return self._place(sitk.Image([int(n) for n in self.size], pixel_type))

    def image(self, array: np.ndarray) -> sitk.Image:
        """A (z, y, x) numpy array as an image on this grid."""
        if array.shape != self.shape:
            raise ValueError(f"array shape {array.shape} does not match the grid's {self.shape}")
        return self._place(sitk.GetImageFromArray(array))

    def index_to_point(self, index: np.ndarray | Sequence[float]) -> tuple[float, ...]:
        """Physical point (mm) of a continuous index (x, y, z)."""
        return self.header().TransformContinuousIndexToPhysicalPoint([float(v) for v in index])

    def point_to_index(self, point: Sequence[float]) -> np.ndarray:
        """Continuous index (x, y, z) of a physical point (mm)."""
        return np.array(self.header().TransformPhysicalPointToContinuousIndex(
            [float(v) for v in point]))

    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in ml (cm^3)."""
        return float(np.prod(self.spacing)) / 1000.0


def physical_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper (x, y, z) corners, mm, of the axis-aligned box enclosing the image's
    voxels (their edges, half a voxel beyond the outermost centres)."""
    size = np.asarray(image.GetSize())
    points = np.array([
        image.TransformContinuousIndexToPhysicalPoint(
            [float(c) for c in np.where(bits, size - 0.5, -0.5)])
        for bits in np.ndindex(2, 2, 2)
    ])
    return points.min(axis=0), points.max(axis=0)


@dataclass(frozen=True)
class GridMismatch:
    """How an image's grid differs from a reference grid: the properties that differ, as text.

    ``expected`` holds the reference's values and ``found`` the image's, with enough digits to
    see the difference; ``shift_voxels`` is the largest voxel-centre displacement (infinite
    when the sizes differ).
    """

    expected: str
    found: str
    shift_voxels: float


def _geometry(image: sitk.Image) -> dict[str, tuple]:
    return {"size": tuple(image.GetSize()), "spacing": tuple(image.GetSpacing()),
            "origin": tuple(image.GetOrigin()), "direction": tuple(image.GetDirection())}


def _affine(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, origin) mapping a voxel index (x, y, z) to a physical point (mm)."""
    dimension = image.GetDimension()
    direction = np.array(image.GetDirection()).reshape(dimension, dimension)
    return direction * np.array(image.GetSpacing()), np.array(image.GetOrigin())


def shift_in_voxels(image: sitk.Image, reference: sitk.Image) -> float:
    """Largest distance, in reference voxels along each reference axis, between a voxel centre
    of ``image`` and the reference's voxel centre with the same index (images of equal size)."""
    matrix, origin = _affine(image)
    ref_matrix, ref_origin = _affine(reference)
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in image.GetSize()])), float)
    points = corners @ matrix.T + origin
    in_reference = np.linalg.solve(ref_matrix, (points - ref_origin).T).T
    return float(np.abs(in_reference - corners).max())


def _text(values: Sequence[float], digits: int) -> str:
    return "(" + ", ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v)
                           for v in values) + ")"


def _pair_texts(expected: Sequence[float], found: Sequence[float]) -> tuple[str, str]:
    """Both value lists with the fewest significant digits (at least 4) that tell them apart."""
    for digits in range(4, 18):
        texts = _text(expected, digits), _text(found, digits)
        if texts[0] != texts[1]:
            return texts
    return texts


def grid_mismatch(image: sitk.Image, reference: sitk.Image) -> GridMismatch | None:
    """``None`` when ``image`` is on ``reference``'s grid (see the module rule), else how not."""
    if image.GetSize() == reference.GetSize():
        shift = shift_in_voxels(image, reference)
        if shift <= GRID_TOLERANCE_VOXELS:
            return None
    else:
        shift = float("inf")
    ours, theirs = _geometry(image), _geometry(reference)
    expected, found = [], []
    for name in ours:
        if ours[name] != theirs[name]:
            wanted, got = _pair_texts(theirs[name], ours[name])
            expected.append(f"{name} {wanted}")
            found.append(f"{name} {got}")
    units = "" if np.isinf(shift) else f"; voxel centres up to {shift:.2g} voxels apart"
    return GridMismatch("; ".join(expected), "; ".join(found) + units, shift)


def same_grid(image: sitk.Image, reference: sitk.Image) -> bool:
    """True when ``image`` is on ``reference``'s grid within :data:`GRID_TOLERANCE_VOXELS`."""
    return grid_mismatch(image, reference) is None
