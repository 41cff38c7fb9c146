"""CLI for models: ``radiomics-hnc fit rfs|hpv WORKSPACE --spec SPEC`` and ``predict``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from radiomics_hnc.choices import CVScheme, ModelTask
from radiomics_hnc.cli.common import console, deprecated_alias, state
from radiomics_hnc.errors import ConfigError

if TYPE_CHECKING:
    from radiomics_hnc.modeling.records import RunRecord


def fit_command(
    task: ModelTask = typer.Argument(..., help="rfs (recurrence-free survival) or hpv (HPV "
                                     "status)."),
    workspace: Path = typer.Argument(..., help="Workspace with features/patients.parquet."),
    spec: Path = typer.Option(None, "--spec", help="Model spec: a YAML file or the name of a "
                              "shipped spec, e.g. rfs_xgb_cox (required)."),
    old_model: Path = typer.Option(None, "--model", "-m", hidden=True,
                                   help="Deprecated spelling of --spec."),
    cv: CVScheme = typer.Option(None, "--cv", help="Validation scheme (default: the spec's "
                                "validation.cv, loco unless it says otherwise)."),
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
    from radiomics_hnc.modeling.records import METRICS_FILE, RunRecord
    from radiomics_hnc.workspace import Workspace, check_writable

    spec = deprecated_alias(spec, old_model, "--spec", "--model")
    if spec is None:
        raise ConfigError("fit needs a model spec", hint="pass --spec FILE or --spec NAME "
                          "(a shipped spec such as rfs_coxnet)")
    check_writable(workspace)
    check_writable(Workspace(workspace).runs_dir, "runs folder")
    model_spec = load_spec(spec)
    if model_spec.task != task:
        raise ConfigError(f"spec {model_spec.name!r} is a {model_spec.task} model, not {task}",
                          path=spec)
    run_dir = fit_run(workspace, model_spec, cv=cv, name=name,
                      features_dir=features_folder(workspace, features))
    record = RunRecord.read(run_dir / METRICS_FILE)
    for warning in record.warnings():  # shown even with --quiet
        console.print(Text(f"warning: {warning}", style="bold red" if record.degenerate
                           else "yellow"))
    if not state.quiet:
        _print_metrics(record)
    console.print(f"run: {run_dir}")


def _print_metrics(record: RunRecord) -> None:
    """Headline (fold-aware) metric first, the per-fold spread, then the secondary ones."""
    headline = record.headline.metric
    for key in [headline, *(k for k in record.metrics if k != headline)]:
        value = record.metrics[key]
        title = f"{key} (headline)" if key == headline else key
        console.print(Text(f"{title:>30}: {value.estimate:.3f} "
                           f"[{value.ci_low:.3f}, {value.ci_high:.3f}]"))
    console.print(Text(f"headline: {record.headline.definition}"))
    summary = record.fold_summary
    if summary.n_scored > 1:
        console.print(Text(f"per-fold {summary.metric}: mean {summary.mean:.3f}, SD "
                           f"{summary.sd:.3f} over {summary.n_scored} folds"))
    if record.pooled_centers:
        console.print(Text(f"pooled small centres: {', '.join(record.pooled_centers)}"))


def predict_command(
    run: Path = typer.Argument(..., help="A run folder written by `fit`."),
    table: Path = typer.Argument(..., help="A patients table (parquet) with the same features."),
    out: Path = typer.Option(..., "--out", "-o", help="Output parquet of per-patient predictions."),
) -> None:
    """Apply a saved model to a patients table: risk (rfs) or HPV probability (hpv)."""
    from radiomics_hnc.modeling import predict_run
    from radiomics_hnc.workspace import check_writable

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
