"""Validated RFS and HPV models: specs, pipelines, validation, metrics, run folders.

The names below are imported on first use: reading a run's record (``modeling.records``) does
not load scikit-learn, scikit-survival or xgboost.
"""

from radiomics_hnc.lazy import lazy_attributes

_MODULES = {
    "ModelSpec": "specs",
    "load_spec": "specs",
    "spec_from_dict": "specs",
    "build_pipeline": "pipeline",
    "fit_run": "runs",
    "predict_run": "runs",
    "load_model": "saved_model",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_attributes(__name__, _MODULES)
