"""Explicit registry of the estimators a spec may name, and xgboost survival wrappers.

The xgboost wrappers follow scikit-survival's convention: ``y`` is a structured array
(event indicator, time in days) and ``predict`` returns a risk score, higher = earlier relapse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data
from sksurv.ensemble import (
    ComponentwiseGradientBoostingSurvivalAnalysis,
    GradientBoostingSurvivalAnalysis,
    RandomSurvivalForest,
)
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import check_y_survival


class _XGBSurvival(BaseEstimator):
    """Shared fit/predict of the xgboost survival objectives."""

    _objective = ""

    def __init__(self, n_estimators: int = 200, learning_rate: float = 0.05, max_depth: int = 3,
                 subsample: float = 0.8, colsample_bytree: float = 0.5, min_child_weight: float = 1,
                 reg_lambda: float = 1.0, random_state: int = 0, n_jobs: int = 1) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict[str, Any]:
        return {"objective": self._objective, "eta": self.learning_rate,
                "max_depth": self.max_depth, "subsample": self.subsample,
                "colsample_bytree": self.colsample_bytree,
                "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
                "seed": self.random_state, "nthread": self.n_jobs, "verbosity": 0}

    def fit(self, X, y):
        """Fit on features ``X`` and a structured survival array ``y`` (event, days)."""
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        event, time = check_y_survival(y)
        matrix = self._dmatrix(X, event.astype(bool), time.astype(float))
        booster = xgb.train(self._params(), matrix, num_boost_round=self.n_estimators)
        self.booster_raw_ = bytes(booster.save_raw("ubj"))
        return self

    def booster(self) -> xgb.Booster:
        """The fitted booster (rebuilt from its stored UBJSON bytes)."""
        check_is_fitted(self, "booster_raw_")
        booster = xgb.Booster()
        booster.load_model(bytearray(self.booster_raw_))
        return booster

    def _margin(self, X) -> np.ndarray:
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.booster().predict(xgb.DMatrix(X), output_margin=True)

    def score(self, X, y) -> float:
        """Harrell's concordance index of the predicted risk."""
        event, time = check_y_survival(y)
        return concordance_index_censored(event, time, self.predict(X))[0]


class XGBCoxSurvival(_XGBSurvival):
    """xgboost ``survival:cox``; ``predict`` is the log hazard ratio (higher = higher risk)."""

    _objective = "survival:cox"

    def _dmatrix(self, X, event, time) -> xgb.DMatrix:
        return xgb.DMatrix(X, label=np.where(event, time, -time))

    def predict(self, X) -> np.ndarray:
        """Log hazard ratio per patient."""
        return self._margin(X)


class XGBAFTSurvival(_XGBSurvival):
    """xgboost ``survival:aft`` (log-normal); ``predict`` is minus the predicted log time."""

    _objective = "survival:aft"

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "aft_loss_distribution": "normal",
                "aft_loss_distribution_scale": 1.0}

    def _dmatrix(self, X, event, time) -> xgb.DMatrix:
        matrix = xgb.DMatrix(X)
        matrix.set_float_info("label_lower_bound", time)
        matrix.set_float_info("label_upper_bound", np.where(event, time, np.inf))
        return matrix

    def predict(self, X) -> np.ndarray:
        """Risk score = -log(predicted relapse-free time in days)."""
        return -self._margin(X)


@dataclass(frozen=True)
class EstimatorEntry:
    """A registered estimator: its task, constructor and default parameters."""

    task: str
    factory: Callable[..., Any]
    defaults: dict[str, Any]
    tree_based_xgb: bool = False


ESTIMATORS: dict[str, EstimatorEntry] = {
    "gbsa": EstimatorEntry("rfs", GradientBoostingSurvivalAnalysis,
                           {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3,
                            "subsample": 0.8, "random_state": 0}),
    "componentwise_gbsa": EstimatorEntry("rfs", ComponentwiseGradientBoostingSurvivalAnalysis,
                                         {"n_estimators": 200, "learning_rate": 0.1,
                                          "random_state": 0}),
    "rsf": EstimatorEntry("rfs", RandomSurvivalForest,
                          {"n_estimators": 200, "min_samples_leaf": 10, "max_features": "sqrt",
                           "random_state": 0, "n_jobs": 1}),
    "coxnet": EstimatorEntry("rfs", CoxnetSurvivalAnalysis,
                             {"l1_ratio": 0.5, "alpha_min_ratio": 0.05, "n_alphas": 50,
                              "fit_baseline_model": True}),
    "coxph": EstimatorEntry("rfs", CoxPHSurvivalAnalysis, {"alpha": 0.1, "ties": "efron"}),
    "xgb_cox": EstimatorEntry("rfs", XGBCoxSurvival, {}, tree_based_xgb=True),
    "xgb_aft": EstimatorEntry("rfs", XGBAFTSurvival, {}, tree_based_xgb=True),
    "xgb_classifier": EstimatorEntry("hpv", xgb.XGBClassifier,
                                     {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3,
                                      "subsample": 0.8, "colsample_bytree": 0.5,
                                      "random_state": 0, "n_jobs": 1, "verbosity": 0}),
    "elasticnet_logistic": EstimatorEntry("hpv", LogisticRegression,
                                          {"solver": "saga", "l1_ratio": 0.5, "C": 0.1,
                                           "max_iter": 2000, "random_state": 0}),
}


def build_estimator(name: str, params: dict[str, Any] | None = None) -> Any:
    """A fresh estimator from the registry: defaults overridden by the spec's ``params``."""
    entry = ESTIMATORS[name]
    return entry.factory(**{**entry.defaults, **(params or {})})
