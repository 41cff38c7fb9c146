"""Typed model specifications (``models/rfs_*.yaml``, ``models/hpv_*.yaml``); unknown keys fail."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from radiomics_hnc.choices import CVScheme, ModelTask
from radiomics_hnc.errors import ConfigError
from radiomics_hnc.resources import model_spec_path
from radiomics_hnc.workspace import unsafe_name_reason

log = logging.getLogger(__name__)
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


#: Keys renamed to the one spelling of "centre" in settings and files (``center``, as the data's
#: column), old spelling -> new; the old one is still read, with a warning.
_RENAMED_KEYS = {"min_centre_size": "min_center_size", "min_centre_events": "min_center_events"}


class Validation(_Strict):
    """Defaults of the validation scheme (the CLI ``--cv`` overrides ``cv``)."""

    cv: CVScheme = CVScheme.LOCO
    min_center_size: int = Field(20, ge=2)
    min_center_events: int = Field(5, ge=1)
    n_splits: int = Field(5, ge=2)
    n_repeats: int = Field(1, ge=1)
    holdout_centers: list[str] = Field(default_factory=list)
    n_bootstrap: int = Field(200, ge=0)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for old, new in _RENAMED_KEYS.items():
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"{old} and {new} are the same setting: keep {new} only")
            log.warning("validation.%s is deprecated: spell it %s", old, new)
            data[new] = data.pop(old)
        return data


class ModelSpec(_Strict):
    """One model: task, predictors, preprocessing, selection, estimator, validation.

    Predictors are every column of the ``features`` sets plus the ``columns`` named one by one
    (a pre-specified model, e.g. from the literature, names only columns).
    """

    name: str
    task: ModelTask
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
                             f"not {str(self.task)!r}")
        default = entry.factory(**entry.defaults)
        problems = parameter_problems(default, self.params, "params")
        if not problems and self.tuning is not None:
            problems = _grid_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def parameter_problems(estimator: Any, params: Mapping[str, Any], where: str) -> list[str]:
    """What is wrong with setting ``params`` on ``estimator``: unknown names, wrong types.

    Types are checked with scikit-learn's declared constraints where the class has them,
    else against its constructor's annotations (xgboost and our wrappers), so that a wrong
    value fails when the spec is read instead of deep inside a fit.
    """
    known = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        return [f"{where}: unknown parameter(s) {', '.join(map(repr, unknown))} of "
                f"{type(estimator).__name__}; its parameters: {', '.join(sorted(known))}"]
    if hasattr(type(estimator), "_parameter_constraints"):
        try:
            clone(estimator).set_params(**params)._validate_params()
        except InvalidParameterError as exc:
            return [f"{where}: {exc}"]
        return []
    hints = _constructor_hints(type(estimator))
    return [f"{where}.{key}: expected {_type_text(hints[key])}, got {value!r}"
            for key, value in params.items() if key in hints and not _fits(hints[key], value)]


def _constructor_hints(cls: type) -> dict[str, Any]:
    """Annotations of the constructors along the class hierarchy (XGBClassifier's own takes
    ``**kwargs`` and passes them to XGBModel's, which declares them)."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if "__init__" in vars(base):
            try:
                hints.update(get_type_hints(base.__init__))
            except Exception:  # annotations that cannot be resolved: nothing to check against
                continue
    return hints


def _fits(hint: Any, value: Any) -> bool:
    """Whether ``value`` has the annotated type (ints pass for floats, nothing is coerced)."""
    try:
        adapter = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # protocols, callables: pydantic builds no check, so none is made
        return True
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


def _type_text(hint: Any) -> str:
    if get_origin(hint) in (Union, UnionType):
        names = [_type_text(arg) for arg in get_args(hint)]
        return ", ".join(names[:-1]) + " or " + names[-1]
    return "None" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _grid_problems(spec: ModelSpec) -> list[str]:
    """Tuning grid keys must name a pipeline parameter, and every candidate must fit it."""
    from radiomics_hnc.modeling.pipeline import build_pipeline

    pipeline = build_pipeline(spec, ["GTVp_PT_example"])
    deep = pipeline.get_params(deep=True)
    problems = []
    for name, candidates in spec.tuning.grid.items():  # type: ignore[union-attr]
        key = name if "__" in name else f"estimator__{name}"
        step, _, param = key.partition("__")
        if key not in deep:
            own = sorted(pipeline.named_steps["estimator"].get_params(deep=False))
            problems.append(f"tuning.grid: {name!r} is not a parameter of the pipeline "
                            f"(estimator parameters: {', '.join(own)}; other steps: "
                            f"{', '.join(pipeline.named_steps)}, as STEP__PARAMETER)")
        elif "__" not in param:
            problems += [problem for value in candidates for problem in parameter_problems(
                pipeline.named_steps[step], {param: value}, f"tuning.grid.{name}")]
    return problems


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
        # Whole-spec checks name their keys themselves.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"]
                             else e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"invalid model spec: {problems}", path=path,
                          hint="see models/README.md for the accepted keys") from exc
