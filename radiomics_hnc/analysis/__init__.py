"""Interpretable feature analysis: which features carry signal, which are only volume, which
are redundant, which are stable, which are centre artefacts (``radiomics-hnc analyze``).

The names below are imported on first use: reading the summary record
(``analysis.records``) does not load the statistics modules.
"""

from radiomics_hnc.lazy import lazy_attributes

_MODULES = {
    "AnalysisSettings": "records",
    "AnalysisSummary": "records",
    "analysis_dir": "records",
    "analyze_table": "run",
    "analyze_workspace": "run",
    "read_analysis": "records",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_attributes(__name__, _MODULES)
