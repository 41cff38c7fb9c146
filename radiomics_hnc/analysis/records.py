"""``analysis/summary.json`` and the analysis settings: the light part of the analysis package
(the pipeline and the report read these without loading the statistics modules)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd
from pydantic import Field

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.mask_sources import run_suffix
from radiomics_hnc.records import RecordModel, WorkspaceRecord
from radiomics_hnc.segment.summary import SUMMARY_FILE  # the one spelling of a stage summary
from radiomics_hnc.workspace import Workspace

#: The analysis tables (``<name>.parquet``), see :mod:`radiomics_hnc.analysis.run`.
TABLES = ("association", "clusters", "centre_effect", "reproducibility")


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything the analysis can be told (the stage's fingerprint)."""

    alpha: float = 0.05  # false discovery rate at which q-values are called significant
    stratify_center: bool = False  # Cox strata / logistic intercept per centre
    resamples: int = 200  # bootstrap resamples of the C and AUC intervals (0: none)
    reproducibility_patients: int = 10  # re-extracted with perturbed masks (0: none)
    seed: int = 0


class SkippedFeature(RecordModel):
    feature: str
    reason: str


class TaskSummary(RecordModel):
    """Counts of one task's association analysis."""

    patients: int
    events: int
    significant: int  # q <= alpha
    volume_surrogates: int


class AnalysisSummary(WorkspaceRecord):
    """``analysis/summary.json``: how the analysis ran and what it found, in counts."""

    DESCRIPTION: ClassVar[str] = "feature analysis summary"

    features_folder: str
    settings: dict
    features: int
    skipped: list[SkippedFeature]
    tasks: dict[str, TaskSummary]
    perturbation: dict | None  # patients, failed, seconds_per_patient, variants
    mask_sources_compared: bool
    seconds: float
    findings: list[str] = Field(default_factory=list)  # what could not be done, and why

    @classmethod
    def rewrite_hint(cls, path: Path, raw: object) -> str:
        return f"rerun 'radiomics-hnc analyze {path.parent.parent}'"


def analysis_dir(workspace: str | Path, features_dir: str | Path) -> Path:
    """``WORKSPACE/analysis`` for ``features``, ``analysis_<suffix>`` for another folder."""
    return Workspace(workspace).root / f"analysis{run_suffix(features_dir)}"


def read_analysis(folder: str | Path) -> tuple[AnalysisSummary, dict[str, pd.DataFrame]] | None:
    """The summary and tables of an analysis folder (None when the analysis has not been
    run; an :class:`InputDataError` naming the file when one cannot be read)."""
    folder = Path(folder)
    if not (folder / SUMMARY_FILE).is_file():
        return None
    summary = AnalysisSummary.read(folder / SUMMARY_FILE)
    tables = {}
    for name in TABLES:
        path = folder / f"{name}.parquet"
        try:
            tables[name] = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputDataError(f"analysis table could not be read ({exc})", path=path,
                                 hint=AnalysisSummary.rewrite_hint(folder / SUMMARY_FILE, None)
                                 ) from exc
    return summary, tables

