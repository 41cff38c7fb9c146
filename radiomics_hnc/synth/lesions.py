"""Lesions: irregular primary tumours (GTVp) and lymph nodes (GTVn) with heterogeneous uptake.

A lesion is an implicit surface (a radius that varies smoothly with direction) plus a smooth
texture field, so that it can be evaluated at any point: the CT, the PET and the planning CT
see the same lesion on their own grids. Primaries are lobulated (large, low-frequency bulges),
nodes nearly round and a little long along the neck. Uptake is heterogeneous (texture
amplitude ``heterogeneity``) and may have a necrotic or cystic core with low uptake and low HU.
Lesions grow into soft tissue only: where they meet airway lumen or bone without invasion,
neither the images nor the label map show them (the HECKTOR contouring rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.shapes import Region

GTVP, GTVN = 1, 2
N_HARMONICS, N_WAVES = 7, 6
#: Shape irregularity (amplitude of the radial harmonics) of primaries and nodes.
IRREGULARITY = {GTVP: 0.3, GTVN: 0.08}


@dataclass(frozen=True)
class Lesion:
    """One generated lesion (lengths in mm, volumes in ml, uptake in SUV, CT in HU)."""

    label: int
    center: np.ndarray
    volume_ml: float
    stretch: np.ndarray
    shape_dirs: np.ndarray
    shape_amps: np.ndarray
    shape_freqs: np.ndarray
    shape_phases: np.ndarray
    wave_vectors: np.ndarray
    wave_phases: np.ndarray
    suv: float
    heterogeneity: float
    core_fraction: float
    core_suv: float
    hu: float
    core_hu: float
    site: str = ""

    @property
    def radius(self) -> float:
        """Radius (mm) of the sphere of the nominal volume."""
        return float((3 * self.volume_ml * 1000 / (4 * np.pi)) ** (1 / 3))

    @property
    def reach(self) -> float:
        """Largest distance (mm) of the surface from the centre."""
        return self.radius * (1 + float(np.abs(self.shape_amps).sum())) * float(self.stretch.max())

    def evaluate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inside mask, normalised radius (0 centre, 1 surface) and texture at ``points``."""
        offset = (points - self.center) / self.stretch
        distance = np.linalg.norm(offset, axis=-1)
        unit = offset / np.maximum(distance, 1e-6)[..., None]
        wobble = np.sin(self.shape_freqs * (unit @ self.shape_dirs.T) + self.shape_phases)
        surface = self.radius * (1 + wobble @ self.shape_amps)
        rho = distance / surface
        texture = np.cos(points @ self.wave_vectors.T + self.wave_phases).sum(-1)
        return rho <= 1.0, rho, texture / np.sqrt(N_WAVES / 2)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box (mm) that contains the lesion."""
        return self.center - self.reach, self.center + self.reach


def sample_lesion(
    rng: np.random.Generator, label: int, center: np.ndarray, volume_ml: float, suv: float,
    heterogeneity: float, core_fraction: float, cystic: bool,
    elongation: np.ndarray | None = None, frame_scale: np.ndarray | None = None, site: str = "",
) -> Lesion:
    """A lesion with a random irregular shape and texture around the given parameters.

    ``elongation`` (per axis) stretches the shape at constant volume; ``frame_scale`` is the
    patient's body size (the lesion is defined in the anatomical frame, whose millimetres are
    the patient's divided by it, so that its physical volume stays ``volume_ml``).
    """
    dirs = rng.normal(size=(N_HARMONICS, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    amps = rng.uniform(0.3, 1.0, N_HARMONICS) * IRREGULARITY[label] / np.sqrt(N_HARMONICS)
    stretch = np.exp(rng.normal(0, 0.12, 3))
    if elongation is not None:
        stretch = stretch * elongation
    stretch /= np.prod(stretch) ** (1 / 3)
    if frame_scale is not None:
        stretch = stretch / np.asarray(frame_scale, float)
    wave_dirs = rng.normal(size=(N_WAVES, 3))
    wave_dirs /= np.linalg.norm(wave_dirs, axis=1, keepdims=True)
    wavelengths = rng.uniform(8.0, 24.0, N_WAVES)
    return Lesion(
        label=label, center=np.asarray(center, float), volume_ml=float(volume_ml),
        stretch=stretch, shape_dirs=dirs, shape_amps=amps,
        shape_freqs=rng.uniform(1.5, 4.5 if label == GTVP else 3.5, N_HARMONICS),
        shape_phases=rng.uniform(0, 2 * np.pi, N_HARMONICS),
        wave_vectors=wave_dirs * (2 * np.pi / wavelengths)[:, None],
        wave_phases=rng.uniform(0, 2 * np.pi, N_WAVES), suv=float(suv),
        heterogeneity=float(heterogeneity), core_fraction=float(core_fraction),
        core_suv=1.2 if cystic else 1.8, hu=float(rng.normal(58, 5)),
        core_hu=15.0 if cystic else 28.0, site=site,
    )


def paint_lesions(
    region: Region, lesions: list[Lesion], hu: np.ndarray, suv: np.ndarray,
    allowed: np.ndarray,
) -> np.ndarray:
    """Paint the lesions into ``hu`` and ``suv`` in place; return the lesion index map.

    The index map holds ``k + 1`` where lesion ``k`` is, 0 elsewhere. Lesions are painted only
    where ``allowed`` (soft tissue inside the body), each within its own block of the region.
    """
    index = np.zeros(region.shape, dtype=np.uint8)
    for k, lesion in enumerate(lesions):
        block = region.block(*lesion.bounds())
        if block is None:
            continue
        inside, rho, texture = lesion.evaluate(region.points[block])
        inside &= allowed[block]
        if not inside.any():
            continue
        core = rho < lesion.core_fraction
        uptake = lesion.suv * np.clip(1 + lesion.heterogeneity * texture, 0.25, None)
        uptake *= 1.1 - 0.25 * rho**2
        uptake = np.where(core, lesion.core_suv, uptake)
        density = np.where(core, lesion.core_hu, lesion.hu + 6 * texture)
        hu[block][inside] = density[inside]
        suv[block][inside] = uptake[inside]
        index[block][inside] = k + 1
    return index


def label_map(index: np.ndarray, lesions: list[Lesion]) -> np.ndarray:
    """The HECKTOR label map (0, 1 GTVp, 2 GTVn) from a lesion index map."""
    lookup = np.array([0] + [lesion.label for lesion in lesions], dtype=np.uint8)
    return lookup[index]
