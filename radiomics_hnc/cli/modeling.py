"""CLI for models: ``radiomics-hnc fit rfs|hpv WORKSPACE --model SPEC`` and ``predict``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

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
    if metrics.get("degenerate"):  # warnings: shown even with --quiet
        console.print(Text(f"not scored, degenerate model: {metrics['degenerate']['reason']}",
                           style="bold red"))
    if (metrics.get("inputs") or {}).get("warning"):
        console.print(Text(f"warning: {metrics['inputs']['warning']}", style="yellow"))
    if not state.quiet:
        _print_metrics(metrics)
    console.print(f"run: {run_dir}")


def _print_metrics(metrics: dict) -> None:
    """Headline (fold-aware) metric first, the per-fold spread, then the secondary ones."""
    headline = metrics.get("headline", {})
    values = dict(metrics["metrics"])
    order = [headline.get("metric")] if headline.get("metric") in values else []
    for key in [*order, *(k for k in values if k not in order)]:
        value = values[key]
        title = f"{key} (headline)" if key in order else key
        console.print(Text(f"{title:>30}: {value['estimate']:.3f} "
                           f"[{value['ci_low']:.3f}, {value['ci_high']:.3f}]"))
    if headline:
        console.print(Text(f"headline: {headline['definition']}"))
    summary = metrics.get("fold_summary")
    if summary and summary.get("n_scored", 0) > 1:
        console.print(Text(f"per-fold {summary['metric']}: mean {summary['mean']:.3f}, SD "
                           f"{summary['sd']:.3f} over {summary['n_scored']} folds"))
    if metrics.get("pooled_centres"):
        console.print(Text(f"pooled small centres: {', '.join(metrics['pooled_centres'])}"))


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
