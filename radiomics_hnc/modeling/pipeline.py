"""One scikit-learn Pipeline per spec, so every learnt step is fitted inside the training fold.

Order: ComBat (NaN-aware, on radiomic columns only, the centre column consumed and dropped;
clinical columns pass beside it) -> median imputation -> scaling (z-scores, optionally
after a Yeo-Johnson power transform) -> variance filter ->
correlation filter -> univariate or model-based selection -> estimator. ComBat comes before
imputation so missing values are not filled with cross-centre means before harmonisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import (
    SelectFromModel,
    SelectKBest,
    VarianceThreshold,
    f_classif,
)
from sklearn.feature_selection._base import SelectorMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PowerTransformer, StandardScaler
from sklearn.svm import l1_min_c
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data
from sksurv.util import check_y_survival

from radiomics_hnc.harmonize import ComBat
from radiomics_hnc.modeling.dataset import CENTRE_COLUMN
from radiomics_hnc.modeling.estimators import CoxnetCV, build_estimator, penalty_choice
from radiomics_hnc.modeling.specs import ModelSpec
from radiomics_hnc.workspace import is_patient_feature


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop a feature whose |Pearson r| with an earlier kept feature exceeds ``threshold``."""

    _parameter_constraints: ClassVar[dict] = {"threshold": [Interval(Real, 0, 1, closed="right")]}

    def __init__(self, threshold: float = 0.95) -> None:
        self.threshold = threshold

    def fit(self, X, y=None):
        self._validate_params()
        X = validate_data(self, X)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(np.nan_to_num(np.corrcoef(X, rowvar=False)))
        corr = np.atleast_2d(corr)
        keep = np.ones(X.shape[1], dtype=bool)
        for j in range(X.shape[1]):
            if keep[j]:
                later = np.arange(X.shape[1]) > j
                keep[later & (corr[j] > self.threshold)] = False
        self.support_ = keep
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


def cox_score_statistic(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Univariate Cox score-test statistic per column (large = strong association), O(n p).

    Breslow handling of ties is approximated by processing events in time order.
    """
    event, time = check_y_survival(y)
    order = np.argsort(-time, kind="stable")  # decreasing time: cumulative sums = risk sets
    x, e = X[order], event[order]
    at_risk = np.arange(1, len(x) + 1)[:, None]
    mean = np.cumsum(x, axis=0) / at_risk
    var = np.cumsum(x**2, axis=0) / at_risk - mean**2
    score = ((x - mean) * e[:, None]).sum(axis=0)
    information = (var * e[:, None]).sum(axis=0)
    return score**2 / np.maximum(information, 1e-12)


class CoxScoreSelector(SelectorMixin, BaseEstimator):
    """Keep the ``k`` features with the largest univariate Cox score statistic."""

    _parameter_constraints: ClassVar[dict] = {"k": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, k: int = 50) -> None:
        self.k = k

    def fit(self, X, y):
        self._validate_params()
        X = validate_data(self, X)
        self.scores_ = cox_score_statistic(X, y)
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "scores_")
        mask = np.zeros(len(self.scores_), dtype=bool)
        mask[np.argsort(-self.scores_, kind="stable")[: min(self.k, len(self.scores_))]] = True
        return mask


class L1LogisticCV(BaseEstimator):
    """L1 logistic regression whose ``C`` inner cross-validation (ROC AUC) chose: the model of
    model-based selection for HPV. ``n_cs`` values from just above the smallest ``C`` with a
    non-zero coefficient (``l1_min_c``) up to 1000 times it; ``rule`` as in
    :func:`~radiomics_hnc.modeling.estimators.penalty_choice`.
    """

    def __init__(self, n_cs: int = 12, inner_folds: int = 3, rule: str = "one_se",
                 random_state: int = 0) -> None:
        self.n_cs = n_cs
        self.inner_folds = inner_folds
        self.rule = rule
        self.random_state = random_state

    def _model(self, c: float) -> LogisticRegression:
        return LogisticRegression(l1_ratio=1.0, C=c, solver="saga", max_iter=2000,
                                  random_state=self.random_state)

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        self.cs_ = l1_min_c(X, y, loss="log") * np.logspace(0.05, 3, self.n_cs)
        folds = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.random_state)
        scores = np.full((self.inner_folds, self.n_cs), np.nan)
        for i, (train, test) in enumerate(folds.split(X, y)):
            for j, c in enumerate(self.cs_):
                p = self._model(c).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
                scores[i, j] = roc_auc_score(y[test], p)
        self.C_ = float(self.cs_[penalty_choice(scores, self.rule)])
        self.coef_ = self._model(self.C_).fit(X, y).coef_[0]
        return self


#: |coefficient| above which a penalised model keeps a feature (exact zeros are dropped).
NONZERO = 1e-10


def _selector(spec: ModelSpec):
    """Univariate top-k, or model-based: the features with a non-zero coefficient in a lasso
    model (Cox or logistic) whose penalty inner cross-validation chose by the one-SE rule (at
    most ``k`` of them, largest first). The top-k of the least penalised model, before, kept
    noise features at about their share of the candidates.
    """
    sel = spec.selection
    if sel.method == "none":
        return "passthrough"
    if sel.method == "univariate":
        return CoxScoreSelector(k=sel.k) if spec.task == "rfs" else SelectKBest(f_classif, k=sel.k)
    seed = spec.validation.seed
    if spec.task == "rfs":
        model = CoxnetCV(l1_ratio=1.0, inner_folds=3, rule="one_se", random_state=seed)
    else:
        model = L1LogisticCV(random_state=seed)
    return SelectFromModel(model, threshold=NONZERO, max_features=sel.k)


def _scaler(kind: str):
    if kind == "yeo-johnson":
        return PowerTransformer(method="yeo-johnson", standardize=True)
    return StandardScaler() if kind == "standard" else "passthrough"


def build_pipeline(spec: ModelSpec, columns: Sequence[str]) -> Pipeline:
    """The unfitted pipeline of ``spec`` for predictor ``columns``.

    Its input frame also holds the centre column and any ComBat covariates.
    """
    pre = spec.preprocessing
    covariates = list(pre.combat_covariates)
    # Only image features carry scanner effects; clinical variables and any other named column
    # (a covariate that is also a predictor, say) pass through unharmonised.
    radiomic = [c for c in columns if is_patient_feature(c) and c not in covariates]
    others = [c for c in columns if c not in radiomic]
    if pre.harmonize and radiomic:
        combat = ComBat(batch_column=CENTRE_COLUMN, covariates=covariates or None,
                        parametric=pre.combat_parametric, unseen=pre.combat_unseen)
        front = ColumnTransformer(
            [("combat", combat, [*radiomic, CENTRE_COLUMN, *covariates]),
             ("others", "passthrough", others)],
            verbose_feature_names_out=False)
    else:
        front = ColumnTransformer([("features", "passthrough", list(columns))],
                                  verbose_feature_names_out=False)
    steps = [
        ("columns", front),
        ("impute", SimpleImputer(strategy=pre.impute, keep_empty_features=True)),
        ("scale", _scaler(pre.scale)),
        ("variance", VarianceThreshold(spec.selection.variance_threshold)),
        ("correlation", CorrelationFilter(spec.selection.correlation_threshold)
         if spec.selection.correlation_threshold is not None else "passthrough"),
        ("select", _selector(spec)),
        ("estimator", build_estimator(spec.estimator, spec.params)),
    ]
    return Pipeline(steps)
