"""A full-scale generated cohort from NIfTI to report, timed per stage, projected to HECKTOR's
1123 patients (issue 20).

Generates ``--patients`` full-scale patients (CT 512x512x~150, PET, labels; not timed), trains
the light segmenter for ``--train-minutes`` on them, or takes ``--model`` (not timed: the target
is "segmenter already trained"), then times ``run_pipeline`` with that segmenter: discover,
validate, segment predict and evaluate, extract (default configuration, from the ground-truth
masks: a briefly trained segmenter's masks may hold few lesions, and extraction costs per
lesion), the default RFS and HPV models, and the report. Per stage it records seconds and
worker-seconds per patient (seconds x workers / patients, an upper bound: it counts idle
workers); over the whole run, the largest resident set of any process (workers and this one).

The projection to ``n`` patients on ``W`` workers (printed with the numbers filled in), without
``segment-evaluate`` (scoring masks needs ground-truth labels, which new patients lack) and, as
``projection_with_segment_evaluate``, with it:

    T(n, W) = sum over per-patient stages of  worker-seconds per patient x n / W
            + sum over cohort stages (models, report) of their measured seconds

Model fits are taken at their 1123-patient cost measured by ``benchmarks/modeling.py``
(``results/modeling.json``) where it has one, other cohort stages (the report) at their
measured cost, a lower bound.
Writes benchmarks/results/full_scale.json.

    python -m benchmarks.full_scale [--patients 20] [--jobs 2] [--model DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from joblib.externals.loky import get_reusable_executor

from radiomics_hnc.io import write_json
from radiomics_hnc.pipeline import PipelineSettings, run_pipeline
from radiomics_hnc.segment import load_segmenter_spec, train_segmenter
from radiomics_hnc.synth import generate_cohort

#: Stages whose work is one task per patient (spread over the workers), by name prefix.
PER_PATIENT_STAGES = ("discover", "validate", "segment-predict", "segment-evaluate", "extract")


def _per_patient(stage: str) -> bool:
    return stage.startswith(PER_PATIENT_STAGES)
#: Cohort sizes and worker counts projected to.
PROJECTIONS = ((1123, 2), (1123, 16))


def _peak_rss_mb() -> float:
    """Largest resident set of this process or any finished child (joblib's workers are shut
    down first so that the kernel has accounted for them)."""
    get_reusable_executor().shutdown(wait=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    me = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    return max(children, me)


def generated_full_scale_cohort(folder: Path, patients: int, jobs: int) -> Path:
    """The dataset folder of the ``patients``-patient full-scale cohort (seed 20) in
    ``folder``, generated unless a finished one of that size is there."""
    parameters = folder / "ground_truth" / "parameters.json"  # written last
    if not (parameters.is_file()
            and json.loads(parameters.read_text())["n_patients"] == patients):
        shutil.rmtree(folder, ignore_errors=True)
        generate_cohort(folder, patients, seed=20, scale="full", jobs=jobs)
    return folder / "dataset"


def _trained_model(cohort: Path, work: Path, minutes: float, jobs: int) -> Path:
    """The shipped light segmenter trained on the cohort for ``minutes`` (not timed)."""
    from radiomics_hnc.discover import discover

    workspace = work / "training_ws"
    discover(cohort, workspace)
    spec = load_segmenter_spec()
    spec = spec.model_copy(update={"training": spec.training.model_copy(
        update={"time_limit_minutes": minutes})})
    return train_segmenter(workspace, spec, work / "segmenter", jobs=jobs).model_dir


def _fit_seconds_at_1123() -> dict[str, float]:
    """Seconds of each model spec fitted on 1123 patients (``benchmarks/modeling.py``'s
    results), by stage name; empty when that benchmark has not run."""
    path = Path(__file__).parent / "results" / "modeling.json"
    if not path.is_file():
        return {}
    measured = json.loads(path.read_text())
    if measured.get("patients") != 1123:
        return {}
    return {f"fit-{spec}": row["seconds"] for spec, row in measured["specs"].items()}


#: Stages left out of the issue's "NIfTI to report" path: scoring the predicted masks needs
#: ground-truth labels, which new patients do not have (the projection with it is given too).
OPTIONAL_STAGES = ("segment-evaluate",)


def projection(stages: dict[str, float], patients: int, jobs: int,
               without: tuple[str, ...] = ()) -> dict[str, dict]:
    """Projected hours for each of :data:`PROJECTIONS`, with the formula's terms, leaving out
    the stages ``without``; model fits at their 1123-patient cost where
    ``benchmarks/modeling.py`` measured it."""
    stages = {name: seconds for name, seconds in stages.items() if name not in without}
    per_patient = {name: seconds * jobs / patients for name, seconds in stages.items()
                   if _per_patient(name)}
    at_1123 = _fit_seconds_at_1123()
    cohort = {name: at_1123.get(name, seconds) for name, seconds in stages.items()
              if not _per_patient(name)}
    rate = sum(per_patient.values())
    fixed = sum(cohort.values())
    out = {}
    for n, workers in PROJECTIONS:
        seconds = rate * n / workers + fixed
        out[f"{n}_patients_{workers}_workers"] = {
            "hours": round(seconds / 3600, 2),
            "formula": f"{rate:.2f} worker-s/patient x {n} / {workers} + {fixed:.1f} s",
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--model", help="a trained segmenter folder (default: train one)")
    parser.add_argument("--train-minutes", type=float, default=3.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--workdir", help="keep the generated cohort here and reuse it when it "
                        "is already there (default: a temporary folder)")
    args = parser.parse_args()
    work = (Path(args.workdir) if args.workdir else
            Path(tempfile.mkdtemp(prefix="bench_full_scale_")))
    start = time.perf_counter()
    cohort = generated_full_scale_cohort(work / "cohort", args.patients, args.jobs)
    generation = time.perf_counter() - start
    print(f"generated {args.patients} full-scale patients in {generation:.0f} s", flush=True)
    start = time.perf_counter()
    model = (Path(args.model) if args.model else
             _trained_model(cohort, work, args.train_minutes, args.jobs))
    training = time.perf_counter() - start
    # Features from the ground-truth masks: a briefly trained segmenter's masks may hold few
    # lesions, and extraction costs per lesion.
    settings = PipelineSettings(segmenter_model=model, jobs=args.jobs)
    shutil.rmtree(work / "ws", ignore_errors=True)  # every stage is timed from scratch
    start = time.perf_counter()
    outcomes = run_pipeline(cohort, work / "ws", settings)
    total = time.perf_counter() - start
    stages = {o.name: round(o.seconds, 2) for o in outcomes}
    result = {
        "patients": args.patients, "jobs": args.jobs, "cpu_count": os.cpu_count(),
        "scale": "full", "generator": "radiomics_hnc.synth at the time of the run",
        "generation_seconds_not_timed": round(generation, 1),
        "segmenter_training_seconds_not_timed": round(training, 1),
        "seconds": round(total, 1),
        "stages": stages,
        "worker_seconds_per_patient": {name: round(s * args.jobs / args.patients, 2)
                                       for name, s in stages.items() if _per_patient(name)},
        "failed": {o.name: o.error for o in outcomes if o.status == "failed"},
        "peak_rss_mb": round(_peak_rss_mb()),
        "projection": projection(stages, args.patients, args.jobs, without=OPTIONAL_STAGES),
        "projection_with_segment_evaluate": projection(stages, args.patients, args.jobs),
    }
    print(json.dumps(result, indent=2))
    write_json(result, Path(args.out) / "full_scale.json")
    return 0 if not result["failed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
