"""CLI for the data layer: ``discover`` and ``validate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from radiomics_hnc.cli.common import console, state
from radiomics_hnc.errors import InputDataError

if TYPE_CHECKING:
    import pandas as pd

    from radiomics_hnc.validate import ValidationReport

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def discover_command(
    data: Path = typer.Argument(..., help="Dataset folder in any HECKTOR layout."),
    out: Path = typer.Option(..., "--out", "-o", help="Workspace folder for manifest.parquet."),
) -> None:
    """Find every patient's images and clinical data and write WORKSPACE/manifest.parquet."""
    from radiomics_hnc.discover import discover
    from radiomics_hnc.workspace import Workspace, check_writable

    check_writable(out)
    manifest = discover(data, out)
    if not state.quiet:
        _print_manifest_summary(manifest)
    console.print(f"manifest: {Workspace(out).manifest_path}")


def validate_command(
    target: Path = typer.Argument(..., help="A workspace (with manifest.parquet) or a dataset."),
    out: Path = typer.Option(
        None, "--out", "-o", help="With a dataset: workspace that receives manifest and findings."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    show_info: bool = typer.Option(False, "--info", help="Also list informational findings."),
) -> None:
    """Check every patient (files, geometry, labels, SUV/HU/Gy ranges, clinical values).

    Writes validation.json into the workspace. Patients with errors are excluded from later
    stages; warnings do not exclude. Exit code 0 even when patients are excluded.
    """
    from radiomics_hnc.discover import discover
    from radiomics_hnc.validate import validate_manifest, validate_workspace
    from radiomics_hnc.workspace import Workspace, check_writable

    if target.is_file():
        raise InputDataError("expected a workspace or a dataset folder, found a file",
                             path=target, hint="pass the folder, not a file in it")
    if Workspace(target).manifest_path.is_file():
        check_writable(target)
        report = validate_workspace(target, jobs=jobs, progress=state.progress)
        written = Workspace(target).validation_path
    elif out is not None:
        check_writable(out)
        discover(target, out)
        report = validate_workspace(out, jobs=jobs, progress=state.progress)
        written = Workspace(out).validation_path
    else:
        report = validate_manifest(discover(target), jobs=jobs, progress=state.progress)
        written = None
    print_validation(report, show_info=show_info)
    if written is not None:
        console.print(f"findings: {written}")


def print_validation(report: ValidationReport, show_info: bool = False) -> None:
    """The human table of findings and a one-line summary."""
    shown = [f for f in report.findings if show_info or f.severity != "info"]
    if not state.quiet and shown:
        view = Table("patient", "check", "severity", "message", "file", title="Validation findings")
        for found in shown:
            view.add_row(
                str(found.patient_id or "-"), found.check,
                Text(found.severity, style=_SEVERITY_STYLE[found.severity]),
                found.describe(),
                Path(found.file).name if found.file else "-",
            )
        console.print(view)
    summary = report.summary()
    counts = summary["by_severity"]
    console.print(
        f"{summary['patients']} patients: {counts.get('error', 0)} errors, "
        f"{counts.get('warning', 0)} warnings; {summary['excluded']} excluded from later stages"
    )


def _print_manifest_summary(manifest: pd.DataFrame) -> None:
    with_images = manifest["ct_path"].notna() | manifest["pet_path"].notna()
    table = Table("centre", "patients", "CT+PET", "label", "dose", "clinical", "HPV known",
                  title="Discovered patients")
    for center, group in manifest.groupby("center"):
        table.add_row(
            str(center), str(len(group)),
            str(int((group["ct_path"].notna() & group["pet_path"].notna()).sum())),
            str(int(group["label_path"].notna().sum())), str(int(group["dose_path"].notna().sum())),
            str(int(group["has_clinical"].sum())), str(int(group["hpv_status"].notna().sum())),
        )
    console.print(table)
    console.print(f"{int(with_images.sum())} patients with images, layout "
                  f"{manifest['layout'].iloc[0]}")


def register(app: typer.Typer) -> None:
    """Add the data-layer commands to ``app``."""
    app.command("discover")(discover_command)
    app.command("validate")(validate_command)
