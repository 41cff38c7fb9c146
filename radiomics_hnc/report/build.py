"""Assemble the report: read the workspace, build each section, write HTML and CSV tables."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import jinja2

from radiomics_hnc import __version__
from radiomics_hnc.analysis.records import analysis_dir, read_analysis
from radiomics_hnc.harmonize import ComBat
from radiomics_hnc.io import atomic_path, write_csv
from radiomics_hnc.locks import lock_name, stage_lock
from radiomics_hnc.mask_sources import folder_source
from radiomics_hnc.report import figures, inputs
from radiomics_hnc.report.analysis import analysis_section
from radiomics_hnc.report.checklist import checklist_section
from radiomics_hnc.report.cohort import cohort_section
from radiomics_hnc.report.content import Section
from radiomics_hnc.report.external import external_sections
from radiomics_hnc.report.harmonisation import harmonisation_section
from radiomics_hnc.report.hpv import hpv_section
from radiomics_hnc.report.methods import MethodsInputs, methods_section
from radiomics_hnc.report.quality import quality_section
from radiomics_hnc.report.segmentation import segmentation_section
from radiomics_hnc.report.survival import survival_section
from radiomics_hnc.workspace import Workspace

log = logging.getLogger(__name__)

TEMPLATE = "index.html.j2"
REPORT_TITLE = "Head and neck cancer PET/CT radiomics report"


def template_environment() -> jinja2.Environment:
    """Jinja2 environment over the shipped templates, autoescaping every value."""
    folder = resources.files("radiomics_hnc.report_templates")

    def load(name: str) -> str | None:
        resource = folder.joinpath(name)
        return resource.read_text(encoding="utf-8") if resource.is_file() else None

    return jinja2.Environment(loader=jinja2.FunctionLoader(load), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def build_sections(workspace: str | Path, *, dpi: int = figures.DEFAULT_DPI,
                   seed: int = 0, features_dir: Path | None = None) -> list[Section]:
    """Every section whose inputs exist in the workspace, in reading order.

    The feature sections describe ``features_dir`` (default ``WORKSPACE/features``).
    """
    ws = Workspace(workspace)
    features_dir = features_dir or ws.features_dir
    manifest = inputs.read_manifest(ws)
    validation = inputs.read_validation(ws)
    excluded = set(validation.excluded) if validation else set()
    patients = inputs.read_patient_features(ws, features_dir)
    segmentation = inputs.read_segmentation(ws)
    runs = inputs.read_runs(ws)
    analysis = read_analysis(analysis_dir(ws.root, features_dir))
    candidates = [
        cohort_section(manifest, excluded, dpi, seed=seed) if manifest is not None else None,
        quality_section(validation, inputs.read_extraction_errors(ws, features_dir),
                        len(manifest) if manifest is not None else None),
        segmentation_section(segmentation, manifest, ws, dpi)
        if segmentation is not None else None,
        harmonisation_section(patients, dpi, seed=seed, combat=ComBat)
        if patients is not None and "center" in patients.columns else None,
        analysis_section(analysis, patients, dpi) if analysis is not None else None,
        survival_section(runs, manifest, patients, dpi),
        hpv_section(runs, manifest, dpi, seed=seed),
    ]
    sections = [s for s in candidates if s is not None]
    sections.extend(external_sections(ws.root, dpi, seed))
    sections.append(methods_section(MethodsInputs(
        manifest=manifest,
        manifest_provenance=inputs.file_provenance(ws.manifest_path),
        n_excluded=len(excluded),
        features=patients,
        features_provenance=inputs.file_provenance(features_dir / "patients.parquet"),
        features_source=source.describe() if (source := folder_source(features_dir)) else None,
        segmentation=segmentation is not None,
        runs=runs,
        present_sections=frozenset(s.id for s in sections),
        analysis=analysis,
    )))
    sections.append(checklist_section(ws.root, features_dir, sections))
    return sections


def render_html(sections: list[Section], workspace: str | Path) -> str:
    """The self-contained page (styles and figures embedded, every value escaped)."""
    template = template_environment().get_template(TEMPLATE)
    return template.render(
        title=REPORT_TITLE, workspace=Path(workspace).name, version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=sections,
    )


def build_report(workspace: str | Path, out_dir: str | Path | None = None, *,
                 dpi: int = figures.DEFAULT_DPI, seed: int = 0,
                 features_dir: str | Path | None = None) -> Path:
    """Build ``index.html`` and ``tables/*.csv`` from a workspace; return the HTML path.

    Parameters
    ----------
    workspace
        The workspace folder (needs at least ``manifest.parquet``).
    out_dir
        Output folder, by default ``WORKSPACE/report``.
    dpi
        Resolution of the embedded figures (dots per inch).
    seed
        Seed of every random step (bootstrap bands, Monte Carlo tests, fold assignment).
    features_dir
        Features folder the feature sections describe (default ``WORKSPACE/features``); the
        methods name its mask source.
    """
    ws = Workspace(workspace)
    ws.load_manifest()  # a clear error when the workspace has no manifest
    out = Path(out_dir) if out_dir is not None else ws.report_dir
    with stage_lock(ws.root, lock_name("report", out, ws.root)):
        sections = build_sections(ws.root, dpi=dpi, seed=seed,
                                  features_dir=Path(features_dir) if features_dir else None)
        for section in sections:
            for table in section.tables:
                write_csv(table.frame, out / "tables" / f"{table.name}.csv")
        html_path = out / "index.html"
        with atomic_path(html_path) as tmp:
            tmp.write_text(render_html(sections, ws.root), encoding="utf-8")
    log.info("report with %d sections written to %s", len(sections), html_path)
    return html_path
