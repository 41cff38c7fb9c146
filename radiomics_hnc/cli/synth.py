"""CLI for the synthetic cohort generator: ``radiomics-hnc synth``."""

from __future__ import annotations

from pathlib import Path

import typer

from radiomics_hnc.cli.common import console, state


def synth_command(
    out: Path = typer.Argument(..., help="Folder that receives dataset/ and ground_truth/."),
    patients: int = typer.Option(40, "--patients", "-n", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same cohort)."),
    scale: str = typer.Option("small", "--scale", help="small (tests, demos) or full (real size)."),
    centers: list[str] = typer.Option(
        None, "--centers", help="Centre codes to draw from (repeat the option); default all ten."
    ),
    layout: str = typer.Option("hecktor2025", "--layout", help="hecktor2025 or flat."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    image_format: str = typer.Option(
        "nifti", "--format",
        help="nifti, or dicom to also write each patient as a DICOM export in OUT/dicom "
        "(PET, CT, RTSTRUCT, RTDOSE) for import-dicom; the NIfTI dataset is its truth."),
) -> None:
    """Generate a synthetic multicentre HNC PET/CT cohort with known ground truth.

    The dataset (OUT/dataset) is in the HECKTOR layout; the truth (OUT/ground_truth) holds the
    true risk, HPV probability, lesion list and the oracle scores.
    """
    from radiomics_hnc.synth import generate_cohort
    from radiomics_hnc.workspace import check_writable

    check_writable(out, "output folder")
    cohort = generate_cohort(out, patients, seed, scale=scale, centers=centers or None,
                             layout=layout, jobs=jobs, progress=state.progress,
                             image_format=image_format)
    oracle = cohort.oracle
    if image_format == "dicom":
        console.print(f"DICOM export of every patient in {cohort.root / 'dicom'}")
    console.print(
        f"{len(cohort.patient_ids)} patients written to {cohort.dataset_dir} "
        f"({len(cohort.failures)} failed); ground truth in {cohort.ground_truth_dir}"
    )
    if not state.quiet:
        console.print(
            f"oracle C-index {oracle.get('c_index', float('nan')):.3f}, "
            f"oracle HPV AUC {oracle.get('hpv_auc', float('nan')):.3f}, "
            f"event rate {oracle['event_rate']:.2f}"
        )
    if cohort.failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth_command)
