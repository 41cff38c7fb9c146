"""Fit and validate every default model spec on a synthetic 1123-patient, ~1000-feature table.

Reports per spec: wall time of validation + final refit + importance, the headline metric with
its 95 % CI, and the oracle (true-risk) C-index / AUC of the generator; plus whether ComBat
removes the centre effect (out-of-fold accuracy of a classifier predicting the centre from raw
versus harmonised features, against the majority-class rate). Writes
benchmarks/results/modeling.json.

    python -m benchmarks.modeling [--patients 1123] [--features 1000] [--cv loco]
        [--specs rfs_xgb_cox hpv_xgb ...] [--bootstrap 200] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.metrics import concordance_index_censored

from radiomics_hnc.harmonize import ComBat
from radiomics_hnc.modeling import fit_run, load_spec
from radiomics_hnc.modeling.dataset import feature_columns
from radiomics_hnc.modeling.records import METRICS_FILE, RunRecord
from radiomics_hnc.modeling.synthetic import synthetic_patients

MODELS = Path(__file__).resolve().parents[1] / "models"


def oracle_scores(table) -> dict[str, float]:
    """C-index of the true log hazard and AUC of the true HPV log-odds."""
    c = concordance_index_censored(table["relapse"].astype(bool), table["rfs_days"],
                                   table.attrs["oracle_log_hazard"])[0]
    known = table["hpv_status"].notna().to_numpy()
    auc = roc_auc_score(table["hpv_status"][known].astype(int),
                        table.attrs["oracle_hpv_logit"][known])
    return {"c_index": float(c), "roc_auc": float(auc)}


def centre_effect(table, seed: int = 0) -> dict[str, float]:
    """Out-of-fold accuracy of predicting the centre from radiomic features, raw vs ComBat.

    In each of 5 stratified folds ComBat is fitted on the training rows and applies to the test
    rows (whose centre is known, as at deployment); the classifier only sees the features
    (missing values imputed by the training rows' medians, as extracted tables have some).
    Centres with fewer patients than folds are left out (they cannot be stratified).
    """
    counts = table["center"].value_counts()
    table = table[table["center"].isin(counts.index[counts >= 5])]
    columns = feature_columns(table, ["PT", "CT", "RTDOSE", "MASK"])
    centres = table["center"].to_numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(table, centres)
    correct_raw = correct_combat = 0
    for train, test in folds:
        frame_train, frame_test = table.iloc[train], table.iloc[test]
        combat = ComBat().fit(frame_train[[*columns, "center"]])
        for harmonise in (False, True):
            x_train = frame_train[columns].to_numpy(float)
            x_test = frame_test[columns].to_numpy(float)
            if harmonise:
                x_train = combat.transform(frame_train[[*columns, "center"]])
                x_test = combat.transform(frame_test[[*columns, "center"]])
            classifier = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                       LogisticRegression(max_iter=500, C=0.1))
            hits = int((classifier.fit(x_train, centres[train]).predict(x_test)
                        == centres[test]).sum())
            correct_combat += hits if harmonise else 0
            correct_raw += 0 if harmonise else hits
    return {
        "majority_rate": float(max(np.mean(centres == c) for c in np.unique(centres))),
        "accuracy_raw": correct_raw / len(table),
        "accuracy_combat": correct_combat / len(table),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1123)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--cv", default="loco")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--specs", nargs="*", default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    table = synthetic_patients(args.patients, n_noise=args.features - 8, seed=0)
    specs = sorted(MODELS.glob("rfs_*.yaml")) + sorted(MODELS.glob("hpv_*.yaml"))
    if args.specs:
        specs = [p for p in specs if p.stem in args.specs]
    results = {"patients": args.patients, "features": args.features, "cv": args.cv,
               "cpus": os.cpu_count(), "python": platform.python_version(),
               "oracle": oracle_scores(table), "specs": {}}
    t0 = time.perf_counter()
    results["centre_effect"] = centre_effect(table)
    print(f"centre effect: {results['centre_effect']} ({time.perf_counter() - t0:.1f} s)",
          flush=True)
    total = time.perf_counter()
    with tempfile.TemporaryDirectory() as ws:
        for path in specs:
            spec = load_spec(path)
            spec.validation.n_bootstrap = args.bootstrap
            start = time.perf_counter()
            run = fit_run(ws, spec, cv=args.cv, table=table)
            seconds = time.perf_counter() - start
            record = RunRecord.read(run / METRICS_FILE)
            key, m = record.headline.metric, record.headline_estimate  # fold-aware
            results["specs"][spec.name] = {"seconds": round(seconds, 1), key: m.model_dump()}
            print(f"{spec.name:>24}: {seconds:6.1f} s  {key} {m.estimate:.3f} "
                  f"[{m.ci_low:.3f}, {m.ci_high:.3f}]", flush=True)
    results["total_seconds"] = round(time.perf_counter() - total, 1)
    print(f"total: {results['total_seconds']} s; oracle {results['oracle']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "modeling.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
