"""Centre acquisition profiles and the image grids of each generation scale.

Each centre has its own PET and CT protocol (voxel size, resolution, noise level and its
spatial correlation, SUV calibration, HU offset, how strongly dental metal streaks), which is
what gives the generated cohort a real batch effect in radiomics features.
Centre names follow the HECKTOR training centres; ``HUG`` stands for the tenth 2025 centre.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from radiomics_hnc.errors import ConfigError

SCALES = ("small", "full")


@dataclass(frozen=True)
class CenterProfile:
    """Acquisition protocol of one centre (lengths in mm, CT values in HU).

    Attributes
    ----------
    code, center_id
        Id prefix (``CHUM``) and the integer ``CenterID`` of the clinical tables.
    weight
        Relative share of patients (HECKTOR training counts).
    ct_spacing_xy, ct_slice_mm
        CT in-plane pixel size and slice thickness at full scale.
    ct_noise_hu, ct_sharpness_mm, ct_hu_offset
        CT noise SD, in-plane blur (reconstruction kernel) SD and calibration offset.
    pet_spacing_xy, pet_slice_mm, pet_fwhm_mm
        PET voxel size at full scale and point-spread function FWHM.
    pet_noise, suv_calibration
        PET relative noise level (coefficient of variation at SUV 2) and multiplicative SUV
        calibration error.
    hpv_recorded, hpv_logit_offset
        Whether the centre records HPV status, and its baseline HPV-positive log-odds.
    pet_noise_corr_mm
        Spatial correlation of the PET noise (Gaussian SD, mm) from the reconstruction's
        post-filter: the smoother reconstructions are the less noisy ones.
    metal_streak_hu
        Amplitude (HU) of the streaks from dental metal (lower with metal artefact reduction).
    """

    code: str
    center_id: int
    weight: float
    ct_spacing_xy: float
    ct_slice_mm: float
    ct_noise_hu: float
    ct_sharpness_mm: float
    ct_hu_offset: float
    pet_spacing_xy: float
    pet_slice_mm: float
    pet_fwhm_mm: float
    pet_noise: float
    suv_calibration: float
    hpv_recorded: bool
    hpv_logit_offset: float
    pet_noise_corr_mm: float
    metal_streak_hu: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: The ten centres, their share of patients and their protocols.
CENTERS: dict[str, CenterProfile] = {
    p.code: p
    for p in (
        CenterProfile("CHB", 1, 58, 0.98, 3.0, 12, 0.6, 0, 4.0, 4.0, 6.0, 0.10, 1.00, False, 0.0,
                      3.5, 550),
        CenterProfile("CHUM", 2, 56, 0.98, 3.0, 18, 0.9, 8, 5.47, 3.27, 7.5, 0.20, 1.12, True, 0.2,
                      2.5, 700),
        CenterProfile("CHUP", 3, 72, 1.17, 3.0, 10, 0.5, -6, 4.0, 2.0, 5.5, 0.07, 0.88, True, 0.0,
                      4.0, 350),
        CenterProfile("CHUS", 4, 72, 0.98, 3.0, 15, 0.8, 4, 4.0, 4.0, 6.5, 0.12, 1.06, True, -0.2,
                      3.0, 600),
        CenterProfile("CHUV", 5, 53, 0.98, 2.5, 9, 0.4, -3, 2.73, 2.73, 5.0, 0.06, 0.94, True, 0.1,
                      4.0, 400),
        CenterProfile("HGJ", 6, 55, 0.98, 3.0, 20, 1.0, 10, 5.47, 3.27, 8.0, 0.25, 1.15, True, 0.0,
                      2.5, 750),
        CenterProfile("HMR", 7, 18, 1.17, 3.0, 14, 0.7, 0, 4.0, 4.0, 7.0, 0.15, 0.90, False, 0.0,
                      3.0, 650),
        CenterProfile("MDA", 8, 398, 0.98, 2.5, 11, 0.6, 2, 4.0, 3.27, 5.5, 0.09, 1.00, True, 1.0,
                      3.5, 450),
        CenterProfile("USZ", 9, 101, 0.98, 2.5, 8, 0.5, -8, 2.73, 3.27, 5.0, 0.05, 0.97, True, 0.3,
                      4.0, 300),
        CenterProfile("HUG", 10, 60, 0.9, 3.0, 16, 0.8, 5, 4.0, 4.0, 6.0, 0.13, 1.08, True, 0.1,
                      3.0, 500),
    )
}

#: Physical extent (mm, x y z) of the diagnostic CT field of view at each scale.
CT_EXTENT_MM = {"small": (240.0, 240.0, 224.0), "full": (500.0, 500.0, 450.0)}
#: Voxel-size multiplier of each scale relative to the full-scale protocol (x y, z).
SCALE_FACTOR = {"small": (3.0, 2.0), "full": (1.0, 1.0)}
#: Centre of the field of view (mm, LPS): a little posterior and below the oropharynx.
FOV_CENTER_MM = (0.0, 10.0, -10.0)


def resolve_centers(codes: list[str] | None) -> list[CenterProfile]:
    """Profiles of the requested centre codes (all ten when ``codes`` is None)."""
    if not codes:
        return list(CENTERS.values())
    unknown = [c for c in codes if c.upper() not in CENTERS]
    if unknown:
        raise ConfigError(
            f"unknown centre code(s) {unknown}", hint=f"choose among {', '.join(CENTERS)}"
        )
    return [CENTERS[c.upper()] for c in dict.fromkeys(codes)]


def check_scale(scale: str) -> str:
    """``scale`` itself, or a ConfigError naming the valid scales."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}", hint=f"use one of {SCALES}")
    return scale


def assign_centers(n_patients: int, centers: list[CenterProfile], seed: int) -> list[str]:
    """Centre code of each patient, proportional to the centres' weights, in shuffled order."""
    weights = np.array([c.weight for c in centers], dtype=float)
    counts = np.floor(weights / weights.sum() * n_patients).astype(int)
    counts = np.maximum(counts, 1 if n_patients >= len(centers) else 0)
    rng = np.random.default_rng([seed, 0xCE])
    while counts.sum() < n_patients:
        counts[rng.choice(len(centers), p=weights / weights.sum())] += 1
    while counts.sum() > n_patients:
        counts[int(np.argmax(counts))] -= 1
    codes = np.repeat([c.code for c in centers], counts)
    return list(rng.permutation(codes))
