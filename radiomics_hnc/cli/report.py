"""CLI for the clinical statistics report: ``radiomics-hnc report WORKSPACE [--out DIR]``."""

from __future__ import annotations

from pathlib import Path

import typer

from radiomics_hnc.cli.common import console


def report_command(
    workspace: Path = typer.Argument(..., help="Workspace folder (with manifest.parquet)."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="Output folder (default: WORKSPACE/report)."),
    dpi: int = typer.Option(None, "--dpi", min=30, max=600,
                            help="Resolution of the embedded figures (dots per inch); "
                            "default 110."),
    seed: int = typer.Option(0, "--seed", help="Seed of bootstrap bands and Monte Carlo tests."),
    features: str = typer.Option(
        "features", "--features",
        help="Features folder in the workspace the feature sections describe: features "
        "(ground-truth masks), features_predicted (predicted masks) or another."),
) -> None:
    """Write a self-contained HTML report and its CSV tables from a workspace.

    Sections whose stage was not run (segmentation, features, models) are left out.
    """
    from radiomics_hnc.mask_sources import features_folder
    from radiomics_hnc.report import build_report
    from radiomics_hnc.report.figures import DEFAULT_DPI
    from radiomics_hnc.workspace import Workspace, check_writable

    check_writable(workspace)
    check_writable(out or Workspace(workspace).report_dir, "report folder")
    html = build_report(workspace, out, dpi=DEFAULT_DPI if dpi is None else dpi, seed=seed,
                        features_dir=features_folder(workspace, features))
    console.print(f"report: {html}")
    console.print(f"tables: {html.parent / 'tables'}")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""
    app.command("report")(report_command)
