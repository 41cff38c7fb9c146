"""The clinical statistics report: one self-contained HTML page plus the CSV tables behind it.

``build_report(workspace)`` reads the workspace files of every stage that was run (manifest,
validation, segmentation metrics, feature tables, model runs) and leaves out the sections
whose inputs are missing.
"""

from radiomics_hnc.report.build import build_report, build_sections, render_html

__all__ = ["build_report", "build_sections", "render_html"]
