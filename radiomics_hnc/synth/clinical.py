"""Clinical variables, HPV status and recurrence-free survival with known generating models.

Causal order: HPV status comes first and shifts age, smoking and the disease's appearance
(see :mod:`radiomics_hnc.synth.hpv` and :mod:`radiomics_hnc.synth.disease`).
Relapse follows a Weibull proportional-hazards model whose log-hazard (the *true risk*)
depends on things radiomics can see (metabolic volume, uptake heterogeneity, node count) and on
clinical variables; follow-up is censored by accrual time and drop-out.
"""

from __future__ import annotations

import numpy as np

from radiomics_hnc.synth.centers import CenterProfile
from radiomics_hnc.synth.disease import Disease
from radiomics_hnc.synth.hpv import AGE_MEAN, AGE_SD, P_TOBACCO, HpvEvidence, sigmoid

#: Log-hazard coefficients of the outcome model (per unit of each term).
RISK_COEFFICIENTS: dict[str, float] = {
    "log_mtv_ml": 0.5,
    "heterogeneity": 2.7,
    "node_count": 0.2,
    "hpv": -1.0,
    "age_decades": 0.22,
    "performance_status": 0.36,
    "chemoradiotherapy": -0.45,
    "underdose_fraction": 2.7,
    "m1": 1.1,
}
#: Weibull baseline: shape and scale (days) at zero risk; follow-up limits (days).
WEIBULL_SHAPE, WEIBULL_SCALE_DAYS = 1.1, 3500.0
ACCRUAL_DAYS, DROPOUT_MEAN_DAYS = (120.0, 2200.0), 5000.0
#: Fraction of values missing from the released tables, per column.
MISSING_RATE: dict[str, float] = {
    "age": 0.02, "gender": 0.01, "tobacco": 0.3, "alcohol": 0.35, "performance_status": 0.15,
    "treatment": 0.02, "m_stage": 0.05, "hpv": 0.12,
}


def sample_traits(rng: np.random.Generator, hpv: HpvEvidence) -> dict[str, float]:
    """Age and smoking given HPV status; gender, drinking, performance status, M-stage."""
    age = float(np.clip(round(hpv.draw_normal(rng, AGE_MEAN, AGE_SD)), 25, 92))
    tobacco = float(hpv.draw_bernoulli(rng, P_TOBACCO))
    status_score = 0.04 * (age - 63) + rng.normal()
    return {
        "hpv": float(hpv.positive),
        "age": age,
        "gender": float(rng.random() < 0.8),
        "tobacco": tobacco,
        "alcohol": float(rng.random() < sigmoid(-0.4 + 1.2 * tobacco)),
        "performance_status": float(np.searchsorted([0.3, 1.5, 2.4, 3.1], status_score)),
        "m1": float(rng.random() < 0.025),
        "mx": float(rng.random() < 0.03),
    }


def sample_treatment(rng: np.random.Generator, traits: dict[str, float],
                     disease: Disease) -> dict[str, float]:
    """Chemoradiotherapy decision and dose under-coverage (fraction of a lesion under-dosed)."""
    logit = (0.8 + 1.0 * (disease.node_count > 0) + 0.6 * (disease.total_volume_ml > 20)
             - 0.06 * (traits["age"] - 63) - 0.9 * (traits["performance_status"] >= 2))
    underdosed = rng.random() < 0.15
    return {
        "chemoradiotherapy": float(rng.random() < sigmoid(logit)),
        "underdose_fraction": float(rng.uniform(0.05, 0.35)) if underdosed else 0.0,
    }


def risk_terms(traits: dict[str, float], treatment: dict[str, float],
               disease: Disease) -> dict[str, float]:
    """The outcome model's covariates (centred), keyed like :data:`RISK_COEFFICIENTS`."""
    return {
        "log_mtv_ml": float(np.log(disease.total_volume_ml / 20.0)),
        "heterogeneity": disease.heterogeneity - 0.3,
        "node_count": float(disease.node_count) - 1.5,
        "hpv": traits["hpv"] - 0.4,
        "age_decades": (traits["age"] - 63) / 10,
        "performance_status": traits["performance_status"] - 0.5,
        "chemoradiotherapy": treatment["chemoradiotherapy"] - 0.7,
        "underdose_fraction": treatment["underdose_fraction"],
        "m1": traits["m1"],
    }


def true_risk(terms: dict[str, float]) -> float:
    """Log-hazard ratio of relapse (higher = earlier relapse)."""
    return float(sum(RISK_COEFFICIENTS[name] * value for name, value in terms.items()))


def sample_outcome(rng: np.random.Generator, risk: float) -> dict[str, float]:
    """Relapse time (Weibull PH), censoring time and the observed RFS (days) and event."""
    event_days = WEIBULL_SCALE_DAYS * (-np.log(rng.random()) / np.exp(risk)) ** (1 / WEIBULL_SHAPE)
    censor_days = min(rng.uniform(*ACCRUAL_DAYS), rng.exponential(DROPOUT_MEAN_DAYS))
    return {
        "relapse_days_true": float(event_days),
        "censoring_days": float(censor_days),
        "rfs_days": float(max(1.0, round(min(event_days, censor_days)))),
        "relapse": float(event_days <= censor_days),
    }


def observed_clinical(rng: np.random.Generator, traits: dict[str, float],
                      treatment: dict[str, float], profile: CenterProfile) -> dict[str, object]:
    """The values a released table shows, with missing values (None) where not recorded."""
    m_stage = "M1" if traits["m1"] else "Mx" if traits["mx"] else "M0"
    values: dict[str, object] = {
        "age": int(traits["age"]), "gender": int(traits["gender"]),
        "tobacco": int(traits["tobacco"]), "alcohol": int(traits["alcohol"]),
        "performance_status": int(traits["performance_status"]),
        "treatment": int(treatment["chemoradiotherapy"]), "m_stage": m_stage,
        "hpv": int(traits["hpv"]) if profile.hpv_recorded else None,
    }
    for column, rate in MISSING_RATE.items():
        if rng.random() < rate:
            values[column] = None
    return values
