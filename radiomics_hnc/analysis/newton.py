"""Newton-Raphson for many small models at once: one model per feature, every feature's
iteration as one array operation (the Cox and logistic fits of :mod:`radiomics_hnc.analysis`).

A model is given by ``terms(beta, columns)``: the log-likelihood (p), gradient (k x p) and
information matrix (k x k x p) at coefficients ``beta`` (k x p) for the features ``columns``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Iterations stop when every step is below this...
TOLERANCE = 1e-9
#: ... or after this many; a feature whose estimate is still moving (monotone likelihood,
#: separation) is reported as not converged.
MAX_ITERATIONS = 50
#: Halvings of a step that would lower the likelihood.
MAX_HALVINGS = 20

Terms = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class NewtonResult:
    """Per feature: coefficients (k x p), log-likelihood at them and at zero, the variance of
    the coefficient ``of_interest`` and whether the iterations converged."""

    beta: np.ndarray
    loglik: np.ndarray
    loglik_at_zero: np.ndarray
    variance: np.ndarray
    converged: np.ndarray


@dataclass(frozen=True)
class UnivariableFits:
    """Per-feature estimate of the feature's coefficient and the fit of its model.

    ``loglik_null`` is the log-likelihood without the feature's coefficients on the same
    patients (coefficients 0 for Cox, intercepts only for logistic), for the likelihood-ratio
    test of a univariable model; ``events`` counts relapses or positives.
    """

    coef: np.ndarray
    se: np.ndarray
    loglik: np.ndarray
    loglik_null: np.ndarray
    n: np.ndarray
    events: np.ndarray
    converged: np.ndarray

    @property
    def wald_p(self) -> np.ndarray:
        """Two-sided Wald p-value of the feature's coefficient."""
        return 2 * stats.norm.sf(np.abs(self.coef / self.se))

    @property
    def lr_p(self) -> np.ndarray:
        """Likelihood-ratio p-value against the null model (one degree of freedom)."""
        return stats.chi2.sf(np.clip(2 * (self.loglik - self.loglik_null), 0, None), 1)


def solve_per_feature(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """``info^-1 @ grad`` per feature (k x k x p, k x p); NaN where info is singular."""
    matrices = np.nan_to_num(np.moveaxis(info, -1, 0))
    vectors = np.moveaxis(grad, -1, 0)[..., None]
    singular = ~(np.abs(np.linalg.det(matrices)) >= 1e-12)
    matrices = np.where(singular[:, None, None], np.eye(info.shape[0]), matrices)
    step = np.linalg.solve(matrices, vectors)[..., 0]
    step[singular] = np.nan
    return np.moveaxis(step, 0, -1)


def newton_raphson(terms: Terms, n_coef: int, n_features: int,
                   of_interest: int = 0) -> NewtonResult:
    """Maximise each feature's likelihood from zero; see the module docstring."""
    everything = np.arange(n_features)
    beta = np.zeros((n_coef, n_features))
    loglik, grad, info = terms(beta, everything)
    at_zero = loglik.copy()
    converged = np.zeros(n_features, dtype=bool)
    for _ in range(MAX_ITERATIONS):
        step = solve_per_feature(info, grad)
        active = np.flatnonzero(~converged & np.isfinite(step).all(axis=0))
        if not len(active):
            break
        beta[:, active], loglik[active], grad[:, active], info[:, :, active] = _line_search(
            terms, active, beta[:, active], step[:, active], loglik[active])
        converged[active] = np.abs(step[:, active]).max(axis=0) < TOLERANCE
    unit = np.zeros((n_coef, n_features))
    unit[of_interest] = 1.0
    variance = solve_per_feature(info, unit)[of_interest]
    return NewtonResult(beta, loglik, at_zero, variance, converged)


def _line_search(terms: Terms, columns: np.ndarray, beta: np.ndarray, step: np.ndarray,
                 loglik: np.ndarray):
    """A Newton step, halved for the features where it would lower the likelihood (by more
    than rounding)."""
    scale = np.ones(beta.shape[1])
    for _ in range(MAX_HALVINGS):
        trial = beta + step * scale
        new_loglik, new_grad, new_info = terms(trial, columns)
        worse = new_loglik < loglik - 1e-9 * (1 + np.abs(loglik))
        if not worse.any():
            break
        scale = np.where(worse, scale / 2, scale)
    return trial, new_loglik, new_grad, new_info
