"""Time and peak memory to generate full-scale synthetic patients.

Generates N patients at the ``full`` scale (CT 512 x 512 x 150-180 at about 1 x 1 x 3 mm, PET
2.7-5.5 mm, planning CT and dose for about 60 %) into a temporary folder and reports wall time,
time per patient, CPU seconds per patient (user and system, workers included: the figure to
compare on a shared machine), peak resident memory of the main process and of the workers,
and the size of the dataset on disk. Writes benchmarks/results/synth.json.

    python -m benchmarks.synth [--patients 100] [--jobs 2] [--seed 0] [--out benchmarks/results]
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

from radiomics_hnc.io import write_json
from radiomics_hnc.synth import generate_cohort


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def _cpu_seconds() -> float:
    """User plus system CPU seconds of this process and its reaped workers: the worker-seconds
    that a machine shared with other jobs does not inflate (wall time does)."""
    return sum(getattr(resource.getrusage(who), field)
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))


def _disk_mb(folder: Path) -> float:
    seen, total = set(), 0
    for path in folder.rglob("*"):
        if path.is_file() and path.stat().st_ino not in seen:  # hard links counted once
            seen.add(path.stat().st_ino)
            total += path.stat().st_size
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100, help="patients to generate")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", default="full", choices=["small", "full"])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"),
                        help="folder for synth.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        cohort = generate_cohort(tmp, args.patients, args.seed, scale=args.scale,
                                 jobs=args.jobs)
        seconds = time.perf_counter() - start
        get_reusable_executor().shutdown(wait=True)  # reap the workers so that their peak counts
        cpu_seconds = _cpu_seconds() - cpu_start
        disk = _disk_mb(cohort.dataset_dir)
    result = {
        "patients": args.patients, "scale": args.scale, "jobs": args.jobs, "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "wall_seconds": round(seconds, 1),
        "seconds_per_patient": round(seconds / args.patients, 2),
        "worker_seconds_per_patient": round(seconds * args.jobs / args.patients, 2),
        "cpu_seconds_per_patient": round(cpu_seconds / args.patients, 2),
        "peak_rss_main_mb": round(_peak_rss_mb(resource.RUSAGE_SELF), 1),
        "peak_rss_worker_mb": round(_peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
        "dataset_mb": round(disk, 1),
        "failures": len(cohort.failures),
        "oracle": cohort.oracle,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "synth.json")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
