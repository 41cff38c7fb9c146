"""Validated RFS and HPV models: specs, pipelines, validation, metrics, run folders."""

from radiomics_hnc.modeling.pipeline import build_pipeline
from radiomics_hnc.modeling.runs import fit_run, predict_run
from radiomics_hnc.modeling.saved_model import load_model
from radiomics_hnc.modeling.specs import ModelSpec, load_spec, spec_from_dict

__all__ = ["ModelSpec", "build_pipeline", "fit_run", "load_model", "load_spec", "predict_run",
           "spec_from_dict"]
