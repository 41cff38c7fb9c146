"""CLI for models: ``radiomics-hnc fit rfs|hpv WORKSPACE --model SPEC`` and ``predict``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from radiomics_hnc.cli.common import console, state
from radiomics_hnc.errors import ConfigError
from radiomics_hnc.workspace import check_writable


def fit_command(
    task: str = typer.Argument(..., help="rfs (recurrence-free survival) or hpv (HPV status)."),
    workspace: Path = typer.Argument(..., help="Workspace with features/patients.parquet."),
    model: Path = typer.Option(..., "--model", "-m",
                               help="Model spec, e.g. models/rfs_xgb_cox.yaml."),
    cv: str = typer.Option(None, "--cv", help="loco (default), kfold or holdout."),
    name: str = typer.Option(None, "--name", help="Run folder name (default SPEC_CV, plus "
                             "_predicted or _NAME for features from another mask source)."),
    features: str = typer.Option(
        "features", "--features",
        help="Features folder in the workspace: features (ground-truth masks), "
        "features_predicted (predicted masks) or the folder `extract --features` wrote."),
) -> None:
    """Validate a model out of fold, refit it on all patients and write WORKSPACE/runs/NAME."""
    from radiomics_hnc.mask_sources import features_folder
    from radiomics_hnc.modeling import fit_run, load_spec
    check_writable(workspace)
    spec = load_spec(model)
    if task not in ("rfs", "hpv"):
        raise ConfigError(f"task must be rfs or hpv, got {task!r}")
    if spec.task != task:
        raise ConfigError(f"spec {spec.name!r} is a {spec.task} model, not {task}", path=model)
    if cv is not None and cv not in ("loco", "kfold", "holdout"):
        raise ConfigError(f"--cv must be loco, kfold or holdout, got {cv!r}")
    run_dir = fit_run(workspace, spec, cv=cv, name=name,
                      features_dir=features_folder(workspace, features))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if not state.quiet:
        for key, value in metrics["metrics"].items():
            console.print(f"{key:>24}: {value['estimate']:.3f} "
                          f"[{value['ci_low']:.3f}, {value['ci_high']:.3f}]")
        if metrics.get("pooled_centres"):
            console.print(f"pooled small centres: {', '.join(metrics['pooled_centres'])}")
    console.print(f"run: {run_dir}")


def predict_command(
    run: Path = typer.Argument(..., help="A run folder written by `fit`."),
    table: Path = typer.Argument(..., help="A patients table (parquet) with the same features."),
    out: Path = typer.Option(..., "--out", "-o", help="Output parquet of per-patient predictions."),
) -> None:
    """Apply a saved model to a patients table: risk (rfs) or HPV probability (hpv)."""
    from radiomics_hnc.modeling import predict_run
    if out.is_dir():
        raise ConfigError("--out names a folder; it must name the predictions file", path=out,
                          hint="e.g. --out predictions.parquet")
    check_writable(out.parent, "output folder")
    predictions = predict_run(run, table, out)
    console.print(f"predictions for {len(predictions)} patients: {out}")


def register(app: typer.Typer) -> None:
    """Add the ``fit`` and ``predict`` commands to ``app``."""
    app.command("fit")(fit_command)
    app.command("predict")(predict_command)
