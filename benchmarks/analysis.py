"""Feature analysis (issue 19): speed at HECKTOR size, false discoveries, re-extraction cost.

1. Speed: ``analyze_table`` (association with 200 bootstrap resamples of C and AUC, volume
   adjustment, clusters, centre effect; no re-extraction) on 1123 patients x 1000 features.
   Target: under 2 minutes on 2 cores.
2. False discovery proportion of pure-noise columns at q = 0.05 over several seeds: the table
   is the generator's truth (tests/analysis_fixtures.py: driver columns, a volume-times-noise
   column, the rest pure noise); FDP = noise columns discovered / all discoveries, per task.
   Benjamini-Hochberg bounds its expectation (the FDR) by q.
3. Mask perturbation re-extraction cost per patient (four masks each) on a generated cohort.

    python -m benchmarks.analysis [--patients 1123] [--features 1000] [--seeds 0 1 2 3 4]
        [--perturb-patients 3] [--scale small] [--resamples 200] [--no-perturbation]
        [--name analysis]

``--seeds 5 6 ... 24 --resamples 0 --no-perturbation --name analysis_fdp`` measures the false
discovery proportion over more seeds (the bootstrap does not change q-values).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from radiomics_hnc.analysis import AnalysisSettings, analyze_table
from radiomics_hnc.analysis.reproducibility import perturbation_icc, recorded_extraction
from radiomics_hnc.pipeline import PipelineSettings, run_pipeline
from radiomics_hnc.synth import generate_cohort
from tests.analysis_fixtures import ENCODES_TRUTH, NOISE_PREFIX, known_truth_table

ALPHA = 0.05


def false_discoveries(association, alpha: float = ALPHA) -> dict:
    """Per task: discoveries, noise columns among them, their proportion, and whether every
    column that encodes a true driver ranks above every noise column."""
    out = {}
    for task, rows in association.groupby("task"):
        found = rows[rows["q"] <= alpha]
        noise = found["feature"].str.startswith(NOISE_PREFIX).sum()
        ranked = rows.sort_values("p")["feature"].tolist()
        first_noise = next(i for i, f in enumerate(ranked) if f.startswith(NOISE_PREFIX))
        discovered_truth = sorted(set(found["feature"]) & ENCODES_TRUTH[task])
        noise_p = rows.loc[rows["feature"].str.startswith(NOISE_PREFIX), "p"]
        out[str(task)] = {"discoveries": len(found), "noise_discoveries": int(noise),
                          "fdp": round(noise / max(len(found), 1), 4),
                          # calibration: a valid test puts alpha of the noise p-values below it
                          "noise_p_below_alpha": round(float((noise_p < alpha).mean()), 4),
                          "truth_discovered": discovered_truth,
                          "truth_ranked_above_all_noise": all(
                              ranked.index(f) < first_noise for f in discovered_truth)}
    return out


def speed_and_fdp(patients: int, features: int, seeds: list[int], resamples: int) -> dict:
    results: dict = {"patients": patients, "features": features, "alpha": ALPHA,
                     "resamples": resamples, "seeds": {}}
    for seed in seeds:
        table = known_truth_table(patients, seed, noise_columns=features - 6)
        start = time.perf_counter()
        tables = analyze_table(table, AnalysisSettings(seed=seed, resamples=resamples))
        seconds = time.perf_counter() - start
        results["seeds"][seed] = {"seconds": round(seconds, 1),
                                  **false_discoveries(tables["association"])}
        print(f"seed {seed}: {seconds:.1f} s, {results['seeds'][seed]}", flush=True)
    runs = results["seeds"].values()
    results["max_seconds"] = max(r["seconds"] for r in runs)
    for task in ("rfs", "hpv"):  # mean FDP estimates the FDR; pooled: all seeds together
        results[f"mean_fdp_{task}"] = round(sum(r[task]["fdp"] for r in runs) / len(seeds), 4)
        found = sum(r[task]["discoveries"] for r in runs)
        noise = sum(r[task]["noise_discoveries"] for r in runs)
        results[f"pooled_fdp_{task}"] = round(noise / max(found, 1), 4)
        results[f"noise_p_below_alpha_{task}"] = round(
            sum(r[task]["noise_p_below_alpha"] for r in runs) / len(seeds), 4)
    results["target_seconds"] = 120
    return results


def perturbation_cost(patients: int, scale: str, work: Path) -> dict:
    cohort = generate_cohort(work / "cohort", max(patients, 4), seed=0, scale=scale, jobs=2)
    run_pipeline(cohort.dataset_dir, work / "ws", PipelineSettings(
        jobs=2, rfs_specs=(), hpv_specs=(), analyze=False, report=False))
    start = time.perf_counter()
    table, summary = perturbation_icc(work / "ws", recorded_extraction(work / "ws" / "features"),
                                      cohort.patient_ids, patients, work / "ws" / "analysis",
                                      jobs=1)
    return {"scale": scale, "patients": len(summary["patients"]),
            "variants": summary["variants"],
            "seconds_per_patient_all_variants": round(summary["seconds_per_patient"], 1),
            "seconds_total": round(time.perf_counter() - start, 1),
            "features_with_icc": int(table["icc_perturbation"].notna().sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1123)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--perturb-patients", type=int, default=3)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--resamples", type=int, default=200,
                        help="bootstrap resamples of C and AUC (0: FDP only, faster)")
    parser.add_argument("--no-perturbation", action="store_true")
    parser.add_argument("--name", default="analysis", help="result file name (no .json)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    results = {"cpus": os.cpu_count(),
               "analysis": speed_and_fdp(args.patients, args.features, args.seeds,
                                         args.resamples)}
    if not args.no_perturbation:
        with tempfile.TemporaryDirectory(prefix="analysis_bench_") as work:
            results["perturbation"] = perturbation_cost(args.perturb_patients, args.scale,
                                                        Path(work))
        print(json.dumps(results["perturbation"]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
