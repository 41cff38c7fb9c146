"""CLI for the whole pipeline: ``radiomics-hnc run`` and ``radiomics-hnc demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from radiomics_hnc.cli.common import console, state
from radiomics_hnc.pipeline import (
    DEFAULT_HPV_SPECS,
    DEFAULT_RFS_SPECS,
    PipelineSettings,
    StageOutcome,
    demo,
    headline,
    run_pipeline,
)
from radiomics_hnc.workspace import check_writable


def run_command(
    data: Path = typer.Argument(..., help="Dataset folder in any HECKTOR layout."),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="Workspace folder."),
    masks: str = typer.Option("ground-truth", "--masks",
                              help="Masks to extract features from: ground-truth, predicted "
                              "(WS/masks: from --segment, or your own) or both "
                              "(predicted-mask features in WS/features_predicted)."),
    segment: bool = typer.Option(False, "--segment/--no-segment",
                                 help="Train (unless --segmenter), run and evaluate the "
                                 "segmenter, writing WS/masks."),
    segmenter: Path = typer.Option(None, "--segmenter",
                                   help="A trained segmenter folder: run it instead of training."),
    segmenter_minutes: float = typer.Option(None, "--segmenter-minutes",
                                            help="Training time limit (default: the spec's)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Parallel patients."),
    backend: str = typer.Option("loky", "--backend", help="loky (local) or dask (cluster)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address."),
    cv: str = typer.Option("loco", "--cv", help="Validation: loco, kfold or holdout."),
    rfs: list[str] = typer.Option(list(DEFAULT_RFS_SPECS), "--rfs",
                                  help="RFS model specs (names in models/ or files)."),
    hpv: list[str] = typer.Option(list(DEFAULT_HPV_SPECS), "--hpv",
                                  help="HPV model specs (names in models/ or files)."),
    force: list[str] = typer.Option([], "--force", help="Rerun this stage even if up to date."),
) -> None:
    """Run discover, validate, (segment), extract, fit and report; up-to-date stages are skipped.

    A rerun after a change redoes only what changed; a rerun after a crash resumes.
    """
    check_writable(workspace)
    settings = PipelineSettings(
        masks=masks, segment=segment, segmenter_model=segmenter,
        segmenter_minutes=segmenter_minutes, jobs=jobs, backend=backend, scheduler=scheduler,
        cv=cv, rfs_specs=tuple(rfs), hpv_specs=tuple(hpv), progress=state.progress,
    )
    outcomes = run_pipeline(data, workspace, settings, force=force)
    _print_outcomes(outcomes)
    _print_headline(headline(workspace))
    console.print(f"report: {workspace / 'report' / 'index.html'}")


def demo_command(
    out: Path = typer.Argument(Path("demo"), help="Folder for the cohort and the workspace."),
    patients: int = typer.Option(200, "--patients", "-n", min=20, help="Synthetic patients."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated cohort."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Parallel patients."),
    segmenter_minutes: float = typer.Option(4.0, "--segmenter-minutes",
                                            help="CPU minutes for the segmenter's training."),
) -> None:
    """Generate a synthetic multicentre cohort and run the whole pipeline on it."""
    check_writable(out, "output folder")
    numbers = demo(out, patients=patients, seed=seed, jobs=jobs,
                   segmenter_minutes=segmenter_minutes, progress=state.progress)
    _print_outcomes([StageOutcome(n, s, t) for n, s, t in numbers["stages"]])
    _print_headline(numbers)
    oracle, within = numbers["oracle"], numbers["oracle_within_centre"]
    console.print(f"generator's oracle (true risk / true HPV probability): C-index "
                  f"{within['c_index']:.3f} within centre ({oracle['c_index']:.3f} pooled), "
                  f"HPV AUC {within['hpv_auc']:.3f} within centre ({oracle['hpv_auc']:.3f} "
                  "pooled)", soft_wrap=True)
    console.print(f"report: {numbers['report']}")


def _print_outcomes(outcomes: list[StageOutcome]) -> None:
    if state.quiet:
        return
    table = Table("stage", "status", "seconds", title="Pipeline")
    for outcome in outcomes:
        status = (Text(f"failed: {outcome.result}", style="red") if outcome.status == "failed"
                  else Text(outcome.status))
        table.add_row(outcome.name, status, f"{outcome.seconds:.1f}")
    console.print(table)


def _ci(value: dict[str, Any]) -> str:
    return f"{value['estimate']:.3f} (95% CI {value['ci_low']:.3f}-{value['ci_high']:.3f})"


def _print_headline(numbers: dict[str, Any]) -> None:
    seg = numbers.get("segmentation")
    if seg:
        console.print(
            f"segmentation ({numbers['segmentation_scope']}, n={seg['n_patients']}): DSCagg "
            f"GTVp {seg['dsc_agg_gtvp']:.3f}, GTVn {seg['dsc_agg_gtvn']:.3f}, mean "
            f"{seg['dsc_agg_mean']:.3f}; GTVn F1agg {seg['f1agg_gtvn']:.3f}", soft_wrap=True,
        )
    for task, label in (("rfs", "C-index"), ("hpv", "ROC AUC")):
        if task in numbers:
            best = numbers[task]
            kind = "fold-aware" if best.get("metric", "").endswith("_fold_aware") else "pooled"
            console.print(f"{task.upper()} best model {best['run']} ({best['cv']}): {label} "
                          f"({kind}) {_ci(best)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``demo`` to ``app``."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)
