"""CLI for external validation: ``radiomics-hnc validate-external RUN WORKSPACE``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from radiomics_hnc.choices import HarmonisationPolicy
from radiomics_hnc.cli.common import console, state


def validate_external_command(
    run: Path = typer.Argument(..., help="A run folder written by `fit` (DEV_WORKSPACE/runs/"
                               "NAME): the frozen model."),
    workspace: Path = typer.Argument(..., help="Workspace of the external cohort, with "
                                     "features/patients.parquet (same features as the run)."),
    harmonisation: HarmonisationPolicy = typer.Option(
        HarmonisationPolicy.ESTIMATE, "--harmonisation",
        help="Centres the model's ComBat never saw: estimate (from their own features, never "
        "their outcomes), pass-through (unharmonised) or refuse (stop)."),
    development: Path = typer.Option(
        None, "--development-table",
        help="Development patients table (default: the features folder the run was fitted "
        "on, in the run's workspace)."),
    horizon: float = typer.Option(730.0, "--horizon", min=1.0,
                                  help="Time of the RFS calibration, in days."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="Output folder (default: WORKSPACE/external/RUN_NAME)."),
) -> None:
    """Score a frozen model on an external cohort: metrics with 95 % CIs, calibration, cohort
    shift and a report page. Nothing is refitted."""
    from radiomics_hnc.modeling.external import RECORD_FILE, ExternalRecord, validate_external
    from radiomics_hnc.report.external import write_external_page
    from radiomics_hnc.workspace import check_writable

    check_writable(workspace)
    folder = validate_external(run, workspace, harmonisation, out, development_table=development,
                               horizon_days=horizon)
    record = ExternalRecord.read(folder / RECORD_FILE)
    page = write_external_page(folder)
    if not state.quiet:
        for key, value in record.metrics.items():
            console.print(Text(f"{key:>24}: {value.text()}"))
        for sentence in record.reading:
            console.print(Text(sentence))
    console.print(Text(f"harmonisation: {record.harmonisation}"))
    console.print(f"outputs: {folder}")
    console.print(f"report: {page}")


def register(app: typer.Typer) -> None:
    """Add the ``validate-external`` command to ``app``."""
    app.command("validate-external")(validate_external_command)
