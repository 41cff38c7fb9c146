"""CLI for feature extraction: ``radiomics-hnc extract WORKSPACE``."""

from __future__ import annotations

from pathlib import Path

import typer

from radiomics_hnc.choices import Backend
from radiomics_hnc.cli.common import console, state


def extract_command(
    workspace: Path = typer.Argument(..., help="Workspace folder (with manifest.parquet)."),
    masks: str = typer.Option(
        "ground-truth", "--masks",
        help="ground-truth (dataset label maps), predicted (WORKSPACE/masks) or a folder of "
        "<PID>.nii.gz label maps on the CT grid."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Patients processed in parallel."),
    backend: Backend = typer.Option(Backend.LOKY, "--backend",
                                    help="loky (local processes) or dask."),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Dask scheduler address, e.g. tcp://HOST:8786."),
    ct_config: Path = typer.Option(
        None, "--ct-config", help="PyRadiomics YAML for CT, or ct_ibsi (IBSI-aligned)."),
    pet_config: Path = typer.Option(
        None, "--pet-config", help="PyRadiomics YAML for PET, or pet_ibsi (IBSI-aligned)."),
    dose_config: Path = typer.Option(None, "--dose-config", help="PyRadiomics YAML for dose."),
    filters: bool = typer.Option(False, "--filters",
                                 help="Add LoG and wavelet image types to CT and PET."),
    min_lesion_ml: float = typer.Option(
        None, "--min-lesion-ml", min=0.0,
        help="Smaller lesions get shape and volume only (flagged too_small); default 0.5 ml."),
    features: str = typer.Option(
        None, "--features",
        help="Features folder in the workspace; default the mask source's own: features "
        "(ground-truth), features_predicted (predicted), features_<folder name> (a folder)."),
    force: bool = typer.Option(
        False, "--force", help="Recompute patients already cached, and replace a features "
        "folder that holds another mask source's tables."),
) -> None:
    """Extract PET, CT and dose features per lesion into WORKSPACE/features*/*.parquet.

    Each mask source has its own features folder, so features from ground-truth and predicted
    masks live side by side. Reruns skip patients whose images and settings are unchanged.
    """
    from radiomics_hnc.features import (
        MIN_LESION_VOLUME_ML,
        extract_features,
        load_feature_configs,
    )
    from radiomics_hnc.mask_sources import MaskSource, features_folder
    from radiomics_hnc.workspace import Workspace, check_writable

    check_writable(workspace)
    configs = load_feature_configs(ct_config, pet_config, dose_config, filters=filters)
    source = MaskSource.parse(masks)
    out = features_folder(workspace, features) if features is not None else None
    check_writable(out or source.default_features_dir(Workspace(workspace)), "features folder")
    result = extract_features(workspace, masks=masks, jobs=jobs, backend=backend,
                              scheduler=scheduler, configs=configs,
                              min_lesion_ml=MIN_LESION_VOLUME_ML if min_lesion_ml is None
                              else min_lesion_ml, progress=state.progress, force=force,
                              out_dir=out)
    console.print(f"features from {source.describe()}", highlight=False, markup=False)
    console.print(
        f"{len(result.computed)} patients extracted, {len(result.skipped)} unchanged (cached), "
        f"{len(result.failed)} failed; {len(result.lesions)} lesions, "
        f"{len(result.errors)} errors")
    for name, path in result.paths.items():
        console.print(f"{name}: {path}")


def register(app: typer.Typer) -> None:
    """Add the ``extract`` command to ``app``."""
    app.command("extract")(extract_command)
