"""``generate_cohort``: a multicentre HNC PET/CT cohort with known ground truth.

The dataset goes to ``OUT/dataset`` in a HECKTOR layout; the truth goes to
``OUT/ground_truth`` (never read by the pipeline): ``patients.parquet`` (true risk, true HPV
probability, generating parameters), ``lesions.parquet`` (true lesion list),
``centers.json`` (acquisition profiles), ``oracle.json`` (see :func:`oracle_scores`) and
``parameters.json``.
Patients are planned in this process and rendered in parallel, one at a time per worker, so
memory does not grow with the number of patients; every file is written atomically.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from radiomics_hnc import __version__
from radiomics_hnc.errors import ConfigError
from radiomics_hnc.geometry import Grid
from radiomics_hnc.io import provenance, write_json, write_parquet
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.synth import anatomy, clinical, disease, hpv, render
from radiomics_hnc.synth.centers import assign_centers, check_scale, resolve_centers
from radiomics_hnc.synth.grids import ct_grid, pet_grid
from radiomics_hnc.synth.plan import (
    P_DOSE_GIVEN_OUTCOME,
    P_OUTCOME_RECORDED,
    PatientPlan,
    plan_patient,
)
from radiomics_hnc.synth.render import oropharynx_point, render_patient
from radiomics_hnc.synth.writer import (
    LAYOUTS,
    clinical_tables,
    write_clinical_tables,
    write_patient_images,
)

log = logging.getLogger(__name__)
#: Version of the generating model, recorded in ``parameters.json`` and the truth tables'
#: provenance: 1, the geometric phantom (ellipsoid head, cylinder neck); 2, the anatomical
#: phantom with physiological uptake, dental metal artefacts and correlated PET noise (#18).
GENERATOR_VERSION = 2
#: Fewest members of each class (HPV status, relapse) for the out-of-fold references.
MIN_PER_CLASS = 10
#: Image formats of a generated cohort: NIfTI only, or NIfTI plus a DICOM export.
IMAGE_FORMATS = ("nifti", "dicom")


@dataclass(frozen=True)
class SyntheticCohort:
    """Where a generated cohort lives and what came out of it."""

    root: Path
    dataset_dir: Path
    ground_truth_dir: Path
    patient_ids: list[str]
    clinical_tables: list[Path]
    oracle: dict[str, float]
    failures: list[PatientFailure] = field(default_factory=list)


def plan_cohort(n_patients: int, seed: int, scale: str = "small",
                centers: list[str] | None = None) -> list[PatientPlan]:
    """Generating parameters of every patient (cheap: no images), in patient-id order."""
    check_scale(scale)
    if n_patients < 1:
        raise ConfigError(f"n_patients must be at least 1, got {n_patients}")
    profiles = {p.code: p for p in resolve_centers(centers)}
    codes = assign_centers(n_patients, list(profiles.values()), seed)
    numbers: Counter[str] = Counter()
    plans = []
    for index, code in enumerate(codes):
        numbers[code] += 1
        grid = ct_grid(profiles[code], scale)
        plans.append(plan_patient(f"{code}-{numbers[code]:03d}", index, profiles[code], seed,
                                  float(np.prod(grid.spacing)) / 1000, max(grid.spacing)))
    return sorted(plans, key=lambda p: p.patient_id)


def _render_and_write(args: tuple[PatientPlan, str, Path, str, str]) -> list[dict[str, object]]:
    plan, scale, dataset, layout, image_format = args
    images, truth = render_patient(plan, scale)
    write_patient_images(dataset, layout, plan.patient_id, images, plan.tasks)
    if image_format == "dicom":
        _write_dicom(dataset.parent, plan, images)
    return truth


def _write_dicom(root: Path, plan: PatientPlan, images: dict) -> None:
    """The patient as a DICOM export in ``root/dicom`` (its PET header style chosen by centre),
    with what the headers say in ``root/ground_truth/dicom/<PID>.json``."""
    from radiomics_hnc.synth.dicom_writer import PET_STYLES, write_dicom_patient

    style = PET_STYLES[plan.profile.center_id % len(PET_STYLES)]
    truth = write_dicom_patient(root / "dicom", plan.patient_id, images, seed=plan.image_seed,
                                style=style, age=int(plan.traits["age"]),
                                sex="M" if plan.traits["gender"] == 1 else "F")
    write_json(truth, root / "ground_truth" / "dicom" / f"{plan.patient_id}.json")


def _patient_truth(plan: PatientPlan) -> dict[str, object]:
    row: dict[str, object] = {
        "patient_id": plan.patient_id, "center": plan.profile.code, "index": plan.index,
        "tasks": ";".join(map(str, plan.tasks)), "has_dose": plan.has_dose,
        "true_risk": plan.risk, "true_hpv_probability": plan.traits["hpv_probability"],
    }
    row.update({f"true_{k}": v for k, v in plan.traits.items() if k != "hpv_probability"})
    row.update({f"true_{k}": v for k, v in plan.treatment.items()})
    row.update({f"risk_term_{k}": v for k, v in plan.terms.items()})
    row.update(plan.outcome)
    row.update({
        "has_primary": plan.disease.has_primary, "node_count": plan.disease.node_count,
        "total_volume_ml": plan.disease.total_volume_ml,
        "primary_volume_ml": plan.disease.primary_volume_ml,
        "primary_heterogeneity": plan.disease.primary_heterogeneity,
        "nodal_volume_ml": plan.disease.nodal_volume_ml,
        "nodal_log_volume_sum": plan.disease.nodal_log_volume_sum,
        "cystic_node_count": plan.disease.cystic_node_count,
        "heterogeneity": plan.disease.heterogeneity,
        "primary_site": next((les.site for les in plan.disease.lesions if les.label == 1), ""),
        "setup_translation_mm": plan.setup_translation.tolist(),
        "setup_rotation": plan.setup_rotation.ravel().tolist(),
        "oropharynx_mm": oropharynx_point(plan).tolist(),
        **plan.anatomy.truth(),
    })
    return row


def _observed_row(plan: PatientPlan) -> dict[str, object]:
    return {"patient_id": plan.patient_id, "center_id": plan.profile.center_id,
            "tasks": plan.tasks, "relapse": plan.outcome["relapse"],
            "rfs_days": plan.outcome["rfs_days"], **plan.observed}


def oracle_scores(patients: pd.DataFrame) -> dict[str, float]:
    """How well the truth predicts the cohort's outcomes, and how much of that models can reach.

    ``c_index``: Harrell's C of the true risk on the observed RFS (Task 2). ``hpv_auc``: ROC AUC
    of the true HPV probability (the Bayes posterior, :mod:`radiomics_hnc.synth.hpv`) on the
    released statuses (Task 3); ``hpv_auc_all`` on every true status. The attainable
    references refit simple, correctly specified models on the true trait values that images
    and tables show, out of fold (stratified 5-fold, so a model trained on this many patients):
    ``hpv_auc_from_traits`` a logistic regression on :func:`hpv_traits` (Task 3),
    ``c_index_from_traits`` a Cox model on the true risk terms (Task 2). They sit a little
    below the oracle: the oracle also knows each centre's HPV prior and the exact generating
    model, and the references learn theirs from this many patients. A score is left out when
    the cohort is too small to compute it.
    """
    task2 = patients[patients["tasks"].str.contains("2")]
    task3 = patients[patients["tasks"].str.contains("3")]
    scores = {"n_task2": len(task2), "n_task3": len(task3),
              "event_rate": float(task2["relapse"].mean()) if len(task2) else float("nan")}
    first_event = task2.loc[task2["relapse"] == 1, "rfs_days"].min()
    if (task2["rfs_days"] > first_event).any():  # at least one comparable pair
        scores["c_index"] = _c_index(task2, task2["true_risk"].to_numpy())
    for key, frame in (("hpv_auc", task3), ("hpv_auc_all", patients)):
        if frame["true_hpv"].nunique() == 2:
            scores[key] = float(roc_auc_score(frame["true_hpv"], frame["true_hpv_probability"]))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    if task3["true_hpv"].value_counts().min() >= MIN_PER_CLASS and task3["true_hpv"].nunique() == 2:
        model = make_pipeline(StandardScaler(), LogisticRegression())
        predicted = cross_val_predict(model, hpv_traits(task3), task3["true_hpv"], cv=folds,
                                      method="predict_proba")[:, 1]
        scores["hpv_auc_from_traits"] = float(roc_auc_score(task3["true_hpv"], predicted))
    if task2["relapse"].sum() >= MIN_PER_CLASS and (1 - task2["relapse"]).sum() >= MIN_PER_CLASS:
        terms = task2[[c for c in task2.columns if c.startswith("risk_term_")]].to_numpy()
        outcome = Surv.from_arrays(task2["relapse"].astype(bool), task2["rfs_days"])
        risk = np.empty(len(task2))
        for train, test in folds.split(terms, task2["relapse"]):
            cox = make_pipeline(StandardScaler(), CoxPHSurvivalAnalysis(alpha=1.0))
            risk[test] = cox.fit(terms[train], outcome[train]).predict(terms[test])
        scores["c_index_from_traits"] = _c_index(task2, risk)
    return scores


def hpv_traits(patients: pd.DataFrame) -> pd.DataFrame:
    """The true trait values that bear on HPV status, in the form the posterior is linear in.

    Age, smoking, whether there is a primary, its log volume and heterogeneity (0 without one),
    the node count, the sum of the nodes' log volumes and the number of cystic nodes.
    """
    primary = patients["has_primary"].astype(float)
    return pd.DataFrame({
        "age": patients["true_age"], "tobacco": patients["true_tobacco"],
        "has_primary": primary,
        "log_primary_volume": primary * np.log(patients["primary_volume_ml"].clip(lower=0.1)),
        "primary_heterogeneity": patients["primary_heterogeneity"],
        "node_count": patients["node_count"],
        "nodal_log_volume_sum": patients["nodal_log_volume_sum"],
        "cystic_node_count": patients["cystic_node_count"],
    })


def _c_index(task2: pd.DataFrame, risk: np.ndarray) -> float:
    return float(concordance_index_censored(task2["relapse"].astype(bool).to_numpy(),
                                            task2["rfs_days"].to_numpy(), risk)[0])


def generate_cohort(
    out_dir: str | Path,
    n_patients: int,
    seed: int,
    scale: str = "small",
    centers: list[str] | None = None,
    layout: str = "hecktor2025",
    jobs: int = 1,
    progress: bool = False,
    image_format: str = "nifti",
) -> SyntheticCohort:
    """Generate a synthetic HECKTOR-style cohort into ``out_dir``.

    Parameters
    ----------
    out_dir
        Receives ``dataset/`` and ``ground_truth/``.
    n_patients, seed
        Cohort size and seed; the same seed gives the same images whatever ``jobs`` is.
    scale
        ``"small"`` (coarse grids, about a second per patient) or ``"full"`` (CT about
        512 x 512 x 150 at about 1 x 1 x 3 mm, PET about 4 mm).
    centers
        Centre codes to draw patients from (default: all ten).
    layout
        ``"hecktor2025"`` (per-task folders and CSVs) or ``"flat"`` (imagesTr/labelsTr).
    jobs
        Worker processes (:func:`radiomics_hnc.parallel.map_patients`).
    image_format
        ``"nifti"``, or ``"dicom"`` to also write every patient as a DICOM export in
        ``out_dir/dicom`` (PET, CT, RTSTRUCT, RTDOSE; see
        :mod:`radiomics_hnc.synth.dicom_writer`), whose ground truth is the NIfTI dataset.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}", hint=f"use one of {LAYOUTS}")
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(f"unknown image format {image_format!r}",
                          hint=f"use one of {IMAGE_FORMATS}")
    root = Path(out_dir)
    dataset, truth_dir = root / "dataset", root / "ground_truth"
    plans = plan_cohort(n_patients, seed, scale, centers)
    tasks = [(p.patient_id, (p, scale, dataset, layout, image_format)) for p in plans]
    lesion_rows: list[dict[str, object]] = []
    failures: list[PatientFailure] = []
    for pid, result in map_patients(_render_and_write, tasks, jobs=jobs,
                                    description="generating", progress=progress):
        if isinstance(result, PatientFailure):
            log.warning("patient %s could not be generated: %s", pid, result.message)
            failures.append(result)
        else:
            lesion_rows.extend(result)
    failed = {f.patient_id for f in failures}
    plans = [p for p in plans if p.patient_id not in failed]
    tables = clinical_tables([_observed_row(p) for p in plans], layout)
    csv_paths = write_clinical_tables(dataset, tables)
    patients = pd.DataFrame([_patient_truth(p) for p in plans])
    lesions = pd.DataFrame(lesion_rows).sort_values(["patient_id", "label", "lesion_id"])
    meta = provenance(synth_seed=seed, synth_scale=scale, synth_layout=layout,
                      synth_generator_version=GENERATOR_VERSION)
    write_parquet(patients, truth_dir / "patients.parquet", meta)
    write_parquet(lesions.reset_index(drop=True), truth_dir / "lesions.parquet", meta)
    profiles = {p.code: p for p in (plan.profile for plan in plans)}
    write_json({code: {**prof.to_dict(), "ct_grid": _grid_dict(ct_grid(prof, scale)),
                       "pet_grid": _grid_dict(pet_grid(prof, scale))}
                for code, prof in sorted(profiles.items())}, truth_dir / "centers.json")
    oracle = oracle_scores(patients)
    write_json(oracle, truth_dir / "oracle.json")
    write_json(_parameters(n_patients, seed, scale, layout, sorted(profiles)),
               truth_dir / "parameters.json")
    return SyntheticCohort(root, dataset, truth_dir, [p.patient_id for p in plans], csv_paths,
                           oracle, failures)


def _grid_dict(grid: Grid) -> dict[str, object]:
    return {"size": list(grid.size), "spacing": list(grid.spacing), "origin": list(grid.origin)}


def _parameters(n_patients: int, seed: int, scale: str, layout: str,
                centers: list[str]) -> dict[str, object]:
    return {
        "generator": {"version": GENERATOR_VERSION, "package_version": __version__,
                      "phantom": anatomy.model_parameters(),
                      "disease_sites": disease.site_parameters(),
                      "pet_noise": render.noise_parameters()},
        "n_patients": n_patients, "seed": seed, "scale": scale, "layout": layout,
        "centers": centers, "risk_coefficients": clinical.RISK_COEFFICIENTS,
        "weibull_shape": clinical.WEIBULL_SHAPE,
        "weibull_scale_days": clinical.WEIBULL_SCALE_DAYS,
        "accrual_days": clinical.ACCRUAL_DAYS, "dropout_mean_days": clinical.DROPOUT_MEAN_DAYS,
        "missing_rate": clinical.MISSING_RATE,
        "hpv_model": hpv.model_parameters(),
        "task_rules": {
            "Task 1": "every patient: CT, PET, label map",
            "Task 2": f"patients with an outcome record (p={P_OUTCOME_RECORDED}); planning CT "
                      f"and RTDOSE for a subset (p={P_DOSE_GIVEN_OUTCOME})",
            "Task 3": "patients with a released HPV status: CT, PET",
        },
    }
