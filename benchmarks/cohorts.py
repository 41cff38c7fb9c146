"""Generated cohorts' patients tables, built once and kept in ``benchmarks/work/`` (gitignored).

Generation and extraction of 300 small-scale patients take several minutes; the modelling
benchmarks (``model_seeds``, ``model_checks``) reuse the tables so that they time and score the
models only. ``python -m benchmarks.cohorts --patients 300 --seeds 2 3 4 5 6`` builds them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radiomics_hnc.pipeline import PipelineSettings, run_pipeline
from radiomics_hnc.synth import generate_cohort

WORK = Path(__file__).parent / "work"


@dataclass(frozen=True)
class GeneratedTable:
    """A generated cohort's extracted patients table, its ground truth and oracle scores."""

    table: pd.DataFrame
    truth: pd.DataFrame
    oracle: dict[str, float]


def cohort_table(patients: int, seed: int, jobs: int = 2, work: Path = WORK) -> GeneratedTable:
    """The patients table of the ``patients``-patient cohort of ``seed`` (built when absent)."""
    root = work / f"cohort_{patients}_seed{seed}"
    features = root / "ws" / "features" / "patients.parquet"
    truth_dir = root / "cohort" / "ground_truth"
    if not features.is_file():
        cohort = generate_cohort(root / "cohort", patients, seed, jobs=jobs)
        settings = PipelineSettings(jobs=jobs, rfs_specs=(), hpv_specs=(), report=False)
        run_pipeline(cohort.dataset_dir, root / "ws", settings)
    return GeneratedTable(pd.read_parquet(features), pd.read_parquet(truth_dir /
                                                                      "patients.parquet"),
                          json.loads((truth_dir / "oracle.json").read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="unused (the tables stay in benchmarks/work)")
    args = parser.parse_args()
    for seed in args.seeds:
        built = cohort_table(args.patients, seed, args.jobs)
        print(f"seed {seed}: {len(built.table)} patients, oracle {built.oracle}", flush=True)


if __name__ == "__main__":
    main()
