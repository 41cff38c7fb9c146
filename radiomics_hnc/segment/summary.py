"""``segmentation/summary.json``: the record ``segment evaluate`` writes, and the one rule for
the headline segmentation figure.

:class:`SegmentationSummary` is written by :func:`~radiomics_hnc.segment.evaluate.evaluate_masks`
and read by the command line, the pipeline's headline and the report. Its headline
(:meth:`SegmentationSummary.headline`) is over the patients the segmenter was not trained on,
since a segmenter scores higher on its own training patients; every figure that includes
training patients says so (:data:`INCLUDES_TRAINING_PATIENTS`).

A segmenter whose training ended before its validation score stabilised
(:class:`SegmenterTraining`, from its model folder's ``model.json``) gives no headline figures:
the headline says it is under-trained instead, since its figures describe an unfinished run,
not the method.

This module imports no deep-learning library, so readers of the summary stay light.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiomics_hnc.records import RecordModel, WorkspaceRecord

SUMMARY_FILE = "summary.json"
#: Label of any segmentation figure computed over patients the segmenter was trained on.
INCLUDES_TRAINING_PATIENTS = "includes patients the segmenter was trained on"
#: The validation score has stabilised when its last STABLE_VALIDATIONS values lie within
#: STABLE_SPREAD (DSCagg mean) of each other.
STABLE_VALIDATIONS = 3
STABLE_SPREAD = 0.02


def validation_stabilised(scores: list[float], last_by_label: Sequence[float] = ()) -> bool:
    """Whether a training run's validation scores (DSCagg mean, in epoch order; NaN where
    undefined) had stopped moving: the last :data:`STABLE_VALIDATIONS` within
    :data:`STABLE_SPREAD`, and no label of the last validation (``last_by_label``, DSCagg per
    label, NaN where the label is absent) at 0: a label never learnt (GTVn early in training)
    keeps the mean flat without being stable."""
    recent = [s for s in scores if not math.isnan(s)][-STABLE_VALIDATIONS:]
    unlearnt = any(score == 0 for score in last_by_label)
    return (len(recent) == STABLE_VALIDATIONS and max(recent) - min(recent) < STABLE_SPREAD
            and not unlearnt)


class SegmenterTraining(RecordModel):
    """How a segmenter's training run ended (its ``model.json``): epochs run, minutes spent
    (every session of a resumed run), and whether the validation score had stabilised."""

    epochs_run: int
    minutes: float
    validation_stabilised: bool

    @property
    def under_trained(self) -> bool:
        return not self.validation_stabilised

    def text(self) -> str:
        return (f"segmenter under-trained: {self.epochs_run} epochs in {self.minutes:.1f} min; "
                "figures not meaningful")


class SegmentationScores(RecordModel):
    """HECKTOR metrics over a group of patients (null where undefined, e.g. no GTVn at all).

    ``n_trained_on``: how many of them the segmenter was trained on (absent when its model
    folder is not known)."""

    n_patients: int
    dsc_agg_gtvp: float | None
    dsc_agg_gtvn: float | None
    dsc_agg_mean: float | None
    mean_dice_gtvp: float | None
    f1agg_gtvn: float | None
    n_trained_on: int | None = None


class NotEvaluated(RecordModel):
    """A patient without mask or label, or whose mask failed."""

    patient_id: str
    message: str


@dataclass(frozen=True)
class SegmentationHeadline:
    """The segmentation figure to show first and the patients it covers (``scope``).

    ``includes_training_patients`` is None when the summary does not say which patients the
    segmenter was trained on (evaluated without its model folder).
    """

    scope: str
    metrics: SegmentationScores
    includes_training_patients: bool | None
    under_trained: SegmenterTraining | None = None

    def text(self) -> str:
        """One line: DSCagg mean (per label), mean GTVp Dice and GTVn F1agg, and the scope; or,
        for an under-trained segmenter, that its figures are not meaningful."""
        if self.under_trained is not None:
            return self.under_trained.text()
        m = {key: _metric_text(getattr(self.metrics, key)) for key in (
            "dsc_agg_mean", "dsc_agg_gtvp", "dsc_agg_gtvn", "mean_dice_gtvp", "f1agg_gtvn")}
        return (f"DSCagg mean {m['dsc_agg_mean']} (GTVp {m['dsc_agg_gtvp']}, GTVn "
                f"{m['dsc_agg_gtvn']}), mean Dice GTVp {m['mean_dice_gtvp']}, F1agg GTVn "
                f"{m['f1agg_gtvn']} over {self.metrics.n_patients} {self.scope}")


def _metric_text(value: float | None) -> str:
    return f"{value:.3f}" if value is not None and not math.isnan(value) else "n/a"


class SegmentationSummary(WorkspaceRecord):
    """``segmentation/summary.json`` (see docs/design.md for each key)."""

    DESCRIPTION = "segmentation summary (summary.json)"
    schema_version: int = 2

    overall: SegmentationScores  # every evaluated patient
    by_center: dict[str, SegmentationScores]
    # Over the patients the segmenter was not trained on: null when it was trained on every
    # evaluated patient; absent when its model folder is not known.
    not_trained_on: SegmentationScores | None = None
    not_trained_on_by_center: dict[str, SegmentationScores] | None = None
    segmenter: str | None  # the model folder whose model.json gave the training patients
    masks_dir: str  # the masks evaluated: relative to the workspace when inside it
    not_evaluated: list[NotEvaluated]
    # How the segmenter's training ended: null when its model folder is not known or predates
    # this record.
    segmenter_training: SegmenterTraining | None = None

    @classmethod
    def rewrite_hint(cls, path: Path, raw: Any) -> str:
        words = raw or {}
        workspace = path.parent.parent
        options = ""
        if isinstance(words.get("masks_dir"), str):
            options += f" --masks {workspace / words['masks_dir']}"
        if isinstance(words.get("segmenter"), str):
            options += f" --model {words['segmenter']}"
        return f"rerun 'radiomics-hnc segment evaluate {workspace}{options}'"

    def masks_folder(self, workspace: str | Path) -> Path:
        """The folder of the masks evaluated."""
        return Path(workspace) / self.masks_dir  # an absolute masks_dir stays as it is

    def headline(self) -> SegmentationHeadline:
        """The patients the segmenter was not trained on when there are any, else every
        evaluated patient, labelled as such; marked under-trained when the segmenter's
        validation score had not stabilised."""
        training = self.segmenter_training
        under = training if training is not None and training.under_trained else None
        if self.not_trained_on is not None:
            return SegmentationHeadline("patients not used to train the segmenter",
                                        self.not_trained_on, False, under)
        if self.segmenter is None:
            return SegmentationHeadline(
                "evaluated patients (not known whether the segmenter was trained on them)",
                self.overall, None, under)
        return SegmentationHeadline(f"evaluated patients ({INCLUDES_TRAINING_PATIENTS})",
                                    self.overall, True, under)
