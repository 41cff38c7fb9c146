"""The head-and-neck phantom: tissues a segmenter must learn to tell apart from tumour.

Structures are analytic shapes in the diagnostic frame (mm, LPS: x to the patient's left,
y posterior, z superior), evaluated at arbitrary points so that the CT, the PET and the
planning CT all sample the same anatomy on their own grids. Each structure has a CT value
(HU) and an FDG uptake (SUV); later structures are painted over earlier ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Mask = Callable[[np.ndarray], np.ndarray]

AIR_HU = -1000.0


def ellipsoid(center: tuple[float, float, float], axes: tuple[float, float, float]) -> Mask:
    """Points inside an axis-aligned ellipsoid (centre and semi-axes in mm)."""
    (cx, cy, cz), (ax, ay, az) = center, axes

    def inside(p: np.ndarray) -> np.ndarray:
        z = p[..., 2]
        if z.min() > cz + az or z.max() < cz - az:  # slab entirely above or below
            return np.zeros(z.shape, bool)
        return ((p[..., 0] - cx) / ax) ** 2 + ((p[..., 1] - cy) / ay) ** 2 + (
            (z - cz) / az) ** 2 <= 1.0

    return inside


def cylinder(center_xy: tuple[float, float], axes_xy: tuple[float, float],
             z_range: tuple[float, float]) -> Mask:
    """Points inside an elliptic cylinder along z (semi-axes in mm, z limits in mm)."""
    cx, cy = center_xy
    ax, ay = axes_xy

    def inside(p: np.ndarray) -> np.ndarray:
        radial = ((p[..., 0] - cx) / ax) ** 2 + ((p[..., 1] - cy) / ay) ** 2 <= 1.0
        return radial & (p[..., 2] >= z_range[0]) & (p[..., 2] <= z_range[1])

    return inside


def union(*masks: Mask) -> Mask:
    """Points inside any of ``masks``."""
    def inside(p: np.ndarray) -> np.ndarray:
        result = masks[0](p)
        for mask in masks[1:]:
            result |= mask(p)
        return result

    return inside


def _body(margin: float) -> Mask:
    """Head, neck and shoulders, shrunk by ``margin`` mm (the skin-fat layer)."""
    return union(
        ellipsoid((0, 5, 75), (72 - margin, 92 - margin, 95 - margin)),
        cylinder((0, 8), (58 - margin, 62 - margin), (-95, 60)),
        cylinder((0, 12), (175 - margin, 105 - margin), (-400, -80)),
    )


def _mandible(p: np.ndarray) -> np.ndarray:
    """A U-shaped bone arc (8 mm thick) in front of the airway at the level of the jaw."""
    radius = np.hypot(p[..., 0], p[..., 1] + 5)
    arc = (radius >= 40) & (radius <= 48) & (p[..., 1] < -18)
    return arc & (p[..., 2] >= 2) & (p[..., 2] <= 28)


def _spine(p: np.ndarray) -> np.ndarray:
    column = cylinder((0, 38), (11, 10), (-400, 45))(p)
    discs = np.mod(p[..., 2], 20.0) < 4.0  # intervertebral discs every 20 mm
    return column & ~discs


@dataclass(frozen=True)
class Structure:
    """One tissue: where it is, its CT value (HU) and its FDG uptake (SUV)."""

    name: str
    inside: Mask
    hu: float
    suv: float


def structures(brain_suv: float, tonsil_suv: float) -> list[Structure]:
    """The phantom's tissues in painting order (the patient sets brain and tonsil uptake)."""
    return [
        Structure("fat", _body(0.0), -100.0, 0.4),
        Structure("muscle", _body(9.0), 45.0, 0.9),
        Structure("lung", union(ellipsoid((-65, 15, -230), (55, 65, 120)),
                                ellipsoid((65, 15, -230), (55, 65, 120))), -840.0, 0.5),
        Structure("skull", ellipsoid((0, 10, 85), (68, 86, 61)), 950.0, 0.6),
        Structure("brain", ellipsoid((0, 10, 85), (62, 80, 55)), 35.0, brain_suv),
        Structure("spine", _spine, 650.0, 1.1),
        Structure("disc", cylinder((0, 38), (11, 10), (-400, 45)), 80.0, 1.0),
        Structure("mandible", _mandible, 1150.0, 0.6),
        Structure("parotid", union(ellipsoid((-48, 10, 25), (12, 16, 20)),
                                   ellipsoid((48, 10, 25), (12, 16, 20))), -20.0, 2.0),
        Structure("submandibular", union(ellipsoid((-33, -28, -2), (11, 11, 11)),
                                         ellipsoid((33, -28, -2), (11, 11, 11))), 40.0, 1.8),
        Structure("tonsil", union(ellipsoid((-14, -12, 12), (8, 8, 9)),
                                  ellipsoid((14, -12, 12), (8, 8, 9))), 50.0, tonsil_suv),
        Structure("airway", union(cylinder((0, -18), (9, 7), (-400, 35)),
                                  ellipsoid((0, -35, 40), (18, 25, 10))), AIR_HU, 0.0),
    ]


def paint_anatomy(points: np.ndarray, tissues: list[Structure]) -> tuple[np.ndarray, ...]:
    """CT (HU), PET (SUV) and body mask at ``points`` (..., 3) in the diagnostic frame."""
    hu = np.full(points.shape[:-1], AIR_HU, dtype=np.float32)
    suv = np.zeros(points.shape[:-1], dtype=np.float32)
    body = np.zeros(points.shape[:-1], dtype=bool)
    for tissue in tissues:
        inside = tissue.inside(points)
        if tissue.name == "fat":
            body = inside
        if tissue.name == "disc":  # the discs only replace the gaps of the spine
            inside &= hu < 600
        hu[inside] = tissue.hu
        suv[inside] = tissue.suv
    return hu, suv, body
