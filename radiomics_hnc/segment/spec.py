"""The segmentation model specification (``models/seg_*.yaml``), validated with pydantic.

A spec says everything needed to rebuild a model: the network and its keyword arguments, the
preprocessing grid, the training and the inference settings. Unknown keys are rejected so that
a typo never silently falls back to a default. The spec is copied into every model folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

from radiomics_hnc.errors import ConfigError
from radiomics_hnc.resources import model_spec_path

#: Spec files shipped with the package (``models/`` in the source tree).
DEFAULT_SPEC = "seg_unet_light"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UNetSpec(_Strict):
    """Keyword arguments of :class:`monai.networks.nets.UNet` (3D, 2 input channels, 3 classes)."""

    name: Literal["unet"] = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = Field(1, ge=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    norm: Literal["instance", "batch"] = "instance"

    @model_validator(mode="after")
    def _one_stride_per_down_step(self) -> UNetSpec:
        if len(self.strides) != len(self.channels) - 1:
            raise ValueError(
                f"UNet needs len(strides) == len(channels) - 1, found {len(self.strides)} "
                f"strides for {len(self.channels)} channels"
            )
        return self


class SegResNetSpec(_Strict):
    """Keyword arguments of :class:`monai.networks.nets.SegResNet` (3D, 2 channels, 3 classes)."""

    name: Literal["segresnet"] = "segresnet"
    init_filters: int = Field(8, ge=1)
    blocks_down: tuple[int, ...] = (1, 2, 2, 4)
    blocks_up: tuple[int, ...] = (1, 1, 1)
    dropout_prob: float | None = None

    @model_validator(mode="after")
    def _one_up_block_per_level(self) -> SegResNetSpec:
        if len(self.blocks_up) != len(self.blocks_down) - 1:
            raise ValueError("SegResNet needs len(blocks_up) == len(blocks_down) - 1")
        return self


NetworkSpec = Annotated[UNetSpec | SegResNetSpec, Field(discriminator="name")]


class PreprocessSpec(_Strict):
    """The common grid and intensity normalisation (see :mod:`radiomics_hnc.segment.preprocess`).

    Sizes are in mm and in ITK (x, y, z) = (right-left, anterior-posterior, inferior-superior)
    order.
    """

    spacing_mm: float = Field(2.0, gt=0.0, le=8.0)
    crop_size_mm: tuple[float, float, float] = (200.0, 200.0, 310.0)
    brain_search_fraction: float = Field(0.25, gt=0.0, le=1.0)
    brain_top_margin_mm: float = Field(30.0, ge=0.0)
    ct_window_hu: tuple[float, float] = (-250.0, 250.0)


class TrainingSpec(_Strict):
    """Optimisation settings. Patch size is in voxels of the preprocessed grid, (z, y, x);
    ``class_ratios`` are the relative numbers of patches centred on background, GTVp, GTVn;
    ``hot_background_ratio`` that of patches centred on hot PET outside the lesions (brain,
    tonsils, glands, brown fat: the uptake the network must learn to leave out).
    ``volumes_per_epoch`` (default all) training volumes are drawn per epoch, so that a short
    time limit still allows several validations; ``validation_max_patients`` (default all) caps
    the validation patients scored after each epoch (a fixed, seeded subset).
    ``dice_over_batch`` computes the Dice part of the loss over the whole batch rather than per
    patch, so that a patch without a node does not ask for an exactly empty node map (per-patch
    Dice of an absent class is ~1 for any false positive, which drowns small structures).
    ``loss_class_weights`` weigh background, GTVp, GTVn in the loss (cross-entropy and Dice):
    nodes are a fraction of the primaries' voxels and look like them, so unweighted, every hot
    lesion is first learnt as GTVp."""

    epochs: int = Field(100, ge=1)
    patch_size: tuple[int, int, int] = (64, 64, 64)
    batch_size: int = Field(2, ge=1)
    patches_per_volume: int = Field(2, ge=1)
    class_ratios: tuple[float, float, float] = (1.0, 1.0, 1.0)
    hot_background_ratio: float = Field(0.0, ge=0.0)
    volumes_per_epoch: int | None = Field(None, ge=1)
    validation_max_patients: int | None = Field(None, ge=1)
    dice_over_batch: bool = False
    loss_class_weights: tuple[PositiveFloat, PositiveFloat, PositiveFloat] = (1.0, 1.0, 1.0)
    learning_rate: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(1e-5, ge=0.0)
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    validation_centers: tuple[str, ...] = ()
    validation_interval: int = Field(1, ge=1)
    time_limit_minutes: float | None = Field(None, gt=0.0)
    seed: int = 0


class InferenceSpec(_Strict):
    """Sliding-window settings and the smallest plausible lesion (ml) kept per label."""

    overlap: float = Field(0.25, ge=0.0, lt=1.0)
    sw_batch_size: int = Field(2, ge=1)
    min_gtvp_ml: float = Field(0.5, ge=0.0)
    min_gtvn_ml: float = Field(0.1, ge=0.0)


class SegmentationSpec(_Strict):
    """A complete segmentation model specification."""

    name: str
    network: NetworkSpec
    preprocess: PreprocessSpec = PreprocessSpec()
    training: TrainingSpec = TrainingSpec()
    inference: InferenceSpec = InferenceSpec()

    def to_yaml(self) -> str:
        """The spec as YAML (tuples as lists), loadable by :func:`load_segmenter_spec`."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def default_spec_path(name: str = DEFAULT_SPEC) -> Path:
    """Path of a spec shipped with the package, e.g. ``seg_unet_light``."""
    return Path(str(files("radiomics_hnc.model_specs").joinpath(f"{name}.yaml")))


def load_segmenter_spec(path: str | Path | None = None) -> SegmentationSpec:
    """Read and validate a segmenter spec file (the shipped light UNet when ``path`` is None);
    :func:`radiomics_hnc.modeling.load_spec` reads a tabular model's spec."""
    path = default_spec_path() if path is None else model_spec_path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read model spec: {exc}", path=path) from exc
    try:
        return SegmentationSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid segmentation spec: {exc}", path=path,
            hint="compare with models/seg_unet_light.yaml",
        ) from exc
