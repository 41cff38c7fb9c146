"""Analytic shapes of the phantom, evaluated only where they can be.

Every shape knows its bounding box (mm, anatomical frame) and answers ``inside(points)`` for an
array of points (..., 3). A :class:`Region` (the points of one slab of a scan) turns a bounding
box into the smallest block of its voxels that can hold points of the box, so that a small
structure costs only its own block: a phantom of a few hundred structures renders about as fast
as one of a dozen that cover the whole image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

Box = tuple[np.ndarray, np.ndarray]
Block = tuple[slice, slice, slice]


class Region:
    """The points (z, y, x, 3) of a slab, with the coordinate range of every index plane.

    The ranges make :meth:`block` exact for axis-aligned grids and conservative for rotated or
    warped ones (a block may hold points outside the box, never miss one inside).
    """

    def __init__(self, points: np.ndarray) -> None:
        self.points = points
        self._low = self._ranges(points, np.minimum)
        self._high = self._ranges(points, np.maximum)

    @staticmethod
    def _ranges(points: np.ndarray, reduce: np.ufunc) -> list[np.ndarray]:
        """Per z, y and x index: the reduced (min or max) coordinates of its plane. Reduces
        along z and y first (fast: contiguous), then the small remainders."""
        over_y = reduce.reduce(points, axis=1)  # (z, x, 3)
        over_z = reduce.reduce(points, axis=0)  # (y, x, 3)
        return [reduce.reduce(over_y, axis=1), reduce.reduce(over_z, axis=1),
                reduce.reduce(over_y, axis=0)]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.points.shape[:-1]

    def block(self, low: np.ndarray, high: np.ndarray) -> Block | None:
        """Index block holding every point of the box ``[low, high]``, or None if none can."""
        slices = []
        for low_plane, high_plane in zip(self._low, self._high, strict=True):
            hits = np.flatnonzero(np.all((high_plane >= low) & (low_plane <= high), axis=1))
            if not len(hits):
                return None
            slices.append(slice(int(hits[0]), int(hits[-1]) + 1))
        return tuple(slices)  # type: ignore[return-value]


class Shape:
    """A solid: its bounding box and a point test. Composite shapes split into ``parts``."""

    def bounds(self) -> Box:
        raise NotImplementedError

    def inside(self, points: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def parts(self) -> Iterator[Shape]:
        """Pieces painted one at a time, each within its own bounding box."""
        yield self


def _local(points: np.ndarray, origin: np.ndarray, basis: np.ndarray) -> list[np.ndarray]:
    """Coordinates of ``points`` along the rows of ``basis`` from ``origin`` (float32, written
    out per component: numpy's reductions over a last axis of 3 are slow)."""
    d = [points[..., j] - np.float32(origin[j]) for j in range(3)]
    return [d[0] * np.float32(b[0]) + d[1] * np.float32(b[1]) + d[2] * np.float32(b[2])
            for b in basis]


@dataclass(frozen=True)
class Ellipsoid(Shape):
    """An ellipsoid: centre and semi-axes (mm), optionally turned by ``rotation`` (columns are
    the directions of the semi-axes)."""

    center: np.ndarray
    axes: np.ndarray
    rotation: np.ndarray | None = None

    def bounds(self) -> Box:
        axes = np.asarray(self.axes, float)
        if self.rotation is None:
            half = axes
        else:
            half = np.sqrt(((np.asarray(self.rotation) * axes) ** 2).sum(axis=1))
        center = np.asarray(self.center, float)
        return center - half, center + half

    def inside(self, points: np.ndarray) -> np.ndarray:
        basis = np.eye(3) if self.rotation is None else np.asarray(self.rotation).T
        u, v, w = (c * np.float32(1 / a) for c, a in zip(
            _local(points, self.center, basis), self.axes, strict=True))
        return u * u + v * v + w * w <= 1.0


def ellipsoid(center: Sequence[float], axes: Sequence[float],
              tilt_deg: tuple[float, float, float] | None = None) -> Ellipsoid:
    """An ellipsoid, turned by ``tilt_deg`` (degrees about x, y and z) when given."""
    rotation = None if tilt_deg is None else rotation_matrix(*np.deg2rad(tilt_deg))
    return Ellipsoid(np.asarray(center, float), np.asarray(axes, float), rotation)


def rotation_matrix(about_x: float, about_y: float, about_z: float) -> np.ndarray:
    """Rotation (radians) about x, then y, then z."""
    cx, sx, cy, sy, cz, sz = (np.cos(about_x), np.sin(about_x), np.cos(about_y),
                              np.sin(about_y), np.cos(about_z), np.sin(about_z))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Segment(Shape):
    """One piece of a :class:`Tube`: a straight run with elliptic cross-sections whose radii
    change linearly from one end to the other, and rounded ends.

    ``frame`` holds the unit vectors along the run, across it in the horizontal plane (x for a
    vertical run) and the third (y for a vertical run, z for a horizontal one); the two radii
    are along the second and third. ``flat`` cuts the ends square instead of rounding them.
    """

    start: np.ndarray
    end: np.ndarray
    radii_start: np.ndarray
    radii_end: np.ndarray
    flat: bool = False

    def bounds(self) -> Box:
        reach = float(max(self.radii_start.max(), self.radii_end.max()))
        low = np.minimum(self.start, self.end) - reach
        return low, np.maximum(self.start, self.end) + reach

    @cached_property
    def frame(self) -> np.ndarray:
        tangent = (self.end - self.start) / self.length
        reference = np.array([0.0, 0.0, 1.0]) if abs(tangent[2]) < 0.7 else np.array(
            [0.0, 1.0, 0.0])
        across = np.cross(tangent, reference)
        across /= np.linalg.norm(across)
        return np.array([tangent, across, np.cross(across, tangent)])

    @cached_property
    def length(self) -> float:
        return float(np.linalg.norm(self.end - self.start))

    def inside(self, points: np.ndarray) -> np.ndarray:
        along, across, other = _local(points, self.start, self.frame)
        t = np.clip(along * np.float32(1 / self.length), 0.0, 1.0)
        beyond = along - t * np.float32(self.length)  # non-zero only past the rounded ends
        r0, r1 = self.radii_start.astype(np.float32), self.radii_end.astype(np.float32)
        radius_across = r0[0] + t * (r1[0] - r0[0])
        radius_other = r0[1] + t * (r1[1] - r0[1])
        across /= radius_across
        other /= radius_other
        if self.flat:
            return (across * across + other * other <= 1.0) & (beyond == 0)
        beyond /= np.minimum(radius_across, radius_other)
        return across * across + other * other + beyond * beyond <= 1.0


@dataclass(frozen=True)
class Tube(Shape):
    """A tube along a polyline (airway, vessels, mandible, muscles): control points (mm) and
    the two cross-section radii (mm) at each (see :class:`Segment` for their directions)."""

    path: np.ndarray
    radii: np.ndarray
    flat: bool = False

    def bounds(self) -> Box:
        reach = float(self.radii.max())
        return self.path.min(axis=0) - reach, self.path.max(axis=0) + reach

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(Segment(self.path[k], self.path[k + 1], self.radii[k], self.radii[k + 1],
                             self.flat) for k in range(len(self.path) - 1))

    def inside(self, points: np.ndarray) -> np.ndarray:
        result = np.zeros(points.shape[:-1], bool)
        for segment in self.segments:
            result |= segment.inside(points)
        return result

    def parts(self) -> Iterator[Shape]:
        yield from self.segments


def tube(path: Sequence[Sequence[float]] | np.ndarray,
         radii: float | Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
         flat: bool = False) -> Tube:
    """A :class:`Tube`. ``radii``: one radius, one ``(across, other)`` pair for the whole tube,
    or a pair per control point; ``flat``: square ends (a straight one is a cylinder)."""
    path_array = np.asarray(path, float)
    array = np.asarray(radii, float)
    if array.ndim == 0:
        array = np.full(2, float(array))
    if array.ndim == 1:
        array = np.tile(array, (len(path_array), 1))
    if array.shape != (len(path_array), 2):
        raise ValueError(f"tube needs one radius pair per control point, got {array.shape}")
    return Tube(path_array, array, flat)


@dataclass(frozen=True)
class Box3(Shape):
    """An axis-aligned box (mm)."""

    low: np.ndarray
    high: np.ndarray

    def bounds(self) -> Box:
        return np.asarray(self.low, float), np.asarray(self.high, float)

    def inside(self, points: np.ndarray) -> np.ndarray:
        return np.all((points >= np.asarray(self.low, np.float32))
                      & (points <= np.asarray(self.high, np.float32)), axis=-1)


@dataclass(frozen=True)
class Outline(Shape):
    """A body outline whose cross-section changes along z: at each level of ``z`` a
    super-ellipse with centre ``cy``, half-width ``ax``, front and back half-depths ``front`` and
    ``back`` and exponent ``power`` (2 an ellipse, larger a rounder box), linearly in between;
    every length grows by ``margin`` (mm at each level)."""

    z: np.ndarray
    cy: np.ndarray
    ax: np.ndarray
    front: np.ndarray
    back: np.ndarray
    power: np.ndarray
    margin: np.ndarray = field(default_factory=lambda: np.zeros(1))

    #: Step (mm) of the lookup tables that replace interpolation at every point.
    STEP_MM = 0.5

    def _margin(self) -> np.ndarray:
        return np.broadcast_to(self.margin, self.z.shape)

    def bounds(self) -> Box:
        margin = self._margin()
        half = float((self.ax + margin).max())
        low = np.array([-half, float((self.cy - self.front - margin).min()), self.z[0]])
        high = np.array([half, float((self.cy + self.back + margin).max()), self.z[-1]])
        return low, high

    @cached_property
    def tables(self) -> list[np.ndarray]:
        """Centre, half-width, front and back depths and exponent every ``STEP_MM`` along z."""
        levels = np.arange(self.z[0], self.z[-1] + self.STEP_MM, self.STEP_MM)
        margin = self._margin()
        return [np.interp(levels, self.z, values).astype(np.float32) for values in (
            self.cy, self.ax + margin, self.front + margin, self.back + margin, self.power)]

    def inside(self, points: np.ndarray) -> np.ndarray:
        z = points[..., 2]
        cy, ax, front, back, power = self.tables
        row = np.clip(((z - np.float32(self.z[0])) * np.float32(1 / self.STEP_MM)
                       + 0.5).astype(np.int32), 0, len(cy) - 1)
        dy = points[..., 1] - cy[row]
        depth = np.where(dy < 0, front[row], back[row])
        exponent = power[row]
        level = (np.abs(points[..., 0]) / ax[row]) ** exponent + (np.abs(dy) / depth) ** exponent
        return (level <= 1.0) & (z >= self.z[0]) & (z <= self.z[-1])


@dataclass(frozen=True)
class Union(Shape):
    """Points inside any of ``members`` (each painted within its own box)."""

    members: tuple[Shape, ...]

    def bounds(self) -> Box:
        boxes = [m.bounds() for m in self.members]
        return (np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0))

    def inside(self, points: np.ndarray) -> np.ndarray:
        result = np.zeros(points.shape[:-1], bool)
        for member in self.members:
            result |= member.inside(points)
        return result

    def parts(self) -> Iterator[Shape]:
        for member in self.members:
            yield from member.parts()


@dataclass(frozen=True)
class Intersection(Shape):
    """Points inside every one of ``members``."""

    members: tuple[Shape, ...]

    def bounds(self) -> Box:
        boxes = [m.bounds() for m in self.members]
        return (np.max([b[0] for b in boxes], axis=0), np.min([b[1] for b in boxes], axis=0))

    def inside(self, points: np.ndarray) -> np.ndarray:
        result = self.members[0].inside(points)
        for member in self.members[1:]:
            result &= member.inside(points)
        return result


#: Bounding-box half extent (mm) of the unbounded shapes.
UNBOUNDED_MM = 1.0e4


@dataclass(frozen=True)
class Above(Shape):
    """The half-space above a floor whose height (mm) changes along y (piecewise linear through
    ``(y, z)``): the skull base under the brain."""

    y: np.ndarray
    z: np.ndarray

    def bounds(self) -> Box:
        return (np.array([-UNBOUNDED_MM, -UNBOUNDED_MM, float(self.z.min())]),
                np.full(3, UNBOUNDED_MM))

    def inside(self, points: np.ndarray) -> np.ndarray:
        return points[..., 2] >= np.interp(points[..., 1], self.y, self.z)
