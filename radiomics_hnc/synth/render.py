"""Turn a :class:`PatientPlan` into images: CT (HU, int16), PET (SUV), label, planning CT, dose.

CT and label share the CT grid; the PET is rendered on a grid twice as fine as its own,
blurred by the centre's point-spread function and block-averaged (partial-volume effect),
then given the centre's noise and SUV calibration error.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import find_objects, gaussian_filter

from radiomics_hnc.geometry import Grid
from radiomics_hnc.synth.anatomy import Structure, paint_anatomy, structures
from radiomics_hnc.synth.dose import dose_image
from radiomics_hnc.synth.grids import Scan, ct_grid, downsample_mean, pet_grid, planning_grid
from radiomics_hnc.synth.lesions import GTVP, label_map, paint_lesions
from radiomics_hnc.synth.plan import PatientPlan

PET_SUPERSAMPLING = 2
PLANNING_NOISE_HU = 10.0
DOSE_SPACING_MM = {"small": 5.0, "full": 4.0}


def _ct_like(scan: Scan, tissues: list[Structure], plan: PatientPlan, rng: np.random.Generator,
             noise_hu: float, sharpness_mm: float, offset_hu: float) -> tuple[sitk.Image, ...]:
    """CT (int16 HU) and the lesion index map on the scan's grid, slab by slab (memory-light)."""
    grid = scan.grid
    ct = np.empty(grid.shape, np.int16)
    index = np.empty(grid.shape, np.uint8)
    sigma = (0.0, sharpness_mm / grid.spacing[1], sharpness_mm / grid.spacing[0])
    for z, points in scan.slabs():
        hu, suv, body = paint_anatomy(points, tissues)
        index[z] = paint_lesions(points, plan.disease.lesions, hu, suv, body)
        hu = gaussian_filter(hu, sigma) + rng.normal(offset_hu, noise_hu, hu.shape)
        ct[z] = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    return grid.image(ct), index


def _pet(grid: Grid, tissues: list[Structure], plan: PatientPlan,
         rng: np.random.Generator) -> sitk.Image:
    fine = Scan(grid).refined(PET_SUPERSAMPLING)
    activity = np.empty(fine.grid.shape, np.float32)
    for z, points in fine.slabs():
        hu, suv, body = paint_anatomy(points, tissues)
        paint_lesions(points, plan.disease.lesions, hu, suv, body)
        activity[z] = suv
    fwhm = plan.profile.pet_fwhm_mm
    sigma = [fwhm / 2.3548 / s for s in fine.grid.spacing[::-1]]
    pet = downsample_mean(gaussian_filter(activity, sigma), PET_SUPERSAMPLING)
    # Relative noise (coefficient of variation ``pet_noise``) plus a floor in cold regions.
    noise = rng.normal(0.0, 1.0, pet.shape) * plan.profile.pet_noise * (
        np.maximum(pet, 0.0) + 0.1)
    pet = np.clip((pet + noise) * plan.profile.suv_calibration, 0.0, None)
    return grid.image(pet.astype(np.float32))


def lesion_truth(index: np.ndarray, grid: Grid, plan: PatientPlan) -> list[dict[str, object]]:
    """True lesion list as rasterised on the CT grid: ids by decreasing volume, ml, centroid."""
    voxel_ml = float(np.prod(grid.spacing)) / 1000.0
    rows = []
    for k, box in enumerate(find_objects(index, max_label=len(plan.disease.lesions))):
        if box is None:  # the lesion fell outside the body or between voxels
            continue
        voxels = np.argwhere(index[box] == k + 1) + [s.start for s in box]
        cz, cy, cx = voxels.mean(axis=0)
        lesion = plan.disease.lesions[k]
        point = [o + s * c for o, s, c in zip(grid.origin, grid.spacing, (cx, cy, cz),
                                              strict=True)]
        rows.append({
            "patient_id": plan.patient_id, "label": lesion.label,
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


def render_patient(plan: PatientPlan, scale: str) -> tuple[dict[str, sitk.Image], list[dict]]:
    """All images of a patient (keys ct, pt, label and, with dose, planning_ct and dose)."""
    rng = np.random.default_rng(plan.image_seed)
    tissues = structures(plan.brain_suv, plan.tonsil_suv)
    profile = plan.profile
    grid = ct_grid(profile, scale)
    ct, index = _ct_like(Scan(grid), tissues, plan, rng, profile.ct_noise_hu,
                         profile.ct_sharpness_mm, profile.ct_hu_offset)
    images = {"ct": ct, "label": grid.image(label_map(index, plan.disease.lesions)),
              "pt": _pet(pet_grid(profile, scale), tissues, plan, rng)}
    truth = lesion_truth(index, grid, plan)
    if plan.has_dose:
        planning = Scan(planning_grid(scale), plan.setup_rotation, plan.setup_translation)
        images["planning_ct"], _ = _ct_like(planning, tissues, plan, rng, PLANNING_NOISE_HU,
                                            0.6, 0.0)
        images["dose"] = dose_image(planning, tissues, plan.disease.lesions, plan.underdose,
                                    DOSE_SPACING_MM[scale])
    return images, truth
