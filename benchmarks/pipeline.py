"""End-to-end cost of the pipeline and how it grows with the cohort (issue 7).

For cohorts of 10, 30 and 100 generated small-scale patients: seconds per stage (discover,
validate, extract, fit, report) and per patient, the growth factor against patient count
(linear means time(100) / time(10) close to 10), the extraction speed-up from 1 to 2 workers
on the 30-patient cohort, and the peak resident memory of the worker processes. Writes
benchmarks/results/pipeline.json.

    python -m benchmarks.pipeline [--sizes 10 30 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from joblib.externals.loky import get_reusable_executor

from radiomics_hnc.features import extract_features
from radiomics_hnc.pipeline import PipelineSettings, run_pipeline
from radiomics_hnc.synth import generate_cohort


def _peak_children_mb() -> float:
    """Largest resident set of any child process (Linux reports KiB).

    joblib keeps its worker processes alive between calls; they are shut down first so that
    the operating system has accounted for them.
    """
    get_reusable_executor().shutdown(wait=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 30, 100])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    results: dict = {"cpus": os.cpu_count(), "jobs": args.jobs, "scale": "small", "cohorts": {}}
    settings = PipelineSettings(jobs=args.jobs, cv="kfold", rfs_specs=("rfs_coxnet",),
                                hpv_specs=("hpv_elasticnet",))
    for size in args.sizes:
        cohort = generate_cohort(work / f"cohort{size}", size, seed=size, jobs=args.jobs)
        start = time.perf_counter()
        outcomes = run_pipeline(cohort.dataset_dir, work / f"ws{size}", settings)
        total = time.perf_counter() - start
        stages = {o.name: round(o.seconds, 2) for o in outcomes}
        results["cohorts"][size] = {"seconds": round(total, 1),
                                    "seconds_per_patient": round(total / size, 2),
                                    "stages": stages,
                                    "failed": {o.name: o.result for o in outcomes
                                               if o.status == "failed"}}
        print(f"{size:>4} patients: {total:7.1f} s ({total / size:.2f} s/patient) {stages}",
              flush=True)
    sizes = sorted(results["cohorts"])
    if len(sizes) > 1:
        small, large = results["cohorts"][sizes[0]], results["cohorts"][sizes[-1]]
        results["growth"] = {
            "patients_ratio": sizes[-1] / sizes[0],
            "time_ratio": round(large["seconds"] / small["seconds"], 2),
            "extract_time_ratio": round(large["stages"]["extract"]
                                        / max(small["stages"]["extract"], 1e-9), 2),
        }
    middle = work / f"ws{sizes[len(sizes) // 2]}"
    timings = {}
    for jobs in (1, 2):
        start = time.perf_counter()
        extract_features(middle, jobs=jobs, force=True)
        timings[jobs] = time.perf_counter() - start
    results["extract_speedup_1_to_2_workers"] = {
        "patients": sizes[len(sizes) // 2], "seconds_1": round(timings[1], 1),
        "seconds_2": round(timings[2], 1), "speedup": round(timings[1] / timings[2], 2)}
    results["peak_worker_rss_mb"] = round(_peak_children_mb(), 1)
    print(json.dumps({k: v for k, v in results.items() if k != "cohorts"}, indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
