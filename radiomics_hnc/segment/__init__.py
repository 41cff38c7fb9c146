"""segment stage: a light MONAI segmenter that trains, predicts and evaluates GTVp/GTVn masks.

The names below are imported on first use: reading the segmentation summary record
(``segment.summary``, needed by the report and the headline) does not load torch.
"""

from radiomics_hnc.lazy import lazy_attributes

_MODULES = {
    "EvaluationResult": "evaluate",
    "evaluate_masks": "evaluate",
    "load_segmenter": "predict",
    "predict_cohort": "predict",
    "predict_patient": "predict",
    "SegmentationSpec": "spec",
    "load_segmenter_spec": "spec",
    "TrainingResult": "train",
    "train_segmenter": "train",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_attributes(__name__, _MODULES)
