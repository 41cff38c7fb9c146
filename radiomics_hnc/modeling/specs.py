"""Typed model specifications (``models/rfs_*.yaml``, ``models/hpv_*.yaml``); unknown keys fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from radiomics_hnc.errors import ConfigError
from radiomics_hnc.resources import model_spec_path
from radiomics_hnc.workspace import unsafe_name_reason

FeatureSet = Literal["clinical", "PT", "CT", "RTDOSE", "MASK"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Preprocessing(_Strict):
    """Steps before selection: ComBat across centres, imputation, scaling.

    ``scale``: ``standard`` (z-scores), ``yeo-johnson`` (a power transform fitted per feature,
    then z-scores: volumes, counts and uptake totals are right-skewed, and linear models use
    them better on a log-like scale) or ``none``.
    """

    harmonize: bool = True
    combat_parametric: bool = True
    combat_unseen: Literal["raise", "passthrough", "estimate"] = "estimate"
    combat_covariates: list[str] = Field(default_factory=list)
    impute: Literal["median", "mean"] = "median"
    scale: Literal["standard", "yeo-johnson", "none"] = "standard"


class Selection(_Strict):
    """Filters then a selector; ``method: none`` keeps every feature left by the filters."""

    variance_threshold: float = Field(1e-8, ge=0)
    correlation_threshold: float | None = Field(0.95, gt=0, le=1)
    method: Literal["none", "univariate", "model"] = "univariate"
    k: int = Field(50, ge=1)


class Tuning(_Strict):
    """Nested search: ``grid`` maps ``estimator__param`` names to candidate lists."""

    grid: dict[str, list[Any]]
    budget: int = Field(8, ge=1, le=200)
    inner_folds: int = Field(3, ge=2, le=10)


class Validation(_Strict):
    """Defaults of the validation scheme (the CLI ``--cv`` overrides ``cv``)."""

    cv: Literal["loco", "kfold", "holdout"] = "loco"
    min_centre_size: int = Field(20, ge=2)
    min_centre_events: int = Field(5, ge=1)
    n_splits: int = Field(5, ge=2)
    n_repeats: int = Field(1, ge=1)
    holdout_centers: list[str] = Field(default_factory=list)
    n_bootstrap: int = Field(200, ge=0)
    seed: int = 0


class ModelSpec(_Strict):
    """One model: task, predictors, preprocessing, selection, estimator, validation.

    Predictors are every column of the ``features`` sets plus the ``columns`` named one by one
    (a pre-specified model, e.g. from the literature, names only columns).
    """

    name: str
    task: Literal["rfs", "hpv"]
    description: str = ""
    features: list[FeatureSet] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    selection: Selection = Field(default_factory=Selection)
    tuning: Tuning | None = None
    validation: Validation = Field(default_factory=Validation)

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str) -> str:
        # The name becomes the run folder WORKSPACE/runs/<name>_<cv>.
        if reason := unsafe_name_reason(name):
            raise ValueError(f"{name!r} cannot name a run folder: it {reason}")
        return name

    @model_validator(mode="after")
    def _some_predictors(self) -> ModelSpec:
        if not self.features and not self.columns:
            raise ValueError("a spec needs predictors: feature sets in 'features', "
                             "named columns in 'columns', or both")
        repeated = sorted({c for c in self.columns if self.columns.count(c) > 1})
        # Ids, and outcomes known only after treatment (HPV status is a baseline fact: a
        # predictor of RFS, the target of an HPV model).
        barred = {"patient_id", "center", "relapse", "rfs_days"} | (
            {"hpv_status"} if self.task == "hpv" else set())
        if repeated or barred & set(self.columns):
            raise ValueError(f"columns: {', '.join(repeated)} named twice" if repeated else
                             f"columns: {', '.join(sorted(barred & set(self.columns)))} cannot "
                             f"be a predictor of a {self.task} model")
        return self

    @model_validator(mode="after")
    def _known_estimator(self) -> ModelSpec:
        from radiomics_hnc.modeling.estimators import ESTIMATORS

        entry = ESTIMATORS.get(self.estimator)
        if entry is None:
            raise ValueError(f"unknown estimator {self.estimator!r}; known: {sorted(ESTIMATORS)}")
        if entry.task != self.task:
            raise ValueError(f"estimator {self.estimator!r} is for task {entry.task!r}, "
                             f"not {self.task!r}")
        return self


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a model spec YAML file (:class:`ConfigError` naming the file).

    ``path`` may also name a shipped spec, e.g. ``"rfs_coxnet"``.
    """
    path = model_spec_path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"model spec could not be read ({exc})", path=path) from exc
    return spec_from_dict(raw, path)


def spec_from_dict(raw: Any, path: str | Path | None = None) -> ModelSpec:
    """Validate a spec mapping; errors list every offending key."""
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid model spec: {problems}", path=path,
                          hint="see models/README.md for the accepted keys") from exc
