"""Dose registration accuracy and time: the shipped settings against a baseline, same patients.

The generator moves each planning CT by a known rigid set-up offset (rotation ~1.5 degrees SD per
axis, shift ~3 mm SD; ``radiomics_hnc.synth.dose.sample_setup``) and records it in the ground
truth, so the error of a registration is known: the largest distance, over 27 points on a 12 cm
cube around the oropharynx, between where the registration and the truth send a diagnostic point
in the planning CT. Both settings register the same images in the same run (one thread, as in
extraction), images read and averaged once. Writes benchmarks/results/registration.json.

    python -m benchmarks.registration [--cohort DIR] [--patients 25]

``DIR`` is a generated full-scale cohort (``benchmarks/work/full_scale/cohort`` after
``python -m benchmarks.full_scale --workdir benchmarks/work/full_scale``: the figures in the
README); without one, 50 full-scale patients (seed 20) are generated into
``benchmarks/work/registration`` first (about half have a plan dose) and kept for reruns.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from benchmarks.full_scale import generated_full_scale_cohort
from radiomics_hnc.features import dose
from radiomics_hnc.io import read_image, write_json
from radiomics_hnc.synth.centers import FOV_CENTER_MM

#: The settings before 2026-11-30: whole-image sampling, both levels down to 0.001 mm steps.
BASELINE = dose.RegistrationSettings(pyramid=((2, 1e-3), (1, 1e-3)), samples=20_000,
                                     body_only=False)
_CUBE_MM = (-60.0, 0.0, 60.0)


def _cases(cohort: Path, patients: int) -> list[dict]:
    truth = pd.read_parquet(cohort / "ground_truth" / "patients.parquet")
    cases = []
    for row in truth[truth["has_dose"]].head(patients).to_dict("records"):
        pid = row["patient_id"]
        planning = next((cohort / "dataset").glob(f"Task */{pid}/{pid}__CTPlanning.nii.gz"))
        centre = np.array(row["oropharynx_mm"])
        points = [centre + np.array((x, y, z)) for x in _CUBE_MM for y in _CUBE_MM
                  for z in _CUBE_MM]
        rotation = np.array(row["setup_rotation"]).reshape(3, 3)
        shift, pivot = np.array(row["setup_translation_mm"]), np.array(FOV_CENTER_MM)
        # The generator maps planning points into the diagnostic frame:
        # p_diag = R (p_plan - pivot) + pivot + t; registration maps the other way.
        cases.append({
            "patient_id": pid, "points": points,
            "truth": [rotation.T @ (p - pivot - shift) + pivot for p in points],
            "fixed": dose._registration_image(read_image(planning.with_name(f"{pid}__CT.nii.gz"))),
            "moving": dose._registration_image(read_image(planning)),
        })
    return cases


def _evaluate(cases: list[dict], settings: dose.RegistrationSettings) -> dict:
    errors, seconds = [], []
    for case in cases:
        start = time.perf_counter()
        transform, _, _ = dose._register(case["fixed"], case["moving"], 0, settings)
        seconds.append(time.perf_counter() - start)
        errors.append(max(np.linalg.norm(np.array(transform.TransformPoint(tuple(p))) - q)
                          for p, q in zip(case["points"], case["truth"], strict=True)))
    errors = np.array(errors)
    return {**dataclasses.asdict(settings),
            "seconds_per_patient": round(float(np.mean(seconds)), 3),
            "error_mm_median": round(float(np.median(errors)), 3),
            "error_mm_p90": round(float(np.percentile(errors, 90)), 3),
            "error_mm_max": round(float(errors.max()), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, help="a generated full-scale cohort (default: "
                        "generate one)")
    parser.add_argument("--patients", type=int, default=25)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    cohort = args.cohort or generated_full_scale_cohort(
        Path(__file__).parent / "work" / "registration", 50, jobs=2).parent
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    cases = _cases(cohort, args.patients)
    # Interleaved twice so that a slower spell of a shared machine hits both sides.
    runs = {"shipped": [], "baseline": []}
    for _ in range(2):
        runs["baseline"].append(_evaluate(cases, BASELINE))
        runs["shipped"].append(_evaluate(cases, dose.REGISTRATION))
    result = {"patients": len(cases), **{name: min(r, key=lambda x: x["seconds_per_patient"])
                                         for name, r in runs.items()}}
    result["time_ratio"] = round(result["baseline"]["seconds_per_patient"]
                                 / result["shipped"]["seconds_per_patient"], 2)
    print(pd.DataFrame({k: result[k] for k in ("baseline", "shipped")}).T.to_string())
    print(f"{len(cases)} patients; shipped {result['time_ratio']}x faster than baseline")
    write_json(result, Path(args.out) / "registration.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
