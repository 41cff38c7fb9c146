"""A notebook-style walk through the Python API on a small generated cohort.

Run it cell by cell in a notebook or as a script (about 2 minutes on 2 cores):

    python examples/walkthrough.py [WORK_FOLDER]

Point ``DATA`` at your own HECKTOR copy to run the same steps on real data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radiomics_hnc.discover import discover
from radiomics_hnc.features import extract_features
from radiomics_hnc.modeling import fit_run, predict_run
from radiomics_hnc.modeling.records import RunRecord
from radiomics_hnc.report import build_report
from radiomics_hnc.synth import generate_cohort
from radiomics_hnc.validate import validate_workspace
from radiomics_hnc.workspace import Workspace

WORK = Path(sys.argv[1] if len(sys.argv) > 1 else "walkthrough")

# %% A cohort in the HECKTOR 2025 layout (its ground truth is kept apart, in ground_truth/).
cohort = generate_cohort(WORK / "cohort", n_patients=60, seed=1, jobs=2)
DATA = cohort.dataset_dir
print("oracle scores of the generator:", cohort.oracle)

# %% Discover and validate: one manifest row per patient, one finding per problem.
manifest = discover(DATA, WORK / "ws")
print(manifest[["patient_id", "center", "ct_size", "pet_spacing", "relapse", "rfs_days"]].head())
report = validate_workspace(WORK / "ws", jobs=2)
print(report.summary())
eligible = Workspace(WORK / "ws").eligible_manifest()

# %% Features per lesion (GTVp, GTVn_1, ...) and per patient, from the ground-truth masks.
features = extract_features(WORK / "ws", jobs=2)
print(features.lesions[["patient_id", "lesion_id", "PT_suv_SUVmax", "PT_suv_MTV"]].head())
print(f"{features.patients.shape[1]} columns in the patients table")

# %% A survival model, validated by 5-fold CV here (LOCO needs centres of 20+ patients).
run = fit_run(WORK / "ws", "rfs_coxnet", cv="kfold")  # a shipped spec, or a YAML path
record = RunRecord.read(run / "metrics.json")  # the run's metrics, typed (docs/design.md)
print("C-index", record.headline.metric, record.headline_estimate.text())
risks = predict_run(run, features.patients)
print(risks.head())

# %% The report: one self-contained HTML page plus the CSV tables behind it.
print("report:", build_report(WORK / "ws"))
