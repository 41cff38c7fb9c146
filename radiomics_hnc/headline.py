"""The numbers a user looks at first: segmentation and the best RFS and HPV model of a
workspace, with 95 % CIs (printed by ``radiomics-hnc run`` and ``demo``).

It applies the rules of the records, never its own: the segmentation figure is
:meth:`SegmentationSummary.headline`, the best model :func:`~radiomics_hnc.modeling.records.
best_run` (the report's too).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radiomics_hnc.choices import ModelTask
from radiomics_hnc.modeling.records import Estimate, RunRecord, best_run, read_run_records
from radiomics_hnc.segment.summary import SUMMARY_FILE, SegmentationHeadline, SegmentationSummary
from radiomics_hnc.workspace import Workspace

#: The headline metric of each task, in words.
METRIC_LABELS = {ModelTask.RFS: "C-index", ModelTask.HPV: "ROC AUC"}


@dataclass(frozen=True)
class BestModel:
    """The best run of a task and its record."""

    run: str
    record: RunRecord

    @property
    def estimate(self) -> Estimate:
        """The headline (fold-aware) figure with its 95 % CI."""
        return self.record.headline_estimate

    def text(self) -> str:
        task = self.record.task
        return (f"{task.value.upper()} best model {self.run} ({self.record.cv}): "
                f"{METRIC_LABELS[task]} (fold-aware) {self.estimate.text()}")


@dataclass(frozen=True)
class Headline:
    """Segmentation headline and best models; None where the stage was not run or no run is
    scored."""

    segmentation: SegmentationHeadline | None
    rfs: BestModel | None
    hpv: BestModel | None

    def lines(self) -> list[str]:
        """One line per figure, as the command line prints them."""
        lines = [f"segmentation: {self.segmentation.text()}"] if self.segmentation else []
        return lines + [best.text() for best in (self.rfs, self.hpv) if best is not None]


def headline(workspace: str | Path) -> Headline:
    """The headline numbers of a workspace (see the module docstring)."""
    ws = Workspace(workspace)
    summary_path = ws.segmentation_dir / SUMMARY_FILE
    segmentation = (SegmentationSummary.read(summary_path).headline()
                    if summary_path.is_file() else None)
    records = read_run_records(ws.runs_dir)

    def best(task: ModelTask) -> BestModel | None:
        name = best_run(records, task)
        return BestModel(name, records[name]) if name is not None else None

    return Headline(segmentation, best(ModelTask.RFS), best(ModelTask.HPV))
