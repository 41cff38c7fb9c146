"""CLI for the segmenter: ``segment train``, ``segment predict`` and ``segment evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from radiomics_hnc.cli.common import console, deprecated_alias, err_console, state

if TYPE_CHECKING:
    from radiomics_hnc.segment.summary import SegmentationScores

segment_app = typer.Typer(help="Train, predict and evaluate the GTVp/GTVn segmenter.",
                          no_args_is_help=True)


@segment_app.command("train")
def train_command(
    workspace: Path = typer.Argument(..., help="Workspace with manifest.parquet."),
    spec: Path = typer.Option(None, "--spec", help="Model spec (default: seg_unet_light)."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder (resumes if it has a run)."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Override the spec's epochs."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: auto)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Processes for preprocessing."),
) -> None:
    """Train on the patients with labels; validation is on held-out centres."""
    from radiomics_hnc.segment import train_segmenter
    from radiomics_hnc.workspace import check_writable
    check_writable(workspace)
    check_writable(out, "model folder")
    result = train_segmenter(workspace, spec, out, epochs=epochs, device=device, jobs=jobs,
                             progress=state.progress)
    console.print(
        f"{result.epochs_run} epochs; best validation DSCagg {result.best_score:.3f} "
        f"at epoch {result.best_epoch} ({len(result.train_patients)} training, "
        f"{len(result.validation_patients)} validation patients)\nmodel: {result.model_dir}"
    )


@segment_app.command("predict")
def predict_command(
    workspace: Path = typer.Argument(..., help="Workspace with manifest.parquet."),
    model: Path = typer.Option(..., "--model", "-m", help="Trained model folder."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    device: str = typer.Option(None, "--device", help="cpu, cuda (default: auto)."),
    force: bool = typer.Option(False, "--force", help="Redo up-to-date masks."),
    old_overwrite: bool = typer.Option(False, "--overwrite", hidden=True,
                                       help="Deprecated spelling of --force."),
) -> None:
    """Write WORKSPACE/masks/<PID>.nii.gz on each patient's CT grid (skips up-to-date ones)."""
    from radiomics_hnc.segment import predict_cohort
    from radiomics_hnc.workspace import check_writable

    force = deprecated_alias(force, old_overwrite, "--force", "--overwrite")
    check_writable(workspace)
    table = predict_cohort(workspace, model, jobs=jobs, device=device, force=force,
                           progress=state.progress)
    for row in table[table["status"] == "failed"].itertuples():
        err_console.print(Text.assemble(("failed", "red"), f" {row.patient_id}: {row.message}"))
    counts = table["status"].value_counts()
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()))


@segment_app.command("evaluate")
def evaluate_command(
    workspace: Path = typer.Argument(..., help="Workspace with manifest.parquet."),
    masks: Path = typer.Option(None, "--masks", help="Mask folder (default WORKSPACE/masks)."),
    model: Path = typer.Option(
        None, "--model", "-m", help="The segmenter's model folder: its model.json says which "
        "patients it was trained on (default WORKSPACE/segmenter when it has one)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
) -> None:
    """Compare masks with ground truth; writes WORKSPACE/segmentation/ metrics and summary.

    The headline is over the patients the segmenter was not trained on; figures over all
    patients include its training patients.
    """
    from radiomics_hnc.segment import evaluate_masks
    from radiomics_hnc.workspace import check_writable

    check_writable(workspace)
    result = evaluate_masks(workspace, masks, model_dir=model, jobs=jobs, progress=state.progress)
    for failure in result.failures:
        err_console.print(Text.assemble(("not evaluated", "yellow"),
                                        f" {failure.patient_id}: {failure.message}"))
    summary = result.summary
    scopes = {f"unseen: {name}": m for name, m in
              _scoped(summary.not_trained_on, summary.not_trained_on_by_center).items()}
    scopes.update(_scoped(summary.overall, summary.by_center))
    view = Table("scope", "patients", "trained on", "DSCagg GTVp", "DSCagg GTVn", "DSCagg mean",
                 "mean Dice GTVp", "F1agg GTVn", title="Segmentation",
                 caption="unseen: the patients the segmenter was not trained on")
    for scope, m in scopes.items():
        trained = "?" if m.n_trained_on is None else str(m.n_trained_on)
        view.add_row(scope, str(m.n_patients), trained, *(_number(getattr(m, key)) for key in (
            "dsc_agg_gtvp", "dsc_agg_gtvn", "dsc_agg_mean", "mean_dice_gtvp", "f1agg_gtvn")))
    console.print(view)
    if summary.segmenter is None:
        err_console.print("no segmenter model folder: which patients it was trained on is "
                          "unknown (pass --model)", markup=False)
    console.print(f"headline: {summary.headline().text()}", markup=False)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _scoped(overall: SegmentationScores | None,
            by_center: dict[str, SegmentationScores] | None) -> dict[str, SegmentationScores]:
    """``{"all": overall, centre: metrics, ...}``, empty when there is no figure."""
    if overall is None:
        return {}
    return {"all": overall, **(by_center or {})}


def register(app: typer.Typer) -> None:
    """Add the ``segment`` command group to ``app``."""
    app.add_typer(segment_app, name="segment")
