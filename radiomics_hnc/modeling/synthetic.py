"""A synthetic ``features/patients.parquet`` with centre batch effects and a known signal.

For tests, benchmarks and demos where no extracted cohort exists. Relapse hazard depends on
two PET features and one CT feature (log hazard ratio ``beta`` per SD); HPV status on a PET
and a MASK feature. Each centre shifts and scales every radiomic feature (the batch effect).
The lesion-pattern columns that shipped specs name (``LESION_PATTERN``) are there too, without
signal or batch effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Names of the features carrying the survival signal (in decreasing weight).
RFS_SIGNAL = ("GTVp_PT_suv_SUVmax", "GTVall_PT_suv_MTV", "GTVp_CT_original_glcm_Contrast")
HPV_SIGNAL = ("GTVp_PT_original_firstorder_Entropy", "GTVn_MASK_count")
LESION_PATTERN = ("GTVp_MASK_count", "GTVp_MASK_volume_ml", "GTVn_MASK_volume_ml_mean")


def synthetic_patients(n_patients: int = 300, n_noise: int = 40, centres: dict | None = None,
                       batch_strength: float = 1.0, beta: float = 0.8,
                       seed: int = 0, baseline_days: float = 900.0) -> pd.DataFrame:
    """Patients table in the contract's columns (clinical, endpoints, scoped features).

    The true risk and HPV log-odds are in ``table.attrs`` (``oracle_log_hazard``,
    ``oracle_hpv_logit``) so benchmarks can report the oracle C-index and AUC.

    Parameters
    ----------
    n_patients
        Number of patients, spread over ``centres`` by their weights.
    n_noise
        Additional uninformative features, spread over the PT/CT/RTDOSE/MASK sets.
    centres
        ``{name: weight}``; default five centres, one of them small.
    batch_strength
        Size of the centre shifts and scale changes (0 = no batch effect).
    beta
        Log hazard ratio per SD of the first survival feature (later ones get less).
    baseline_days
        Mean time to relapse (days) at average risk; follow-up is 300-2500 days, so a larger
        value gives fewer relapses (900: about 70 %, 8000: about 15-25 %).
    """
    rng = np.random.default_rng(seed)
    centres = centres or {"CHUM": 0.3, "CHUP": 0.25, "CHUS": 0.2, "HGJ": 0.2, "MDA": 0.05}
    names = np.array(list(centres))
    weights = np.array(list(centres.values()), dtype=float)
    centre = rng.choice(names, size=n_patients, p=weights / weights.sum())
    modalities = ("PT", "CT", "RTDOSE", "MASK")
    noise_names = [f"GTVp_{modalities[i % 4]}_original_firstorder_Noise{i}"
                   for i in range(n_noise)]
    columns = [*RFS_SIGNAL, *HPV_SIGNAL, *noise_names]
    latent = rng.normal(size=(n_patients, len(columns)))
    shift = {c: rng.normal(0, batch_strength, len(columns)) for c in names}
    scale = {c: np.exp(rng.normal(0, 0.3 * batch_strength, len(columns))) for c in names}
    observed = np.vstack([latent[i] * scale[c] + shift[c] for i, c in enumerate(centre)])
    table = pd.DataFrame(observed, columns=columns)
    age = rng.normal(62, 9, n_patients)
    log_hazard = latent[:, :3] @ (beta * np.array([1.0, 0.6, 0.4])) + 0.02 * (age - 62)
    event_time = rng.exponential(baseline_days * np.exp(-log_hazard))
    censor_time = rng.uniform(300, 2500, n_patients)
    hpv_logit = 1.5 * latent[:, 3] - 1.0 * latent[:, 4]
    hpv = (rng.uniform(size=n_patients) < 1 / (1 + np.exp(-hpv_logit))).astype(float)
    hpv[rng.uniform(size=n_patients) < 0.15] = np.nan
    table.insert(0, "patient_id", [f"{c}-{i:03d}" for i, c in enumerate(centre)])
    table.insert(1, "center", centre)
    clinical = pd.DataFrame({
        "age": age, "gender": rng.integers(0, 2, n_patients),
        "tobacco": rng.integers(0, 2, n_patients), "performance_status": rng.integers(0, 3,
                                                                                      n_patients),
        "treatment": rng.integers(0, 2, n_patients),
        "t_stage": rng.choice(["T1", "T2", "T3", "T4a"], n_patients),
        "n_stage": rng.choice(["N0", "N1", "N2b"], n_patients), "m_stage": "M0",
        "hpv_status": pd.array(hpv, dtype="Float64").astype("Int64"),
        "relapse": (event_time <= censor_time).astype(int),
        "rfs_days": np.minimum(event_time, censor_time).round(),
    })
    out = pd.concat([table.iloc[:, :2], clinical, table.iloc[:, 2:]], axis=1)
    has_primary = rng.uniform(size=n_patients) > 0.05
    count, volume, node_volume = LESION_PATTERN
    out[count] = has_primary.astype(float)
    out[volume] = np.where(has_primary, rng.lognormal(3.0, 0.8, n_patients), np.nan)
    out[node_volume] = rng.lognormal(1.0, 0.8, n_patients)
    out.attrs["oracle_log_hazard"] = log_hazard  # the true risk, for oracle C-index
    out.attrs["oracle_hpv_logit"] = hpv_logit  # the true HPV log-odds, for oracle AUC
    return out
