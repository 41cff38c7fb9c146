"""Dental metal artefacts on CT: streaks in the axial slices through metal fillings.

Metal stops most of the beam, so a filtered back-projection shows dark bands along the lines
that join two metal objects (photon starvation, beam hardening) and bright and dark streaks
radiating from each object across the slice, fading with distance; they run through the oral
cavity and the oropharynx, where the primaries are. Each centre's scanner and reconstruction
set the amplitude (``CenterProfile.metal_streak_hu``; lower with metal artefact reduction).
The model is phenomenological: streaks are drawn in the scanner's axial plane from where the
fillings are, not reconstructed from projections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Streaks per metal object, their width (Gaussian SD, mm, at least 0.6 pixel) and how far
#: (mm, exponential) radial streaks and the dark bands between objects reach.
STREAKS_PER_OBJECT, STREAK_WIDTH_MM, STREAK_REACH_MM, BAND_REACH_MM = 6, 1.0, 40.0, 60.0
#: Peak HU of the metal itself (the CT's upper limit).
METAL_HU = 3071.0


@dataclass(frozen=True)
class MetalSource:
    """A metal object in the scan's own frame: centre (mm), radius (mm) and streak angles."""

    center: np.ndarray
    radius: float
    angles: np.ndarray
    signs: np.ndarray


def metal_sources(centers: np.ndarray, radii: list[float],
                  rng: np.random.Generator) -> list[MetalSource]:
    """Metal objects at ``centers`` (scan frame, mm) with random streak directions."""
    return [MetalSource(np.asarray(c, float), float(r),
                        rng.uniform(0, np.pi, STREAKS_PER_OBJECT),
                        rng.choice([-1.0, 1.0], STREAKS_PER_OBJECT) * rng.uniform(
                            0.4, 1.0, STREAKS_PER_OBJECT))
            for c, r in zip(centers, radii, strict=True)]


def _line_distance(x: np.ndarray, y: np.ndarray, point: np.ndarray,
                   angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) of pixels across and along the line through ``point`` at ``angle``."""
    dx, dy = x - point[0], y - point[1]
    cos, sin = np.cos(angle), np.sin(angle)
    return np.abs(-sin * dx + cos * dy), np.abs(cos * dx + sin * dy)


def streak_slice(x: np.ndarray, y: np.ndarray, z: float, thickness: float,
                 sources: list[MetalSource], amplitude_hu: float) -> np.ndarray | None:
    """Streak image (HU to add) of the axial slice at ``z`` (mm), or None without metal.

    ``x`` and ``y`` are the slice's pixel coordinates (1D, mm); the slice sees the part of
    each object within half its ``thickness``, which sets the object's weight.
    """
    weights = [float(np.clip(1 - abs(z - s.center[2]) / (s.radius + thickness / 2), 0, 1))
               for s in sources]
    active = [(s, w) for s, w in zip(sources, weights, strict=True) if w > 0]
    if not active:
        return None
    xx, yy = x[None, :], y[:, None]
    pixel = float(min(abs(x[1] - x[0]), abs(y[1] - y[0])))
    width = max(STREAK_WIDTH_MM, 0.6 * pixel)
    field = np.zeros((len(y), len(x)), np.float32)
    strengths = []
    for source, weight in active:
        strength = amplitude_hu * weight * min((source.radius / 2.5) ** 2, 1.5)
        strengths.append(strength)
        for angle, sign in zip(source.angles, source.signs, strict=True):
            across, along = _line_distance(xx, yy, source.center, float(angle))
            field += (sign * strength) * np.exp(-0.5 * (across / width) ** 2
                                                - along / STREAK_REACH_MM)
        spread = max(source.radius, pixel / 2)
        r2 = (xx - source.center[0]) ** 2 + (yy - source.center[1]) ** 2
        field += (METAL_HU * weight) * np.exp(-0.5 * r2 / spread**2)
    for i in range(len(active)):
        for j in range(i + 1, len(active)):
            first, second = active[i][0].center, active[j][0].center
            angle = float(np.arctan2(second[1] - first[1], second[0] - first[0]))
            middle = (first + second) / 2
            across, along = _line_distance(xx, yy, middle, angle)
            band = 0.8 * min(strengths[i], strengths[j])
            field -= band * np.exp(-0.5 * (across / (2.5 * width)) ** 2 - along / BAND_REACH_MM)
    return field
