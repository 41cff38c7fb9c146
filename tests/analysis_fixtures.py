"""A patients table with known truth for the feature analysis, from the generator's plans.

Columns encode the generator's true drivers with a little measurement noise (no images are
rendered, so a 1123-patient table takes seconds), beside pure-noise columns and a volume-times-
noise column. RFS drivers (radiomics_hnc.synth.clinical.RISK_COEFFICIENTS): whole-disease
volume, uptake heterogeneity, node count. HPV evidence (radiomics_hnc.synth.hpv): primary
volume and heterogeneity, node count, cystic nodes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiomics_hnc.synth.cohort import plan_cohort

#: Columns that encode a true driver of each outcome: RFS through volume (whole disease, of
#: which the primary is part), heterogeneity and node count; HPV through primary size and
#: heterogeneity, node count, cystic nodes (and so total volume).
ENCODES_TRUTH = {
    "rfs": {"GTVall_MASK_volume_ml", "GTVp_MASK_volume_ml",
            "GTVall_PT_original_firstorder_Heterogeneity", "GTVn_MASK_count"},
    "hpv": {"GTVp_MASK_volume_ml", "GTVall_MASK_volume_ml", "GTVn_MASK_count",
            "GTVn_MASK_cystic_count", "GTVall_PT_original_firstorder_Heterogeneity"},
}
VOLUME_TIMES_NOISE = "GTVall_PT_original_shape_VolumeTimesNoise"
NOISE_PREFIX = "GTVall_NOISE_noise_"


def known_truth_table(n_patients: int, seed: int, noise_columns: int = 20) -> pd.DataFrame:
    """One row per generated patient: outcomes as released (RFS for Task 2, HPV for Task 3)
    and the driver, surrogate and noise feature columns."""
    rng = np.random.default_rng(seed + 1000)
    rows = []
    for plan in plan_cohort(n_patients, seed):
        disease = plan.disease
        volume = disease.total_volume_ml
        rows.append({
            "patient_id": plan.patient_id, "center": plan.profile.code,
            "rfs_days": plan.outcome["rfs_days"] if 2 in plan.tasks else np.nan,
            "relapse": plan.outcome["relapse"] if 2 in plan.tasks else np.nan,
            "hpv_status": plan.traits["hpv"] if 3 in plan.tasks else np.nan,
            "GTVall_MASK_volume_ml": volume * rng.lognormal(0, 0.05),
            "GTVall_PT_original_firstorder_Heterogeneity": disease.heterogeneity
            + rng.normal(0, 0.01),
            "GTVn_MASK_count": float(disease.node_count),
            "GTVp_MASK_volume_ml": disease.primary_volume_ml * rng.lognormal(0, 0.05)
            if disease.has_primary else np.nan,
            "GTVn_MASK_cystic_count": float(disease.cystic_node_count),
            VOLUME_TIMES_NOISE: volume * rng.lognormal(0, 1.0),
        })
    table = pd.DataFrame(rows)
    noise = pd.DataFrame(rng.normal(size=(len(table), noise_columns)),
                         columns=[f"{NOISE_PREFIX}{k}" for k in range(noise_columns)])
    return pd.concat([table, noise], axis=1)
