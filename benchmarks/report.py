"""Report build time at full cohort scale (1123 patients, 10 centres, 1000 features).

The workspace holds tables only (manifest without images, features, three model runs), so the
figure measures the statistics, figures and HTML, not image reading.
Run: python -m benchmarks.report [--patients N] [--features K]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from radiomics_hnc.io import write_parquet
from radiomics_hnc.report import build_report
from radiomics_hnc.validate import ValidationReport
from tests.record_fixtures import estimate, run_record  # runs as fit writes them

CENTRES = ("CHB", "CHUM", "CHUP", "CHUS", "CHUV", "HGJ", "HMR", "MDA", "USZ", "CHUN")
RESULTS = Path(__file__).parent / "results" / "report.json"


def table_workspace(root: Path, n: int, k: int, seed: int = 0) -> Path:
    """Manifest, validation, features and RFS/HPV runs of ``n`` patients, ``k`` features."""
    rng = np.random.default_rng(seed)
    centres = rng.choice(CENTRES, n, p=np.linspace(2, 1, len(CENTRES)) / 15)
    pids = [f"{c}-{i:04d}" for i, c in enumerate(centres)]
    hpv = rng.random(n) < 0.6
    risk = rng.normal(size=n) - 0.6 * hpv
    rfs = rng.exponential(1500 * np.exp(-0.8 * risk))
    follow = rng.uniform(200, 2500, n)
    manifest = pd.DataFrame({
        "patient_id": pids, "center": centres, "layout": "per-task", "has_clinical": True,
        "age": rng.normal(62, 9, n).round(), "gender": pd.array(rng.random(n) < 0.8, "Int64"),
        "tobacco": pd.array(rng.random(n) < 0.5, "Int64"),
        "performance_status": pd.array(rng.integers(0, 3, n), "Int64"),
        "treatment": pd.array(rng.random(n) < 0.7, "Int64"),
        "m_stage": rng.choice(["M0", "M1", "Mx"], n, p=[0.9, 0.03, 0.07]),
        "hpv_status": pd.array(np.where(rng.random(n) < 0.3, pd.NA, hpv), "Int64"),
        "relapse": pd.array(rfs < follow, "Int64"), "rfs_days": np.minimum(rfs, follow),
    })
    write_parquet(manifest, root / "manifest.parquet")
    ValidationReport([], n).record().write(root / "validation.json")
    shift = pd.factorize(centres)[0][:, None] * 0.3
    features = rng.normal(size=(n, k)) + shift + risk[:, None] * 0.1
    table = pd.concat([manifest, pd.DataFrame(features, columns=[
        f"GTVp_PT_original_firstorder_f{i}" for i in range(k)])], axis=1)
    write_parquet(table, root / "features" / "patients.parquet")
    for name, scheme in (("rfs_loco", "loco"), ("rfs_kfold", "kfold")):
        oof = manifest[["patient_id", "center", "relapse", "rfs_days"]].assign(
            fold=centres, risk=risk + rng.normal(0, 1, n))
        _write_run(root / "runs" / name, oof, "rfs", scheme, "c_index", ["PT"])
    probability = 1 / (1 + np.exp(-(2 * hpv - 1 + rng.normal(0, 1.2, n))))
    oof = manifest[["patient_id", "center", "hpv_status"]].assign(
        fold=centres, probability=probability, threshold=0.5,
        predicted=(probability >= 0.5).astype(int))
    _write_run(root / "runs" / "hpv", oof, "hpv", "loco", "roc_auc", ["PT", "clinical"])
    return root


def _write_run(folder: Path, oof: pd.DataFrame, task: str, scheme: str, metric: str,
               features: list[str]) -> None:
    """A run folder as ``fit`` writes it (without the model file)."""
    write_parquet(oof, folder / "oof_predictions.parquet")
    spec = {"name": folder.name, "task": task, "features": features,
            "estimator": "coxnet" if task == "rfs" else "elasticnet_logistic"}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    run_record(folder.name, task, scheme, {f"{metric}_fold_aware": estimate(0.7),
                                           metric: estimate(0.68)}).write(
        folder / "metrics.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1123)
    parser.add_argument("--features", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = table_workspace(Path(tmp), args.patients, args.features)
        started = time.perf_counter()
        html = build_report(ws)
        seconds = time.perf_counter() - started
        size_mb = html.stat().st_size / 1e6
    result = {"patients": args.patients, "features": args.features,
              "build_seconds": round(seconds, 1), "html_mb": round(size_mb, 2)}
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
