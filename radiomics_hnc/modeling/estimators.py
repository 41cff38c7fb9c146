"""Explicit registry of the estimators a spec may name, and xgboost survival wrappers.

Our survival estimators follow scikit-survival's conventions: ``y`` is a structured array
(event indicator, time in days), ``predict`` returns a risk score (higher = earlier relapse)
and ``score`` is Harrell's C, from :class:`sksurv.base.SurvivalAnalysisMixin`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted, validate_data
from sksurv.base import SurvivalAnalysisMixin
from sksurv.ensemble import (
    ComponentwiseGradientBoostingSurvivalAnalysis,
    GradientBoostingSurvivalAnalysis,
    RandomSurvivalForest,
)
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.util import check_y_survival

from radiomics_hnc.modeling.metrics import harrell_c


class XGBSurvival(SurvivalAnalysisMixin, BaseEstimator):
    """Shared fit/predict of the xgboost survival objectives (subclasses set the objective)."""

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


class XGBCoxSurvival(XGBSurvival):
    """xgboost ``survival:cox``; ``predict`` is the log hazard ratio (higher = higher risk)."""

    _objective = "survival:cox"

    def _dmatrix(self, X, event, time) -> xgb.DMatrix:
        return xgb.DMatrix(X, label=np.where(event, time, -time))

    def predict(self, X) -> np.ndarray:
        """Log hazard ratio per patient."""
        return self._margin(X)


class XGBAFTSurvival(XGBSurvival):
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


PENALTY_RULES = ("best", "one_se")


def penalty_choice(scores: np.ndarray, rule: str = "best") -> int:
    """Index of the chosen penalty from inner-fold scores (folds x penalties, strongest penalty
    first; higher score = better; NaN where a fold could not score).

    ``best``: the highest mean score (ties: the stronger penalty). ``one_se``: the strongest
    penalty whose mean is within one standard error of the best (the "1-SE rule" of Breiman et
    al. and glmnet), the usual choice when the penalty selects features. Without any score:
    the weakest penalty.
    """
    if rule not in PENALTY_RULES:
        raise ValueError(f"rule must be one of {PENALTY_RULES}, got {rule!r}")
    finite = np.isfinite(scores)
    counts = finite.sum(axis=0)
    if not counts.any():
        return scores.shape[1] - 1
    totals = np.where(finite, scores, 0.0)
    mean = np.where(counts > 0, totals.sum(axis=0) / np.maximum(counts, 1), -np.inf)
    best = int(np.argmax(mean))
    if rule == "best" or counts[best] < 2:
        return best
    spread = np.sqrt(np.sum(np.where(finite[:, best], (scores[:, best] - mean[best]) ** 2, 0.0))
                     / (counts[best] - 1))
    return int(np.argmax(mean >= mean[best] - spread / np.sqrt(counts[best])))


class CoxnetCV(SurvivalAnalysisMixin, BaseEstimator):
    """Elastic-net Cox model whose penalty is chosen by inner cross-validation on the C-index.

    As scikit-survival's user guide does with ``GridSearchCV`` over a path's alphas: the path
    (``n_alphas`` penalties down to ``alpha_min_ratio`` of the largest) is computed on the
    training data, each penalty is scored by the mean Harrell's C of ``inner_folds`` folds
    stratified on the event, and the model is refitted on all training data at the best one.
    Penalties at which every coefficient is zero (a constant risk) are not candidates. Ties
    go to the larger penalty (the sparser model). ``rule="one_se"`` takes the largest penalty
    within one standard error of the best (for feature selection, where the best penalty for
    prediction keeps too many noise features). ``coef_`` are the refitted coefficients.
    """

    def __init__(self, l1_ratio: float = 0.5, n_alphas: int = 50, alpha_min_ratio: float = 0.01,
                 inner_folds: int = 5, rule: str = "best", random_state: int = 0,
                 max_iter: int = 100000) -> None:
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.inner_folds = inner_folds
        self.rule = rule
        self.random_state = random_state
        self.max_iter = max_iter

    def _coxnet(self, **kwargs) -> CoxnetSurvivalAnalysis:
        return CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, max_iter=self.max_iter, **kwargs)

    def fit(self, X, y):
        """Choose the penalty by inner cross-validation, then refit at it."""
        X = validate_data(self, X)
        event, _ = check_y_survival(y)
        path = self._coxnet(n_alphas=self.n_alphas, alpha_min_ratio=self.alpha_min_ratio).fit(X, y)
        alphas = path.alphas_[np.any(path.coef_ != 0, axis=0)]
        self.alphas_ = alphas if alphas.size else path.alphas_[-1:]
        folds = min(self.inner_folds, int(event.sum()), int((~event).sum()))
        scores = np.full((max(folds, 1), self.alphas_.size), np.nan)
        if folds >= 2:
            inner = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            for i, (train, test) in enumerate(inner.split(X, event)):
                try:
                    model = self._coxnet(alphas=self.alphas_).fit(X[train], y[train])
                except ArithmeticError:  # diverged on this fold's patients: it does not vote
                    continue
                for j, alpha in enumerate(model.alphas_):
                    scores[i, j] = harrell_c(y[test], model.predict(X[test], alpha=alpha))
        self.cv_scores_ = scores
        best = penalty_choice(scores, self.rule)
        self.alpha_ = float(self.alphas_[best])
        # Refit along the path down to the chosen penalty: each fit starts from the previous
        # one's coefficients. A fit at a small penalty alone, from zero, can stop before
        # converging with many columns, and its coefficients then overflow the risk.
        self.model_ = self._coxnet(alphas=self.alphas_[:best + 1],
                                   fit_baseline_model=True).fit(X, y)
        self.coef_ = self.model_.coef_[:, -1]
        return self

    def predict(self, X) -> np.ndarray:
        """Log hazard ratio at the chosen penalty (higher = earlier relapse)."""
        check_is_fitted(self, "model_")
        return self.model_.predict(validate_data(self, X, reset=False), alpha=self.alpha_)

    def predict_survival_function(self, X, return_array: bool = False):
        """Survival functions at the chosen penalty (Breslow baseline)."""
        check_is_fitted(self, "model_")
        return self.model_.predict_survival_function(validate_data(self, X, reset=False),
                                                     alpha=self.alpha_,
                                                     return_array=return_array)


@dataclass(frozen=True)
class EstimatorEntry:
    """A registered estimator: its task, constructor and default parameters."""

    task: str
    factory: Callable[..., Any]
    defaults: dict[str, Any]


ESTIMATORS: dict[str, EstimatorEntry] = {
    "gbsa": EstimatorEntry("rfs", GradientBoostingSurvivalAnalysis,
                           {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3,
                            "subsample": 0.8, "random_state": 0}),
    "componentwise_gbsa": EstimatorEntry("rfs", ComponentwiseGradientBoostingSurvivalAnalysis,
                                         {"n_estimators": 200, "learning_rate": 0.1,
                                          "random_state": 0}),
    # A leaf of 5 % of the training patients: splits at any cohort size (a fixed 20 left the
    # trees of a 100-patient training fold without a split).
    "rsf": EstimatorEntry("rfs", RandomSurvivalForest,
                          {"n_estimators": 200, "min_samples_leaf": 0.05, "max_features": "sqrt",
                           "random_state": 0, "n_jobs": 1}),
    "coxnet": EstimatorEntry("rfs", CoxnetCV, {"l1_ratio": 0.5, "random_state": 0}),
    "coxph": EstimatorEntry("rfs", CoxPHSurvivalAnalysis, {"alpha": 0.1, "ties": "efron"}),
    "xgb_cox": EstimatorEntry("rfs", XGBCoxSurvival, {}),
    "xgb_aft": EstimatorEntry("rfs", XGBAFTSurvival, {}),
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
