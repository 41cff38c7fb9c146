"""The named choices of settings, one Enum each: command-line options, specs and the pipeline's
settings all take these, so a value is checked once, where the setting is made, and every
place lists the same choices.

Members are strings (``CVScheme.LOCO == "loco"``) and print as their value, so they go into
file names, JSON and messages unchanged. This module imports nothing heavy: the command line
checks its options against these before loading any stage.
"""

from __future__ import annotations

from enum import Enum

from radiomics_hnc.errors import ConfigError


class Choice(str, Enum):
    """A setting with a fixed set of values."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> list[str]:
        return [str(member.value) for member in cls]

    @classmethod
    def parse(cls, value: str | Choice, what: str):
        """``value`` as a member, or a :class:`ConfigError` listing the choices."""
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"unknown {what} {value!r}",
                              hint=f"use one of {', '.join(cls.values())}") from None


class CVScheme(Choice):
    """Validation schemes, most centre-aware first: the order in which runs are preferred."""

    LOCO = "loco"
    HOLDOUT = "holdout"
    KFOLD = "kfold"

    @property
    def rank(self) -> int:
        """0 for leave-one-centre-out (the headline validation), then holdout, then k-fold."""
        return list(CVScheme).index(self)

    @property
    def label(self) -> str:
        """The scheme in words, for methods paragraphs."""
        return {CVScheme.LOCO: "leave-one-centre-out cross-validation",
                CVScheme.HOLDOUT: "a held-out-centre split",
                CVScheme.KFOLD: "repeated stratified k-fold"}[self]


class ModelTask(Choice):
    """What a tabular model predicts."""

    RFS = "rfs"  # recurrence-free survival (relapse, rfs_days)
    HPV = "hpv"  # HPV status (0/1)


class PipelineMasks(Choice):
    """The masks ``radiomics-hnc run`` extracts features from."""

    GROUND_TRUTH = "ground-truth"  # the dataset's label maps
    PREDICTED = "predicted"  # WORKSPACE/masks
    BOTH = "both"  # each into its own features folder


class SUVNormalisation(Choice):
    """What PET activity is normalised by when DICOM is imported."""

    BW = "bw"  # body weight
    SUL = "sul"  # lean body mass (Janmahasatian)
    BSA = "bsa"  # body surface area


class NonuniformSlices(Choice):
    """What to do with an imported series whose planes are not evenly spaced."""

    REFUSE = "refuse"  # the patient fails, saying where
    RESAMPLE = "resample"  # linear interpolation onto even spacing, logged


class Backend(Choice):
    """Where per-patient work runs."""

    LOKY = "loky"  # local processes
    DASK = "dask"  # a Dask cluster (needs a scheduler address)


class HarmonisationPolicy(Choice):
    """How a frozen model's ComBat treats centres it never saw (external validation)."""

    ESTIMATE = "estimate"  # each new centre's location/scale from its own features
    PASS_THROUGH = "pass-through"  # new centres' features enter the model unharmonised
    REFUSE = "refuse"  # stop when a centre is new to the model

    @property
    def combat_unseen(self) -> str:
        """The ``unseen`` setting of :class:`~radiomics_hnc.harmonize.ComBat` it stands for."""
        return {HarmonisationPolicy.ESTIMATE: "estimate",
                HarmonisationPolicy.PASS_THROUGH: "passthrough",
                HarmonisationPolicy.REFUSE: "raise"}[self]
