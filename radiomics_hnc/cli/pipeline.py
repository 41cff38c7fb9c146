"""CLI for the whole pipeline: ``radiomics-hnc run`` and ``radiomics-hnc demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from radiomics_hnc.choices import Backend, CVScheme, PipelineMasks
from radiomics_hnc.cli.common import console, deprecated_alias, state
from radiomics_hnc.resources import DEFAULT_HPV_SPECS, DEFAULT_RFS_SPECS, DEMO_SEGMENTER_MINUTES

if TYPE_CHECKING:
    from radiomics_hnc.headline import Headline
    from radiomics_hnc.pipeline import StageOutcome


def run_command(
    data: Path = typer.Argument(..., help="Dataset folder in any HECKTOR layout."),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="Workspace folder."),
    masks: PipelineMasks = typer.Option(
        PipelineMasks.GROUND_TRUTH, "--masks",
        help="Masks to extract features from: ground-truth, predicted (WS/masks: from "
        "--segment, or your own) or both (predicted-mask features in WS/features_predicted)."),
    segment: bool = typer.Option(False, "--segment/--no-segment",
                                 help="Train (unless --segmenter), run and evaluate the "
                                 "segmenter, writing WS/masks."),
    segmenter: Path = typer.Option(None, "--segmenter",
                                   help="A trained segmenter folder: run it instead of training."),
    segmenter_minutes: float = typer.Option(None, "--segmenter-minutes",
                                            help="Training time limit (default: the spec's)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Parallel patients."),
    backend: Backend = typer.Option(Backend.LOKY, "--backend",
                                    help="loky (local) or dask (cluster)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address."),
    cv: CVScheme = typer.Option(CVScheme.LOCO, "--cv", help="Validation scheme of the fits."),
    rfs: list[str] = typer.Option(list(DEFAULT_RFS_SPECS), "--rfs",
                                  help="RFS model specs (names in models/ or files)."),
    hpv: list[str] = typer.Option(list(DEFAULT_HPV_SPECS), "--hpv",
                                  help="HPV model specs (names in models/ or files)."),
    analysis_patients: int = typer.Option(
        0, "--analysis-patients", min=0,
        help="Patients re-extracted with perturbed masks for the feature analysis's ICC "
        "(0: none; see `analyze`)."),
    rerun: list[str] = typer.Option([], "--rerun",
                                    help="Rerun this stage even if up to date (repeatable)."),
    old_force: list[str] = typer.Option([], "--force", hidden=True,
                                        help="Deprecated spelling of --rerun."),
) -> None:
    """Run discover, validate, (segment), extract, fit, analyze and report; up-to-date stages
    are skipped.

    A rerun after a change redoes only what changed; a rerun after a crash resumes.
    """
    from radiomics_hnc.headline import headline
    from radiomics_hnc.pipeline import PipelineSettings, run_pipeline
    from radiomics_hnc.workspace import Workspace, check_writable

    rerun = deprecated_alias(rerun, old_force, "--rerun", "--force STAGE")
    check_writable(workspace)
    settings = PipelineSettings(
        masks=masks, segment=segment, segmenter_model=segmenter,
        segmenter_minutes=segmenter_minutes, jobs=jobs, backend=backend, scheduler=scheduler,
        cv=cv, rfs_specs=tuple(rfs), hpv_specs=tuple(hpv), progress=state.progress,
        analysis_patients=analysis_patients,
    )
    outcomes = run_pipeline(data, workspace, settings, rerun=rerun)
    _print_outcomes(outcomes)
    _print_headline(headline(workspace))
    console.print(f"report: {Workspace(workspace).report_dir / 'index.html'}")


def demo_command(
    out: Path = typer.Argument(Path("demo"), help="Folder for the cohort and the workspace."),
    patients: int = typer.Option(200, "--patients", "-n", min=20, help="Synthetic patients."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated cohort."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Parallel patients."),
    segmenter_minutes: float = typer.Option(DEMO_SEGMENTER_MINUTES, "--segmenter-minutes",
                                            help="CPU minutes for the segmenter's training."),
) -> None:
    """Generate a synthetic multicentre cohort and run the whole pipeline on it."""
    from radiomics_hnc.demo import demo
    from radiomics_hnc.workspace import check_writable

    check_writable(out, "output folder")
    result = demo(out, patients=patients, seed=seed, jobs=jobs,
                  segmenter_minutes=segmenter_minutes, progress=state.progress)
    _print_outcomes(result.stages)
    _print_headline(result.headline)
    oracle, within = result.oracle, result.oracle_within_centre
    console.print(f"generator's oracle (true risk / true HPV probability): C-index "
                  f"{within['c_index']:.3f} within centre ({oracle['c_index']:.3f} pooled), "
                  f"HPV AUC {within['hpv_auc']:.3f} within centre ({oracle['hpv_auc']:.3f} "
                  "pooled)", soft_wrap=True)
    console.print(f"report: {result.report}")


def _print_outcomes(outcomes: list[StageOutcome]) -> None:
    if state.quiet:
        return
    table = Table("stage", "status", "seconds", title="Pipeline")
    for outcome in outcomes:
        table.add_row(outcome.name, Text(outcome.describe(),
                                         style="red" if outcome.status == "failed" else ""),
                      f"{outcome.seconds:.1f}")
    console.print(table)


def _print_headline(numbers: Headline) -> None:
    for line in numbers.lines():
        console.print(line, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``demo`` to ``app``."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)
