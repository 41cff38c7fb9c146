"""Turn a :class:`PatientPlan` into images: CT (HU, int16), PET (SUV), label, planning CT, dose.

The phantom (:mod:`radiomics_hnc.synth.anatomy`) is painted as a tissue index on each scan's
grid, tissues become HU or SUV by lookup, and lesions are painted over soft tissue. The CT gets
the centre's reconstruction blur, dental metal streaks and noise. The PET is rendered on a grid
twice as fine as its own, blurred by the centre's point-spread function and block-averaged
(partial-volume effect), modulated by a slow physiological variation, then given noise whose
level grows with the activity and which is spatially correlated like reconstructed PET noise,
and the centre's SUV calibration error.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import find_objects, gaussian_filter, zoom

from radiomics_hnc.geometry import Grid
from radiomics_hnc.synth.anatomy import (
    AIR,
    BONE,
    METAL,
    OROPHARYNX,
    Phantom,
    build_phantom,
    couch_y,
    filling_centers,
)
from radiomics_hnc.synth.artifacts import MetalSource, metal_sources, streak_slice
from radiomics_hnc.synth.dose import dose_image
from radiomics_hnc.synth.grids import Scan, ct_grid, downsample_mean, pet_grid, planning_grid
from radiomics_hnc.synth.lesions import GTVP, label_map, paint_lesions
from radiomics_hnc.synth.plan import PatientPlan

PET_SUPERSAMPLING = 2
PLANNING_NOISE_HU, PLANNING_STREAK_HU = 10.0, 500.0
#: The couch under the patient: thickness (mm) and CT value (HU) of its carbon plate.
COUCH_MM, COUCH_HU = 9.0, 120.0
DOSE_SPACING_MM = {"small": 5.0, "full": 4.0}
#: Slow physiological variation of uptake: relative SD and length scale (mm).
PET_VARIATION, PET_VARIATION_MM = 0.06, 40.0
#: PET noise: SD = pet_noise * REF * ((SUV + FLOOR) / REF) ** EXPONENT, so that the coefficient
#: of variation is ``pet_noise`` at SUV 2 and falls slowly in hotter regions (between Poisson,
#: exponent 0.5, and the constant coefficient of variation, 1, of iterative reconstructions).
PET_NOISE_REF_SUV, PET_NOISE_FLOOR, PET_NOISE_EXPONENT = 2.0, 0.05, 0.75


def noise_parameters() -> dict[str, float]:
    """The PET noise and variation model's constants, for ``parameters.json``."""
    return {"reference_suv": PET_NOISE_REF_SUV, "floor": PET_NOISE_FLOOR,
            "exponent": PET_NOISE_EXPONENT, "variation": PET_VARIATION,
            "variation_mm": PET_VARIATION_MM, "supersampling": PET_SUPERSAMPLING}


def _scan(grid: Grid, plan: PatientPlan, setup: bool = False) -> Scan:
    if setup:
        return Scan(grid, plan.setup_rotation, plan.setup_translation,
                    posture=plan.anatomy.posture)
    return Scan(grid, posture=plan.anatomy.posture)


def _metal(scan: Scan, plan: PatientPlan, rng: np.random.Generator) -> list[MetalSource]:
    """The patient's fillings as metal sources in ``scan``'s own frame."""
    if not plan.anatomy.fillings:
        return []
    diagnostic = plan.anatomy.posture.to_scanner(filling_centers(plan.anatomy))
    own = (diagnostic - scan.pivot - scan.translation) @ scan.rotation + scan.pivot
    return metal_sources(own, [r for _, _, r in plan.anatomy.fillings], rng)


def _ct_like(scan: Scan, phantom: Phantom, plan: PatientPlan, rng: np.random.Generator,
             noise_hu: float, sharpness_mm: float, offset_hu: float,
             streak_hu: float) -> tuple[sitk.Image, np.ndarray]:
    """CT (int16 HU) and the lesion index map on the scan's grid, slab by slab (memory-light)."""
    grid = scan.grid
    ct = np.empty(grid.shape, np.int16)
    index = np.empty(grid.shape, np.uint8)
    sigma = (0.0, sharpness_mm / grid.spacing[1], sharpness_mm / grid.spacing[0])
    hu_table, suv_table = phantom.hu_table, phantom.suv_table
    soft = ~phantom.kind_mask(AIR, BONE, METAL)
    x, y, z_axis = scan.axes()
    sources = _metal(scan, plan, rng)
    couch = (y >= couch_y(plan.anatomy)) & (y <= couch_y(plan.anatomy) + COUCH_MM)
    for z, region in scan.slabs():
        tissue = phantom.paint(region)
        hu, suv = hu_table[tissue], suv_table[tissue]
        index[z] = paint_lesions(region, plan.disease.lesions, hu, suv, soft[tissue])
        hu[:, couch, :] = np.where(tissue[:, couch, :] == 0, COUCH_HU, hu[:, couch, :])
        hu = gaussian_filter(hu, sigma)
        for k, z_mm in enumerate(z_axis[z]):
            streaks = streak_slice(x, y, float(z_mm), grid.spacing[2], sources, streak_hu)
            if streaks is not None:
                hu[k] += streaks
        hu += rng.normal(offset_hu, noise_hu, hu.shape)
        ct[z] = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    return grid.image(ct), index


def _correlated_noise(rng: np.random.Generator, shape: tuple[int, ...],
                      sigma_voxels: list[float]) -> np.ndarray:
    """Unit-variance Gaussian noise smoothed like reconstructed PET noise."""
    noise = gaussian_filter(rng.normal(0.0, 1.0, shape).astype(np.float32), sigma_voxels)
    return noise / max(float(noise.std()), 1e-6)


def _slow_variation(rng: np.random.Generator, shape: tuple[int, ...],
                    spacing_zyx: list[float]) -> np.ndarray:
    """A smooth multiplicative field (mean 1) on a coarse grid, interpolated to ``shape``."""
    coarse_shape = [max(2, int(np.ceil(n * s / PET_VARIATION_MM)) + 1)
                    for n, s in zip(shape, spacing_zyx, strict=True)]
    coarse = rng.normal(0.0, PET_VARIATION, coarse_shape)
    field = zoom(coarse, [n / c for n, c in zip(shape, coarse_shape, strict=True)], order=1)
    return 1.0 + field[tuple(slice(0, n) for n in shape)]


def _pet(grid: Grid, phantom: Phantom, plan: PatientPlan,
         rng: np.random.Generator) -> sitk.Image:
    fine = _scan(grid, plan).refined(PET_SUPERSAMPLING)
    activity = np.empty(fine.grid.shape, np.float32)
    hu_table, suv_table = phantom.hu_table, phantom.suv_table
    soft = ~phantom.kind_mask(AIR, BONE, METAL)
    for z, region in fine.slabs():
        tissue = phantom.paint(region)
        hu, suv = hu_table[tissue], suv_table[tissue]
        paint_lesions(region, plan.disease.lesions, hu, suv, soft[tissue])
        activity[z] = suv
    profile = plan.profile
    sigma = [profile.pet_fwhm_mm / 2.3548 / s for s in fine.grid.spacing[::-1]]
    pet = downsample_mean(gaussian_filter(activity, sigma), PET_SUPERSAMPLING)
    spacing = list(grid.spacing[::-1])
    pet *= _slow_variation(rng, pet.shape, spacing)
    noise = _correlated_noise(rng, pet.shape,
                              [profile.pet_noise_corr_mm / s for s in spacing])
    sd = profile.pet_noise * PET_NOISE_REF_SUV * (
        (np.maximum(pet, 0.0) + PET_NOISE_FLOOR) / PET_NOISE_REF_SUV) ** PET_NOISE_EXPONENT
    pet = np.clip((pet + noise * sd) * profile.suv_calibration, 0.0, None)
    return grid.image(pet.astype(np.float32))


def lesion_truth(index: np.ndarray, grid: Grid, plan: PatientPlan) -> list[dict[str, object]]:
    """True lesion list as rasterised on the CT grid: ids by decreasing volume, ml, centroid."""
    voxel_ml = float(np.prod(grid.spacing)) / 1000.0
    rows = []
    for k, box in enumerate(find_objects(index, max_label=len(plan.disease.lesions))):
        if box is None:  # the lesion fell outside soft tissue or between voxels
            continue
        voxels = np.argwhere(index[box] == k + 1) + [s.start for s in box]
        cz, cy, cx = voxels.mean(axis=0)
        lesion = plan.disease.lesions[k]
        point = [o + s * c for o, s, c in zip(grid.origin, grid.spacing, (cx, cy, cz),
                                              strict=True)]
        rows.append({
            "patient_id": plan.patient_id, "label": lesion.label, "site": lesion.site,
            "volume_ml": len(voxels) * voxel_ml, "nominal_volume_ml": lesion.volume_ml,
            "centroid_x_mm": point[0], "centroid_y_mm": point[1], "centroid_z_mm": point[2],
            "suv_nominal": lesion.suv, "heterogeneity": lesion.heterogeneity,
            "core_fraction": lesion.core_fraction, "cystic": lesion.core_suv < 1.5,
        })
    nodes = sorted((r for r in rows if r["label"] != GTVP), key=lambda r: -r["volume_ml"])
    for number, row in enumerate(nodes, start=1):
        row["lesion_id"] = f"GTVn_{number}"
    primary = [dict(r, lesion_id="GTVp") for r in rows if r["label"] == GTVP]
    return primary + nodes


def oropharynx_point(plan: PatientPlan) -> np.ndarray:
    """Where the oropharynx is in the scanner frame (mm): the patient's posture applied."""
    return plan.anatomy.posture.to_scanner(OROPHARYNX[None, :])[0]


def render_patient(plan: PatientPlan, scale: str) -> tuple[dict[str, sitk.Image], list[dict]]:
    """All images of a patient (keys ct, pt, label and, with dose, planning_ct and dose)."""
    rng = np.random.default_rng(plan.image_seed)
    phantom = build_phantom(plan.anatomy)
    profile = plan.profile
    grid = ct_grid(profile, scale)
    ct, index = _ct_like(_scan(grid, plan), phantom, plan, rng, profile.ct_noise_hu,
                         profile.ct_sharpness_mm, profile.ct_hu_offset, profile.metal_streak_hu)
    images = {"ct": ct, "label": grid.image(label_map(index, plan.disease.lesions)),
              "pt": _pet(pet_grid(profile, scale), phantom, plan, rng)}
    truth = lesion_truth(index, grid, plan)
    if plan.has_dose:
        planning = _scan(planning_grid(scale), plan, setup=True)
        images["planning_ct"], _ = _ct_like(planning, phantom, plan, rng, PLANNING_NOISE_HU,
                                            0.6, 0.0, PLANNING_STREAK_HU)
        images["dose"] = dose_image(planning, phantom, plan.disease.lesions, plan.underdose,
                                    DOSE_SPACING_MM[scale])
    return images, truth


def tissue_map(plan: PatientPlan, scale: str) -> tuple[sitk.Image, list[str]]:
    """The phantom's tissue index on the patient's CT grid (no lesions, no noise) and the
    tissue names (index 0 is outside the body): for checking what the images show."""
    phantom = build_phantom(plan.anatomy)
    grid = ct_grid(plan.profile, scale)
    tissues = np.empty(grid.shape, np.uint8)
    for z, region in _scan(grid, plan).slabs():
        tissues[z] = phantom.paint(region)
    return grid.image(tissues), [t.name for t in phantom.tissues]
