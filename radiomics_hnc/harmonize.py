"""ComBat harmonisation of radiomic features across centres, as a scikit-learn transformer.

ComBat (Johnson, Li & Rabinovic 2007; Fortin et al. 2018) models each feature as
``x = alpha + covariates @ beta + gamma_centre + delta_centre * error`` and removes the additive
(``gamma``) and multiplicative (``delta``) centre effects, with empirical Bayes shrinkage of both
toward priors pooled over features. :class:`ComBat` fits those estimates on a training fold and
applies them to any rows, which is what leave-one-centre-out validation needs.

How the centre reaches the transformer inside a Pipeline: ``X`` is a DataFrame holding the
feature columns plus the centre column named by ``batch_column`` (and any ``covariates``); the
transformer uses those columns for the design and drops them from its output. With a NumPy
array, ``batch_column`` and ``covariates`` are column indices instead.

Unseen centres (``unseen=``):

- ``"raise"``: transforming a row from a centre absent in training raises :class:`InputDataError`.
- ``"passthrough"``: such rows are returned unchanged (a warning is logged).
- ``"estimate"``: the new centre's location and scale are estimated from its own feature values
  in the transform call (never from outcomes), standardised with the training grand mean and
  pooled variance, and shrunk toward the training priors by the same empirical Bayes step. Its
  output therefore depends on the other rows of that centre passed in the same call.

Missing feature values are ignored in every estimate and stay missing in the output. Features
with no variance in the training data pass through unchanged. A centre with a single training
row gets a location estimate and the pooled scale prior.

Covariates (``covariates=``) are numbers or categories: numeric columns enter the design as
they are, text and categorical columns one-hot, without their first level (in sorted order):
the centre columns already span the intercept. ComBat needs every covariate value, so a
missing value is an :class:`InputDataError` naming the column and the patients (never imputed,
e.g. an unknown HPV status is not guessed before ComBat), as are a covariate with a single
value in the training rows, covariates fixed within each centre (confounded with it) and, in
``transform``, a level not seen in training.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from radiomics_hnc.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

UNSEEN_POLICIES = ("raise", "passthrough", "estimate")
_EPS = 1e-12


class ComBat(TransformerMixin, BaseEstimator):
    """Remove centre (batch) effects from features with empirical Bayes ComBat.

    Parameters
    ----------
    batch_column
        Name (DataFrame input) or index (array input) of the centre column.
    covariates
        Columns whose effects are preserved (e.g. ``["age", "sex"]``): numeric columns as
        numbers, text or categorical columns one-hot (see the module docstring); complete.
        Used in the design and dropped from the output.
    parametric
        Parametric (normal / inverse-gamma priors) or non-parametric empirical Bayes.
    eb
        Whether to shrink the centre estimates at all (``False``: plain location/scale).
    unseen
        Policy for centres absent in training: ``"raise"``, ``"passthrough"`` or ``"estimate"``.
    tol, max_iter
        Convergence tolerance (relative change) and iteration cap of the parametric EB solver.
    """

    def __init__(
        self,
        batch_column: str | int = "center",
        covariates: Sequence[str | int] | None = None,
        parametric: bool = True,
        eb: bool = True,
        unseen: str = "raise",
        tol: float = 1e-4,
        max_iter: int = 1000,
    ) -> None:
        self.batch_column = batch_column
        self.covariates = covariates
        self.parametric = parametric
        self.eb = eb
        self.unseen = unseen
        self.tol = tol
        self.max_iter = max_iter

    # ------------------------------------------------------------------ input handling
    def _split(self, X) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, list[str]]:
        """Features (float, NaN allowed), batch labels (str), covariates as given, names."""
        covariates = list(self.covariates or [])
        if isinstance(X, pd.DataFrame):
            missing = [c for c in [self.batch_column, *covariates] if c not in X.columns]
            if missing:
                raise InputDataError(
                    f"ComBat input lacks column(s) {missing}",
                    hint=f"pass a DataFrame with the centre column {self.batch_column!r}")
            drop = [self.batch_column, *covariates]
            names = [str(c) for c in X.columns if c not in drop]
            features = X[[c for c in X.columns if c not in drop]].to_numpy(dtype=float)
            batch = X[self.batch_column].astype(str).to_numpy()
            cov = X[covariates]
        else:
            array = check_array(X, ensure_all_finite="allow-nan", dtype=np.float64)
            if not isinstance(self.batch_column, int | np.integer):
                raise ConfigError("with array input, batch_column must be a column index",
                                  hint="pass a DataFrame or an integer batch_column")
            drop = [int(self.batch_column), *[int(c) for c in covariates]]
            keep = [i for i in range(array.shape[1]) if i not in drop]
            names = [f"x{i}" for i in keep]
            features = array[:, keep]
            batch = np.array([repr(v) for v in array[:, int(self.batch_column)]])
            cov = pd.DataFrame(array[:, drop[1:]], columns=covariates)
        return features, batch, cov, names

    def _covariate_matrix(self, cov: pd.DataFrame) -> np.ndarray:
        """Numeric design columns of the covariates (uncentred), per :attr:`covariate_levels_`."""
        blocks = [np.empty((len(cov), 0))]
        for name, levels in self.covariate_levels_.items():
            values = _complete(cov, name)
            if levels is None:
                blocks.append(values.to_numpy(dtype=float)[:, None])
                continue
            text = values.astype(str).to_numpy()
            unseen = sorted(set(text) - set(levels))
            if unseen:
                raise InputDataError(
                    f"ComBat covariate {name!r} has value(s) {unseen} not seen when ComBat was "
                    f"fitted (seen: {levels})",
                    hint="a category needs training patients before ComBat can adjust for it")
            blocks.append((text[:, None] == np.array(levels[1:])[None, :]).astype(float))
        return np.hstack(blocks)

    def _design_covariates(self, cov: pd.DataFrame) -> np.ndarray:
        """Covariate design columns centred on their training means."""
        return self._covariate_matrix(cov) - self.covariate_mean_

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Estimate the standardisation, centre effects and their priors on training rows."""
        if self.unseen not in UNSEEN_POLICIES:
            raise ConfigError(f"unseen={self.unseen!r} is not one of {UNSEEN_POLICIES}")
        validate_data(self, _as_2d(X), skip_check_array=True)
        features, batch, cov, names = self._split(X)
        if features.shape[0] < 2:
            raise ValueError(f"ComBat needs at least 2 samples, got n_samples = {len(features)}")
        if np.isinf(features).any():
            raise ValueError("Input X contains infinity")
        self.feature_names_out_ = np.array(names, dtype=object)
        self.batches_, codes = np.unique(batch, return_inverse=True)
        self.covariate_levels_ = _covariate_levels(cov)
        raw_cov = self._covariate_matrix(cov)
        self.covariate_mean_ = raw_cov.mean(axis=0)
        design_cov = raw_cov - self.covariate_mean_
        onehot = np.eye(len(self.batches_))[codes]
        design = np.hstack([onehot, design_cov])
        if design_cov.shape[1] and np.linalg.matrix_rank(design) < design.shape[1]:
            raise InputDataError(
                f"ComBat covariates {list(cov.columns)} are confounded with the centres (a "
                "covariate, or a combination of them, is fixed within each centre): ComBat "
                "cannot tell their effects from the centres'",
                hint="remove the covariate from preprocessing.combat_covariates")
        coef = _masked_least_squares(design, features)
        batch_coef, self.covariate_coef_ = coef[: len(self.batches_)], coef[len(self.batches_):]
        observed = ~np.isnan(features)
        weights = observed.T @ onehot  # (features, batches): observed counts per centre
        weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1)
        self.grand_mean_ = np.einsum("pb,bp->p", weights, batch_coef)
        fitted = onehot @ batch_coef + design_cov @ self.covariate_coef_
        self.var_pooled_ = np.nanmean((features - fitted) ** 2, axis=0)
        self.constant_ = ~(self.var_pooled_ > _EPS)
        self.var_pooled_[self.constant_] = 1.0
        self.grand_mean_ = np.nan_to_num(self.grand_mean_)
        standard = self._standardise(features, cov)
        gamma_hat, delta_hat = _centre_moments(standard, codes, len(self.batches_))
        self.gamma_hat_, self.delta_hat_ = gamma_hat, delta_hat
        self._fit_priors(gamma_hat, delta_hat)
        self.gamma_star_, self.delta_star_ = self._shrink(standard, codes, gamma_hat, delta_hat)
        return self

    def _standardise(self, features: np.ndarray, cov: np.ndarray) -> np.ndarray:
        stand_mean = self.grand_mean_ + self._design_covariates(cov) @ self.covariate_coef_
        return (features - stand_mean) / np.sqrt(self.var_pooled_)

    def _fit_priors(self, gamma_hat: np.ndarray, delta_hat: np.ndarray) -> None:
        """Normal prior of gamma and inverse-gamma prior of delta, per centre and pooled."""
        self.gamma_bar_ = np.nanmean(gamma_hat, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # single-feature or 1-row centres
            self.tau2_ = np.nanvar(gamma_hat, axis=1, ddof=1)
        self.a_prior_, self.b_prior_ = _inverse_gamma_moments(delta_hat)
        pooled_t2 = np.nanvar(gamma_hat.ravel(), ddof=1) if gamma_hat.size > 1 else np.nan
        pooled_a, pooled_b = _inverse_gamma_moments(delta_hat.reshape(1, -1))
        self.pooled_prior_ = {"gamma_bar": float(np.nanmean(gamma_hat)), "tau2": float(pooled_t2),
                              "a": float(pooled_a[0]), "b": float(pooled_b[0])}
        for name in ("tau2", "a", "b"):
            if not np.isfinite(self.pooled_prior_[name]) or self.pooled_prior_[name] <= 0:
                self.pooled_prior_[name] = {"tau2": 1.0, "a": 3.0, "b": 2.0}[name]
        bad = ~np.isfinite(self.tau2_) | (self.tau2_ <= 0)
        self.tau2_[bad] = self.pooled_prior_["tau2"]
        bad = ~np.isfinite(self.a_prior_) | ~np.isfinite(self.b_prior_) | (self.a_prior_ <= 1)
        self.a_prior_[bad], self.b_prior_[bad] = self.pooled_prior_["a"], self.pooled_prior_["b"]
        self.gamma_bar_ = np.where(np.isfinite(self.gamma_bar_), self.gamma_bar_,
                                   self.pooled_prior_["gamma_bar"])

    def _shrink(self, standard, codes, gamma_hat, delta_hat) -> tuple[np.ndarray, np.ndarray]:
        """Empirical Bayes estimates (gamma*, delta*) per centre and feature."""
        gamma_star, delta_star = np.zeros_like(gamma_hat), np.ones_like(delta_hat)
        self.n_iter_ = 1
        for b in range(gamma_hat.shape[0]):
            values = standard[codes == b]
            prior = (self.gamma_bar_[b], self.tau2_[b], self.a_prior_[b], self.b_prior_[b])
            gamma_star[b], delta_star[b] = self._shrink_one(values, gamma_hat[b], delta_hat[b],
                                                            prior)
        gamma_star[:, self.constant_], delta_star[:, self.constant_] = 0.0, 1.0
        return gamma_star, delta_star

    def _shrink_one(self, values, g_hat, d_hat, prior) -> tuple[np.ndarray, np.ndarray]:
        g_bar, t2, a, b = prior
        prior_delta = b / (a - 1)
        d_hat = np.where(np.isfinite(d_hat) & (d_hat > _EPS), d_hat, prior_delta)
        g_hat = np.where(np.isfinite(g_hat), g_hat, g_bar)
        if not self.eb:
            return g_hat, d_hat
        if self.parametric:
            g_star, d_star, n_iter = _parametric_eb(values, g_hat, d_hat, g_bar, t2, a, b,
                                                    self.tol, self.max_iter)
            self.n_iter_ = max(getattr(self, "n_iter_", 1), n_iter)
            return g_star, d_star
        return _nonparametric_eb(values, g_hat, d_hat)

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Harmonise rows; the centre and covariate columns are dropped from the output."""
        check_is_fitted(self, "gamma_star_")
        X = _as_2d(X)
        validate_data(self, X, skip_check_array=True, reset=False)
        features, batch, cov, _ = self._split(X)
        if features.shape[1] != len(self.feature_names_out_):
            raise ValueError(
                f"X has {features.shape[1]} features, but ComBat is expecting "
                f"{len(self.feature_names_out_)} features as input")
        standard = self._standardise(features, cov)
        gamma = np.zeros_like(standard)
        delta = np.ones_like(standard)
        index = {name: i for i, name in enumerate(self.batches_)}
        known = np.array([b in index for b in batch], dtype=bool)
        if known.any():
            rows = np.array([index[b] for b in batch[known]])
            gamma[known], delta[known] = self.gamma_star_[rows], self.delta_star_[rows]
        unseen = sorted(set(batch[~known]))
        if unseen and self.unseen == "raise":
            raise InputDataError(
                f"centre(s) {unseen} were not seen when ComBat was fitted "
                f"(fitted on {list(self.batches_)})",
                hint="set unseen='passthrough' or 'estimate' to transform new centres")
        for name in unseen:
            rows = batch == name
            if self.unseen == "passthrough":
                log.warning("ComBat: centre %s not seen in training; passed through unchanged",
                            name)
                continue
            gamma[rows], delta[rows] = self._estimate_unseen(standard[rows])
        adjusted = (standard - gamma) / np.sqrt(delta)
        out = adjusted * np.sqrt(self.var_pooled_) + (
            self.grand_mean_ + self._design_covariates(cov) @ self.covariate_coef_)
        passthrough = np.isin(batch, unseen) if self.unseen == "passthrough" else np.zeros(
            len(batch), dtype=bool)
        out[passthrough] = features[passthrough]
        out[:, self.constant_] = features[:, self.constant_]
        return out

    def _estimate_unseen(self, standard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Location/scale of a new centre from its own rows, shrunk to the pooled priors."""
        codes = np.zeros(len(standard), dtype=int)
        g_hat, d_hat = _centre_moments(standard, codes, 1)
        p = self.pooled_prior_
        g_star, d_star = self._shrink_one(standard, g_hat[0], d_hat[0],
                                          (p["gamma_bar"], p["tau2"], p["a"], p["b"]))
        g_star[self.constant_], d_star[self.constant_] = 0.0, 1.0
        return g_star, d_star

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the harmonised features (the centre and covariate columns removed)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _complete(cov: pd.DataFrame, name) -> pd.Series:
    """Column ``name`` of the covariates, refusing missing values (ComBat cannot use them)."""
    values = cov[name]
    missing = values.isna().to_numpy()
    if missing.any():
        shown = ", ".join(map(str, values.index[missing][:5])) + (
            " ..." if missing.sum() > 5 else "")
        raise InputDataError(
            f"ComBat covariate {name!r} is missing for {int(missing.sum())} of {len(values)} "
            f"patients ({shown}); ComBat needs every covariate value and does not impute them",
            hint="fill the values in the patients table (clinical table), or remove the column "
            "from preprocessing.combat_covariates")
    return values


def _covariate_levels(cov: pd.DataFrame) -> dict:
    """Each covariate's sorted levels when it is categorical (text, categories), None when it is
    numeric (booleans included); raising for a covariate with a single value."""
    levels = {}
    for name in cov.columns:
        values = _complete(cov, name)
        numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        found = sorted(values.unique().tolist() if numeric else set(values.astype(str)))
        if len(found) < 2:
            raise InputDataError(
                f"ComBat covariate {name!r} has a single value ({found[0]!r}) in the "
                f"{len(values)} training patients: its effect cannot be told from the centres'",
                hint="remove it from preprocessing.combat_covariates")
        levels[name] = None if numeric else found
    return levels


def _as_2d(X):
    """DataFrames as they are; anything else checked as a 2D float array."""
    if isinstance(X, pd.DataFrame):
        return X
    return check_array(X, ensure_all_finite="allow-nan", dtype=np.float64)


def _masked_least_squares(design: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares coefficients per feature, each fitted on its observed rows only."""
    coef = np.zeros((design.shape[1], values.shape[1]))
    observed = ~np.isnan(values)
    complete = observed.all(axis=0)
    if complete.any():
        coef[:, complete] = np.linalg.lstsq(design, values[:, complete], rcond=None)[0]
    for j in np.flatnonzero(~complete):
        rows = observed[:, j]
        if rows.any():
            coef[:, j] = np.linalg.lstsq(design[rows], values[rows, j], rcond=None)[0]
    return coef


def _centre_moments(standard: np.ndarray, codes: np.ndarray, n_batches: int):
    """Per-centre mean and variance (ddof=1) of standardised features, NaN-aware."""
    gamma = np.full((n_batches, standard.shape[1]), np.nan)
    delta = np.full_like(gamma, np.nan)
    for b in range(n_batches):
        values = standard[codes == b]
        counts = (~np.isnan(values)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sums = np.nansum(values, axis=0)
            gamma[b] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            sq = np.nansum((values - gamma[b]) ** 2, axis=0)
            delta[b] = np.where(counts > 1, sq / np.maximum(counts - 1, 1), np.nan)
    return gamma, delta


def _inverse_gamma_moments(delta_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Method-of-moments inverse-gamma (a, b) per row of ``delta_hat``."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # centres with no variance estimate
        m = np.nanmean(delta_hat, axis=1)
        s2 = np.array([np.nanvar(row, ddof=1) if np.isfinite(row).sum() > 1 else np.nan
                       for row in delta_hat])
        return (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2


def _parametric_eb(values, g_hat, d_hat, g_bar, t2, a, b, tol, max_iter):
    """Johnson et al.'s iterative posterior means of gamma and delta (one centre)."""
    n = (~np.isnan(values)).sum(axis=0)
    g_old, d_old = g_hat.copy(), d_hat.copy()
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
        sum2 = np.nansum((values - g_new) ** 2, axis=0)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            change = max(np.nanmax(np.abs(g_new - g_old) / np.maximum(np.abs(g_old), _EPS)),
                         np.nanmax(np.abs(d_new - d_old) / np.maximum(np.abs(d_old), _EPS)))
        g_old, d_old = g_new, d_new
        if change < tol:
            break
    return g_old, d_old, iteration


def _nonparametric_eb(values, g_hat, d_hat):
    """Non-parametric EB: each feature's estimate is the likelihood-weighted average of the
    other features' (gamma, delta), computed in log space so it never underflows."""
    p = len(g_hat)
    g_star, d_star = g_hat.copy(), d_hat.copy()
    if p < 2:
        return g_star, d_star
    for i in range(p):
        x = values[:, i]
        x = x[~np.isnan(x)]
        if x.size == 0:
            continue
        others = np.arange(p) != i
        g, d = g_hat[others], d_hat[others]
        sum2 = ((x[None, :] - g[:, None]) ** 2).sum(axis=1)
        log_lh = -0.5 * x.size * np.log(2 * np.pi * d) - sum2 / (2 * d)
        weights = np.exp(log_lh - logsumexp(log_lh))
        g_star[i], d_star[i] = weights @ g, weights @ d
    return g_star, d_star
