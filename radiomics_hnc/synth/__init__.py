"""Synthetic multicentre HNC PET/CT cohorts in the HECKTOR layouts, with known ground truth."""

from radiomics_hnc.synth.cohort import SyntheticCohort, generate_cohort, oracle_scores, plan_cohort

__all__ = ["SyntheticCohort", "generate_cohort", "oracle_scores", "plan_cohort"]
