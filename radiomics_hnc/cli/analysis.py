"""CLI for the feature analysis: ``radiomics-hnc analyze WORKSPACE``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from radiomics_hnc.cli.common import console, state


def analyze_command(
    workspace: Path = typer.Argument(..., help="Workspace with features/patients.parquet."),
    features: str = typer.Option(
        "features", "--features",
        help="Features folder in the workspace: features (ground-truth masks), "
        "features_predicted (predicted masks) or another; the results go to analysis "
        "(analysis_<suffix> for another folder)."),
    stratify_center: bool = typer.Option(
        False, "--stratify-center/--no-stratify-center",
        help="Compare patients within centres: Cox strata, a logistic intercept per centre, "
        "C and AUC over pairs within a centre."),
    reproducibility_patients: int = typer.Option(
        10, "--reproducibility-patients", min=0,
        help="Patients re-extracted with perturbed masks (eroded, dilated, random boundary) "
        "for the ICC; 0 skips it."),
    no_reproducibility: bool = typer.Option(
        False, "--no-reproducibility", help="Skip the mask-perturbation re-extraction."),
    alpha: float = typer.Option(0.05, "--fdr", min=0.0001, max=0.5,
                                help="False discovery rate at which q-values are significant."),
    resamples: int = typer.Option(200, "--resamples", min=0,
                                  help="Bootstrap resamples of the C-index and AUC intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and the perturbations."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1,
                             help="Parallel patients of the re-extraction."),
) -> None:
    """Per-feature association with RFS and HPV (FDR), volume confounding, redundancy
    clusters, reproducibility (ICC) and centre effect; writes WORKSPACE/analysis/."""
    from radiomics_hnc.analysis import AnalysisSettings, analysis_dir, analyze_workspace
    from radiomics_hnc.mask_sources import features_folder
    from radiomics_hnc.workspace import check_writable

    check_writable(workspace)
    folder = features_folder(workspace, features)
    settings = AnalysisSettings(
        alpha=alpha, stratify_center=stratify_center, resamples=resamples, seed=seed,
        reproducibility_patients=0 if no_reproducibility else reproducibility_patients)
    summary = analyze_workspace(workspace, folder, settings, jobs=jobs,
                                progress=state.progress)
    for finding in summary.findings:
        console.print(Text(f"not done: {finding}", style="yellow"))
    if not state.quiet:
        for task, counts in summary.tasks.items():
            console.print(Text(
                f"{task}: {counts.significant} of {summary.features} features associated at "
                f"FDR {alpha:g} ({counts.patients} patients, {counts.events} "
                f"{'events' if task == 'rfs' else 'HPV-positive'}); "
                f"{counts.volume_surrogates} only through volume"))
    console.print(f"analysis: {analysis_dir(workspace, folder)}")


def register(app: typer.Typer) -> None:
    """Add the ``analyze`` command to ``app``."""
    app.command("analyze")(analyze_command)
