"""Light segmenter: accuracy on held-out centres after at most an hour of CPU training, and
inference time per patient.

Generates a synthetic cohort (``--scale small`` by default: quick to generate), holds out whole
test centres, trains the default light model (``models/seg_unet_light.yaml``) on the other
centres (which themselves split into training and validation centres) within ``--minutes`` of
epochs (preprocessing and the final validation come on top; 50 keeps the whole training under
60 minutes on 2 cores), predicts the test-centre patients on their original CT grids and
reports DSCagg (GTVp, GTVn, mean) and GTVn F1agg there. Inference seconds per patient are then
measured on ``--timing-patients`` freshly generated full-scale patients (CT 512 x 512 x ~150)
of the test centres (CPU unless ``--device cuda``). Targets on the generated data: mean
DSCagg >= 0.80; inference < 20 s per full-scale patient on 2 CPU cores. Writes
benchmarks/results/segment.json.

    python -m benchmarks.segment [--patients 120] [--minutes 50] [--threads 2]
    python -m benchmarks.segment --patients 9 --epochs 1 --minutes 2 --timing-patients 1 \\
        --centers CHUM,HGJ,USZ --test-centers USZ  # smoke run
    python -m benchmarks.segment --patients 100 --minutes 4 --threads 1 --timing-patients 0 \\
        --spec models/seg_unet_demo.yaml --baseline-spec models/seg_unet_light.yaml \\
        --result-name segment_demo_budget.json  # the demo's budget, both specs on one split
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from radiomics_hnc.discover import discover
from radiomics_hnc.io import write_json, write_parquet
from radiomics_hnc.segment import (
    evaluate_masks,
    load_segmenter_spec,
    predict_cohort,
    train_segmenter,
)
from radiomics_hnc.segment.predict import pick_device
from radiomics_hnc.segment.spec import SegmentationSpec
from radiomics_hnc.segment.train import segmenter_training
from radiomics_hnc.synth import generate_cohort
from radiomics_hnc.workspace import Workspace

DEFAULT_TEST_CENTERS = "CHUS,USZ"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=120)
    parser.add_argument("--scale", choices=("small", "full"), default="small")
    parser.add_argument("--timing-patients", type=int, default=2,
                        help="full-scale patients generated to time inference (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--minutes", type=float, default=50.0, help="time limit of the epochs")
    parser.add_argument("--epochs", type=int, default=None, help="override the spec's epochs")
    parser.add_argument("--spec", default=None, help="spec file (default: seg_unet_light)")
    parser.add_argument("--baseline-spec", default=None,
                        help="a second spec trained and tested on the same split, for comparison")
    parser.add_argument("--centers", default=None, help="centres to generate (default all ten)")
    parser.add_argument("--test-centers", default=DEFAULT_TEST_CENTERS)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: auto)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for data generation")
    parser.add_argument("--workdir", default=None, help="keep data here (default: temporary)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--result-name", default="segment.json", help="file name under --out")
    return parser.parse_args()


def _split_workspace(manifest: pd.DataFrame, centres: list[str], root: Path) -> Path:
    """A workspace holding only the manifest rows of ``centres``."""
    write_parquet(manifest[manifest["center"].isin(centres)].reset_index(drop=True),
                  Workspace(root).manifest_path)
    return root


def _full_scale_inference_seconds(args: argparse.Namespace, work: Path,
                                  centres: list[str]) -> float:
    """Mean seconds per patient of ``segment predict`` on newly generated full-scale patients."""
    generate_cohort(work / "full", args.timing_patients, args.seed + 1, scale="full",
                    centers=centres, jobs=args.jobs)
    discover(work / "full" / "dataset", work / "full_ws")
    tick = time.perf_counter()
    table = predict_cohort(work / "full_ws", work / "model", device=args.device, force=True)
    return (time.perf_counter() - tick) / max(int((table["status"] == "written").sum()), 1)


def run(args: argparse.Namespace, work: Path) -> dict:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    centres = args.centers.split(",") if args.centers else None
    if not (work / "cohort" / "ground_truth" / "oracle.json").is_file():  # else a kept --workdir
        generate_cohort(work / "cohort", args.patients, args.seed, scale=args.scale,
                        centers=centres, jobs=args.jobs)
    manifest = discover(work / "cohort" / "dataset", work / "all")
    generation_s = time.perf_counter() - started
    test_centres = [c for c in args.test_centers.split(",") if c in set(manifest["center"])]
    train_centres = sorted(set(manifest["center"]) - set(test_centres))
    if not test_centres or len(train_centres) < 2:
        raise SystemExit(f"need test centres and two training centres; have {train_centres}")
    train_ws = _split_workspace(manifest, train_centres, work / "train")
    test_ws = _split_workspace(manifest, test_centres, work / "test")

    figures = _train_and_test(args, load_segmenter_spec(args.spec), train_ws, test_ws,
                              work / "model")
    inference_s = (_full_scale_inference_seconds(args, work, test_centres)
                   if args.timing_patients else None)
    baseline = None
    if args.baseline_spec:
        baseline = _train_and_test(args, load_segmenter_spec(args.baseline_spec), train_ws,
                                   test_ws, work / "baseline_model")
    return {
        "scale": args.scale, "patients": args.patients, "seed": args.seed,
        "device": str(pick_device(args.device)), "torch_threads": args.threads,
        "time_limit_minutes": args.minutes, "generation_s": round(generation_s, 1),
        "train_centers": train_centres, "test_centers": test_centres, **figures,
        "inference_s_per_full_scale_patient": inference_s, "baseline": baseline,
        "targets": {"test_dsc_agg_mean": 0.80, "inference_s_per_patient_cpu": 20.0,
                    "training_minutes": 60.0},
    }


def _train_and_test(args: argparse.Namespace, spec: SegmentationSpec, train_ws: Path,
                    test_ws: Path, model_dir: Path) -> dict:
    """Train ``spec`` within ``--minutes`` on the training workspace, predict the test
    workspace and score it."""
    spec = spec.model_copy(update={"training": spec.training.model_copy(
        update={"time_limit_minutes": args.minutes})})
    tick = time.perf_counter()
    trained = train_segmenter(train_ws, spec, model_dir, epochs=args.epochs,
                              device=args.device)
    training_min = (time.perf_counter() - tick) / 60
    predictions = predict_cohort(test_ws, model_dir, device=args.device, force=True)
    written = int((predictions["status"] == "written").sum())
    overall = evaluate_masks(test_ws, model_dir=model_dir).summary.overall.model_dump()
    return {
        "spec": spec.name, "training": spec.training.model_dump(mode="json"),
        "train_patients": len(trained.train_patients),
        "validation_patients": len(trained.validation_patients),
        "test_patients": written, "epochs_run": trained.epochs_run,
        "best_epoch": trained.best_epoch, "best_validation_dsc_agg_mean": trained.best_score,
        "training_minutes": round(training_min, 2),
        "validation_stabilised": segmenter_training(model_dir).validation_stabilised,
        "test_dsc_agg_gtvp": overall["dsc_agg_gtvp"], "test_dsc_agg_gtvn": overall["dsc_agg_gtvn"],
        "test_dsc_agg_mean": overall["dsc_agg_mean"],
        "test_mean_dice_gtvp": overall["mean_dice_gtvp"],
        "test_f1agg_gtvn": overall["f1agg_gtvn"],
    }


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.workdir:
        figures = run(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="bench_segment_") as tmp:
            figures = run(args, Path(tmp))
    for key, value in figures.items():
        print(f"{key:32s} {value}")
    write_json(figures, Path(args.out) / args.result_name)


if __name__ == "__main__":
    main()
