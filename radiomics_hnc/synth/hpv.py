"""HPV status as the cause of the phenotype, and its exact posterior (the true HPV probability).

HPV status is drawn first, from the centre's prior log-odds; every trait it influences is then
drawn from an HPV-positive or HPV-negative distribution, independently given the status:
HPV-positive patients are younger, smoke less, have small (or no visible) primaries and more,
larger, often cystic nodes. The parameters below are ``(HPV-negative, HPV-positive)`` pairs.

The *true HPV probability* is the Bayes posterior P(HPV+ | the generating draws): each draw
adds its log-likelihood ratio to :class:`HpvEvidence` as it is made, so the draw and its evidence
cannot disagree. Its AUC (the oracle) is therefore the best any model of the patient's traits
and centre can reach, not the AUC of a hidden variable that the data only hints at; models lose
what imaging, rounding, clipping and missing table values blur, and, validated on an unseen
centre, that centre's prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.centers import CenterProfile

#: Log-odds of HPV-positive status added to the centre's offset.
BASE_LOGIT = -0.45
#: Age in years: means and common SD; share of smokers.
AGE_MEAN, AGE_SD = (64.0, 60.5), 9.0
P_TOBACCO = (0.72, 0.5)
#: Share with no visible primary (nodal disease of unknown primary, mostly HPV-driven).
P_NO_PRIMARY = (0.04, 0.10)
#: Primary tumour: log volume (ml) means and SD; uptake heterogeneity means and SD.
PRIMARY_LOG_ML, PRIMARY_LOG_ML_SD = (np.log(24.0), np.log(8.0)), 0.8
PRIMARY_HETEROGENEITY, PRIMARY_HETEROGENEITY_SD = (0.26, 0.24), 0.07
#: Nodes: Poisson rate of the count, log volume (ml) means and SD, share that are cystic.
NODE_RATE = (1.0, 1.5)
NODE_LOG_ML, NODE_LOG_ML_SD = (np.log(2.5), np.log(3.8)), 0.8
P_CYSTIC = (0.08, 0.25)


def sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


@dataclass
class HpvEvidence:
    """A patient's HPV status, and the log-likelihood ratio (HPV+ vs HPV-) of its draws so far.

    The ``draw_*`` methods draw a trait given the status and add that draw's evidence.
    """

    prior_logit: float
    positive: bool
    log_lr: float = 0.0

    @property
    def probability(self) -> float:
        """Posterior probability of HPV-positive status given every draw made so far."""
        return sigmoid(self.prior_logit + self.log_lr)

    def draw_normal(self, rng: np.random.Generator, means: tuple[float, float],
                    sd: float) -> float:
        value = float(rng.normal(means[self.positive], sd))
        self.log_lr += ((value - means[0]) ** 2 - (value - means[1]) ** 2) / (2 * sd**2)
        return value

    def draw_bernoulli(self, rng: np.random.Generator, probabilities: tuple[float, float]) -> bool:
        event = bool(rng.random() < probabilities[self.positive])
        negative, positive = probabilities
        self.log_lr += float(np.log(positive / negative) if event
                             else np.log((1 - positive) / (1 - negative)))
        return event

    def draw_poisson(self, rng: np.random.Generator, rates: tuple[float, float]) -> int:
        count = int(rng.poisson(rates[self.positive]))
        self.log_lr += count * float(np.log(rates[1] / rates[0])) - (rates[1] - rates[0])
        return count

    def truth(self) -> dict[str, float]:
        """Prior, evidence and posterior, for the ground-truth tables."""
        return {"hpv_prior": sigmoid(self.prior_logit), "hpv_log_lr": self.log_lr,
                "hpv_probability": self.probability}


def draw_hpv_status(rng: np.random.Generator, profile: CenterProfile) -> HpvEvidence:
    """HPV status from the centre's prior, with no evidence yet."""
    prior_logit = BASE_LOGIT + profile.hpv_logit_offset
    return HpvEvidence(prior_logit, bool(rng.random() < sigmoid(prior_logit)))


def model_parameters() -> dict[str, object]:
    """The HPV model's parameters, ``(HPV-negative, HPV-positive)``, for ``parameters.json``."""
    return {
        "base_logit": BASE_LOGIT, "age_mean": AGE_MEAN, "age_sd": AGE_SD,
        "p_tobacco": P_TOBACCO, "p_no_primary": P_NO_PRIMARY,
        "primary_log_ml": [float(m) for m in PRIMARY_LOG_ML],
        "primary_log_ml_sd": PRIMARY_LOG_ML_SD,
        "primary_heterogeneity": PRIMARY_HETEROGENEITY,
        "primary_heterogeneity_sd": PRIMARY_HETEROGENEITY_SD, "node_rate": NODE_RATE,
        "node_log_ml": [float(m) for m in NODE_LOG_ML], "node_log_ml_sd": NODE_LOG_ML_SD,
        "p_cystic": P_CYSTIC,
    }
