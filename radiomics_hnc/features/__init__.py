"""Feature extraction: PyRadiomics (CT, PET, dose), SUV and DVH metrics per lesion, in tables.

The cohort entry point is :func:`extract_features`; :func:`lesion_features` computes one lesion
from SimpleITK images in memory.
"""

from radiomics_hnc.features.configs import FeatureConfigs, load_feature_configs
from radiomics_hnc.features.dose import DoseMapping, dvh_metrics, map_dose
from radiomics_hnc.features.extract import ExtractionResult, extract_features
from radiomics_hnc.features.lesion_features import lesion_features
from radiomics_hnc.features.lesions import MIN_LESION_VOLUME_ML, Lesion, find_lesions
from radiomics_hnc.features.pet import mask_on_grid, suv_metrics

__all__ = [
    "MIN_LESION_VOLUME_ML",
    "DoseMapping",
    "ExtractionResult",
    "FeatureConfigs",
    "Lesion",
    "dvh_metrics",
    "extract_features",
    "find_lesions",
    "lesion_features",
    "load_feature_configs",
    "map_dose",
    "mask_on_grid",
    "suv_metrics",
]
