"""All features of one lesion from images already in memory (the notebook-level API).

Column names follow docs/design.md: ``<modality>_<image type>_<class>_<feature>`` with modality
``MASK`` (geometry on the CT grid), ``CT``, ``PT`` or ``RTDOSE``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import SimpleITK as sitk

from radiomics_hnc.features.configs import FeatureConfigs, load_feature_configs
from radiomics_hnc.features.dose import DoseMapping, dvh_metrics
from radiomics_hnc.features.geometry import LesionMask
from radiomics_hnc.features.lesions import MIN_LESION_VOLUME_ML, Lesion
from radiomics_hnc.features.pet import mask_on_grid, suv_metrics
from radiomics_hnc.features.pyradiomics_engine import LesionFeatureExtractor
from radiomics_hnc.geometry import Grid

logger = logging.getLogger(__name__)

#: DVH columns, present (null without a dose map) in every row.
DVH_COLUMNS = tuple(f"RTDOSE_dvh_{name}" for name in (
    "Dmean", "Dmin", "Dmax", "D98", "D95", "D50", "D2", "V60Gy", "V70Gy"))


@dataclass
class ModalityExtractors:
    """The three PyRadiomics extractors built from one :class:`FeatureConfigs`."""

    ct: LesionFeatureExtractor
    pet: LesionFeatureExtractor
    dose: LesionFeatureExtractor

    @classmethod
    def from_configs(cls, configs: FeatureConfigs) -> ModalityExtractors:
        """Extractors for ``configs``, built once per process (building validates, ~50 ms)."""
        key = configs.content_hash
        if key not in _EXTRACTORS:
            _EXTRACTORS[key] = cls(LesionFeatureExtractor(configs.settings("ct"), "CT"),
                                   LesionFeatureExtractor(configs.settings("pet"), "PT"),
                                   LesionFeatureExtractor(configs.settings("dose"), "RTDOSE"))
        return _EXTRACTORS[key]


_EXTRACTORS: dict[str, ModalityExtractors] = {}


@dataclass
class LesionResult:
    """One lesion's row (ids, flags, features) and the failures met while computing it."""

    row: dict
    errors: list[dict] = field(default_factory=list)


def geometry_features(mask: LesionMask) -> dict[str, float]:
    """MASK_ features (voxel count, volume in ml) and the centroid (mm, scanner coordinates).

    The centroid is a position, not a feature: its columns carry no modality prefix.
    """
    x, y, z = mask.centroid_mm()
    return {"MASK_voxel_count": float(mask.voxel_count), "MASK_volume_ml": mask.volume_ml(),
            "centroid_x_mm": x, "centroid_y_mm": y, "centroid_z_mm": z}


def _pet_features(lesion: Lesion, pet: sitk.Image, extractor: LesionFeatureExtractor) -> dict:
    pet_mask = mask_on_grid(lesion.mask, Grid.of(pet))
    if pet_mask is None:
        raise ValueError("no PET voxel is at least half inside the lesion (outside the PET "
                         "field of view, or thinner than a PET voxel)")
    features = {f"PT_suv_{k}": v for k, v in suv_metrics(pet, pet_mask).items()}
    features.update(extractor.extract(pet, pet_mask))
    return features


def _dose_features(lesion: Lesion, mapping: DoseMapping,
                   extractor: LesionFeatureExtractor) -> dict:
    region, _ = extractor.prepare(lesion.mask)
    dose = mapping.dose_on(lesion.mask.grid, region)
    values = sitk.GetArrayViewFromImage(dose)
    offset = [lo - r for lo, r in zip(lesion.mask.region.lower, region.lower, strict=True)]
    box = tuple(slice(o, o + n) for o, n in zip(offset[::-1], lesion.mask.array.shape,
                                                strict=True))
    features = {f"RTDOSE_dvh_{k}": v
                for k, v in dvh_metrics(values[box][lesion.mask.array]).items()}
    features.update(extractor.extract(dose, lesion.mask))
    return features


def extract_lesion(
    lesion: Lesion,
    ct: sitk.Image,
    pet: sitk.Image,
    extractors: ModalityExtractors,
    dose: DoseMapping | None = None,
) -> LesionResult:
    """Every feature of one lesion; a failing modality becomes an error entry, not a crash.

    A ``too_small`` lesion gets geometry and CT shape features only.
    """
    row: dict = {"lesion_id": lesion.lesion_id, "label": lesion.label,
                 "too_small": lesion.too_small}
    row.update(geometry_features(lesion.mask))
    row.update(dict.fromkeys(DVH_COLUMNS, float("nan")))
    result = LesionResult(row)
    steps = [("CT", lambda: extractors.ct.extract(ct, lesion.mask, shape_only=lesion.too_small))]
    if not lesion.too_small:
        steps.append(("PT", lambda: _pet_features(lesion, pet, extractors.pet)))
        if dose is not None:
            steps.append(("RTDOSE", lambda: _dose_features(lesion, dose, extractors.dose)))
    for modality, compute in steps:
        try:
            row.update(compute())
        except (ValueError, RuntimeError) as exc:  # PyRadiomics raises ValueError on bad ROIs
            logger.debug("lesion %s: %s features failed: %s", lesion.lesion_id, modality, exc)
            result.errors.append({"lesion_id": lesion.lesion_id, "stage": f"extract:{modality}",
                                  "error_type": type(exc).__name__, "message": str(exc)})
    return result


def lesion_features(
    ct: sitk.Image,
    pet: sitk.Image,
    mask: sitk.Image,
    configs: FeatureConfigs | None = None,
    dose: DoseMapping | None = None,
    lesion_id: str = "lesion",
    min_volume_ml: float = MIN_LESION_VOLUME_ML,
) -> dict:
    """Features of one lesion given as a binary mask on the CT grid (for notebooks).

    ``dose`` comes from :func:`radiomics_hnc.features.dose.map_dose`; ``None`` leaves the dose
    columns empty. Raises ``ValueError`` when a modality fails.
    """
    lesion_mask = LesionMask.from_image(mask)
    lesion = Lesion(lesion_id, 1, lesion_mask, lesion_mask.volume_ml() < min_volume_ml)
    extractors = ModalityExtractors.from_configs(configs or load_feature_configs())
    result = extract_lesion(lesion, ct, pet, extractors, dose)
    if result.errors:
        raise ValueError("; ".join(f"{e['stage']}: {e['message']}" for e in result.errors))
    return result.row
