"""Everything about one synthetic patient except the voxels, drawn from a per-patient seed.

Planning is cheap and happens in the main process, so the task membership, the clinical
tables and the ground truth are known before any image is rendered; rendering (in parallel
workers) only turns a :class:`PatientPlan` into images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radiomics_hnc.synth.anatomy import AnatomyParams, sample_anatomy
from radiomics_hnc.synth.centers import CenterProfile
from radiomics_hnc.synth.clinical import (
    observed_clinical,
    risk_terms,
    sample_outcome,
    sample_traits,
    sample_treatment,
    true_risk,
)
from radiomics_hnc.synth.disease import Disease, sample_disease
from radiomics_hnc.synth.dose import sample_setup
from radiomics_hnc.synth.hpv import draw_hpv_status
from radiomics_hnc.synth.lesions import GTVP

#: Share of patients with an outcome record (Task 2) and, among those, with a released plan.
P_OUTCOME_RECORDED, P_DOSE_GIVEN_OUTCOME = 0.92, 0.65
#: Smallest lesion size in voxels of the CT grid and smallest surface gap between lesions.
MIN_LESION_VOXELS, MIN_GAP_VOXELS = 10, 2.5


@dataclass(frozen=True)
class PatientPlan:
    """The generating parameters of one patient (see the ground-truth tables for meanings)."""

    patient_id: str
    index: int
    profile: CenterProfile
    image_seed: int
    traits: dict[str, float]
    treatment: dict[str, float]
    terms: dict[str, float]
    risk: float
    outcome: dict[str, float]
    observed: dict[str, object]
    disease: Disease
    tasks: tuple[int, ...]
    has_dose: bool
    setup_rotation: np.ndarray
    setup_translation: np.ndarray
    underdose: tuple[int, float, np.ndarray, float] | None
    anatomy: AnatomyParams


def patient_seeds(seed: int, index: int) -> tuple[np.random.Generator, int]:
    """The planning generator and the rendering seed of patient ``index`` of a cohort."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    plan_seq, image_seq = sequence.spawn(2)
    return np.random.default_rng(plan_seq), int(image_seq.generate_state(1)[0])


def plan_patient(patient_id: str, index: int, profile: CenterProfile, seed: int,
                 voxel_ml: float, max_spacing_mm: float) -> PatientPlan:
    """Draw every generating parameter of one patient (deterministic in ``seed``, ``index``).

    ``voxel_ml`` and ``max_spacing_mm`` describe the CT grid, so that every lesion covers a
    few voxels and lesions stay apart by a few voxels.
    """
    rng, image_seed = patient_seeds(seed, index)
    hpv = draw_hpv_status(rng, profile)
    traits = sample_traits(rng, hpv)
    anatomy = sample_anatomy(rng, traits)
    disease = sample_disease(rng, hpv, MIN_GAP_VOXELS * max_spacing_mm,
                             MIN_LESION_VOXELS * voxel_ml, np.asarray(anatomy.posture.size))
    traits.update(hpv.truth())
    treatment = sample_treatment(rng, traits, disease)
    terms = risk_terms(traits, treatment, disease)
    risk = true_risk(terms)
    outcome = sample_outcome(rng, risk)
    observed = observed_clinical(rng, traits, treatment, profile)
    in_task2 = rng.random() < P_OUTCOME_RECORDED
    has_dose = bool(in_task2 and rng.random() < P_DOSE_GIVEN_OUTCOME)
    tasks = (1,) + ((2,) if in_task2 else ()) + ((3,) if observed["hpv"] is not None else ())
    rotation, translation = sample_setup(rng)
    underdose = None
    if treatment["underdose_fraction"] > 0:
        target = next((k for k, les in enumerate(disease.lesions) if les.label == GTVP), 0)
        direction = rng.normal(size=3)
        underdose = (target, treatment["underdose_fraction"],
                     direction / np.linalg.norm(direction), float(rng.uniform(48, 60)))
    return PatientPlan(
        patient_id=patient_id, index=index, profile=profile, image_seed=image_seed,
        traits=traits, treatment=treatment, terms=terms, risk=risk, outcome=outcome,
        observed=observed, disease=disease, tasks=tasks, has_dose=has_dose,
        setup_rotation=rotation, setup_translation=translation, underdose=underdose,
        anatomy=anatomy,
    )
