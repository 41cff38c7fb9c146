"""segment stage: a light MONAI segmenter that trains, predicts and evaluates GTVp/GTVn masks."""

from radiomics_hnc.segment.evaluate import EvaluationResult, evaluate_masks
from radiomics_hnc.segment.predict import load_segmenter, predict_cohort, predict_patient
from radiomics_hnc.segment.spec import SegmentationSpec, load_segmenter_spec
from radiomics_hnc.segment.train import TrainingResult, train_segmenter

__all__ = [
    "EvaluationResult",
    "SegmentationSpec",
    "TrainingResult",
    "evaluate_masks",
    "load_segmenter",
    "load_segmenter_spec",
    "predict_cohort",
    "predict_patient",
    "train_segmenter",
]
