"""External validation on generated images: develop on one seed's centres, validate on another
seed's patients from two centres the development cohort never saw (issue 21's check).

Generates a development cohort without HMR and HUG and an external cohort of HMR and HUG only
(their own scanner protocols: the batch effect ComBat must handle), extracts features from the
ground-truth masks, fits an RFS and an HPV spec with leave-one-centre-out validation, and runs
``validate-external`` with ComBat estimating the new centres and with pass-through. Writes
benchmarks/results/<name>.json.

    python -m benchmarks.external_validation [--dev-patients 200] [--ext-patients 80]
        [--dev-seed 2] [--ext-seed 3] [--jobs 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from radiomics_hnc.modeling import fit_run
from radiomics_hnc.modeling.external import RECORD_FILE, ExternalRecord, validate_external
from radiomics_hnc.pipeline import PipelineSettings, run_pipeline
from radiomics_hnc.synth import generate_cohort
from radiomics_hnc.synth.centers import CENTERS

NEW_CENTRES = ("HMR", "HUG")
#: Shipped specs with ComBat (the policy matters only for them).
SPECS = {"rfs": "rfs_coxnet", "hpv": "hpv_elasticnet"}


def extracted_workspace(root: Path, patients: int, seed: int, centres: list[str],
                        jobs: int) -> Path:
    """A generated cohort of ``centres`` run through discover, validate and extract (kept in
    ``root`` and reused when ``--work`` names a folder that already has it)."""
    if (root / "ws" / "features" / "patients.parquet").is_file():
        return root / "ws"
    cohort = generate_cohort(root / "cohort", patients, seed, centers=centres, jobs=jobs)
    settings = PipelineSettings(jobs=jobs, rfs_specs=(), hpv_specs=(), report=False)
    run_pipeline(cohort.dataset_dir, root / "ws", settings)
    return root / "ws"


def summary(record: ExternalRecord) -> dict:
    """The figures issue 21 checks, from one external record."""
    key = "c_index" if record.task == "rfs" else "roc_auc"
    internal, external = record.internal[record.internal_headline], record.metrics[key]
    slope = record.metrics.get("calibration_slope")
    return {
        "internal": [round(internal.estimate, 3), round(internal.ci_low, 3),
                     round(internal.ci_high, 3)],
        "external": [round(external.estimate, 3), round(external.ci_low, 3),
                     round(external.ci_high, 3)],
        "external_within_internal_ci": bool(internal.ci_low <= external.estimate
                                            <= internal.ci_high),
        "calibration_slope": round(slope.estimate, 3) if slope else None,
        "n_external_labelled": record.external.n_labelled,
        "flagged_inputs": len(record.shift.flagged), "n_inputs": record.shift.n_inputs,
        "max_abs_smd_model_input": round(record.shift.max_abs_smd_model_input, 2),
        "reading": record.reading,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev-patients", type=int, default=200)
    parser.add_argument("--ext-patients", type=int, default=80)
    parser.add_argument("--dev-seed", type=int, default=2)
    parser.add_argument("--ext-seed", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", default=None, help="keep the cohorts and workspaces here")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="external_validation")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="external_validation_"))
    start = time.perf_counter()
    development = [c for c in CENTERS if c not in NEW_CENTRES]
    dev = extracted_workspace(work / "dev", args.dev_patients, args.dev_seed, development,
                              args.jobs)
    ext = extracted_workspace(work / "ext", args.ext_patients, args.ext_seed,
                              list(NEW_CENTRES), args.jobs)
    results: dict = {"dev_patients": args.dev_patients, "ext_patients": args.ext_patients,
                     "dev_seed": args.dev_seed, "ext_seed": args.ext_seed,
                     "new_centres": list(NEW_CENTRES), "runs": {}}
    for task, spec in SPECS.items():
        run = fit_run(dev, Path(__file__).parents[1] / "models" / f"{spec}.yaml", cv="loco")
        for policy in ("estimate", "pass-through"):
            out = validate_external(run, ext, policy, ext / "external" / f"{spec}_{policy}")
            results["runs"][f"{task}:{spec}:{policy}"] = summary(
                ExternalRecord.read(out / RECORD_FILE))
    results["seconds"] = round(time.perf_counter() - start, 1)
    out_path = Path(args.out) / f"{args.name}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
