"""The ``analyze`` stage: read a features folder, write ``WORKSPACE/analysis/`` (docs/design.md).

Tables (one row per feature, or per task and feature):

- ``association.parquet``: RFS and HPV association, volume adjustment and relation
  (:mod:`radiomics_hnc.analysis.association`);
- ``clusters.parquet``: redundancy clusters and representatives
  (:mod:`radiomics_hnc.analysis.redundancy`);
- ``centre_effect.parquet``: Kruskal-Wallis across centres, raw and after ComBat
  (:mod:`radiomics_hnc.analysis.centre`);
- ``reproducibility.parquet``: ICC(2,1) under mask perturbation and between mask sources
  (:mod:`radiomics_hnc.analysis.reproducibility`);
- ``summary.json``: the :class:`AnalysisSummary` record (settings, counts, timings).

Features analysed: the numeric scoped columns of ``patients.parquet`` that vary and are present
for at least :data:`MIN_PRESENT_FRACTION` of the patients; the others are listed in the summary
with the reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from radiomics_hnc.analysis.association import hpv_association, rfs_association
from radiomics_hnc.analysis.centre import centre_effect
from radiomics_hnc.analysis.records import (
    SUMMARY_FILE,
    TABLES,
    AnalysisSettings,
    AnalysisSummary,
    SkippedFeature,
    TaskSummary,
    analysis_dir,
)
from radiomics_hnc.analysis.redundancy import cluster_table
from radiomics_hnc.analysis.reproducibility import (
    mask_source_icc,
    perturbation_icc,
    recorded_extraction,
    reproducibility_table,
)
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import provenance, write_parquet
from radiomics_hnc.locks import lock_name, stage_lock
from radiomics_hnc.mask_sources import DEFAULT_FOLDERS, PREDICTED
from radiomics_hnc.workspace import Workspace, is_patient_feature

log = logging.getLogger(__name__)

#: A feature present for fewer patients than this fraction is not analysed.
MIN_PRESENT_FRACTION = 0.5
#: Fewest patients with a known outcome for an association analysis of that task.
MIN_PATIENTS = 10


def analysable_features(patients: pd.DataFrame) -> tuple[list[str], list[SkippedFeature]]:
    """The scoped feature columns to analyse, and the others with the reason."""
    kept, skipped = [], []
    for name in (c for c in patients.columns if is_patient_feature(c)):
        values = pd.to_numeric(patients[name], errors="coerce").astype(float)
        present = values.notna().mean() if len(values) else 0.0
        if present < MIN_PRESENT_FRACTION:
            skipped.append(SkippedFeature(feature=name, reason=f"present for {present:.0%} of "
                                          f"patients (< {MIN_PRESENT_FRACTION:.0%})"))
        elif values.nunique() < 2:
            skipped.append(SkippedFeature(feature=name, reason="constant"))
        else:
            kept.append(name)
    return kept, skipped


def association_table(patients: pd.DataFrame, features: list[str],
                      settings: AnalysisSettings) -> pd.DataFrame:
    """RFS and HPV association rows of every feature (a task with too few patients is left
    out, with a log line)."""
    parts = []
    for task, columns, run in (("rfs", ["rfs_days", "relapse"], rfs_association),
                               ("hpv", ["hpv_status"], hpv_association)):
        known = (patients[columns].notna().all(axis=1) if set(columns) <= set(patients)
                 else pd.Series(False, index=patients.index))
        if known.sum() < MIN_PATIENTS:
            log.warning("%s association left out: %d patients with a known outcome (fewer "
                        "than %d)", task, known.sum(), MIN_PATIENTS)
            continue
        parts.append(run(patients, features, settings))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def analyze_table(patients: pd.DataFrame, settings: AnalysisSettings,
                  reproducibility: list[pd.DataFrame] = ()) -> dict[str, pd.DataFrame]:
    """Every analysis table of a patients table (no re-extraction: ``reproducibility`` holds
    ICC tables already computed)."""
    features, _ = analysable_features(patients)
    if not features:
        raise InputDataError("no feature column to analyse (numeric, varying, present for "
                             f"at least {MIN_PRESENT_FRACTION:.0%} of patients)",
                             hint="run 'radiomics-hnc extract' first")
    association = association_table(patients, features, settings)
    stability = reproducibility_table(features, list(reproducibility))
    best_q = (association.groupby("feature")["q"].min() if len(association)
              else pd.Series(dtype=float))
    clusters, _ = cluster_table(patients[features], best_q,
                                stability.set_index("feature").get("icc_perturbation"))
    centre = (centre_effect(patients, features) if "center" in patients
              and patients["center"].nunique() > 1 else pd.DataFrame({"feature": features}))
    return {"association": association, "clusters": clusters, "centre_effect": centre,
            "reproducibility": stability}


def analyze_workspace(workspace: str | Path, features_dir: str | Path | None = None,
                      settings: AnalysisSettings | None = None, *, jobs: int = 1,
                      progress: bool = False) -> AnalysisSummary:
    """Analyse ``features_dir/patients.parquet`` and write the analysis folder.

    Parameters
    ----------
    workspace
        The workspace folder.
    features_dir
        Features folder (default ``WORKSPACE/features``).
    settings
        See :class:`AnalysisSettings`.
    jobs
        Parallel patients of the perturbation re-extraction.
    """
    start = time.perf_counter()
    ws = Workspace(workspace)
    settings = settings or AnalysisSettings()
    features_dir = Path(features_dir) if features_dir else ws.features_dir
    table_path = features_dir / "patients.parquet"
    if not table_path.is_file():
        raise InputDataError("no patients table to analyse", path=table_path,
                             hint="run 'radiomics-hnc extract' (or choose --features)")
    patients = pd.read_parquet(table_path)
    out = analysis_dir(ws.root, features_dir)
    with stage_lock(ws.root, lock_name("analyze", out, ws.root)):
        icc_parts, findings = [], []
        perturbation = _perturbation(ws, features_dir, patients, settings, out, icc_parts,
                                     findings, jobs=jobs, progress=progress)
        predicted = ws.root / DEFAULT_FOLDERS[PREDICTED] / "patients.parquet"
        compare = features_dir.name != DEFAULT_FOLDERS[PREDICTED] and predicted.is_file()
        if compare:
            icc_parts.append(mask_source_icc(patients, pd.read_parquet(predicted)))
        tables = analyze_table(patients, settings, icc_parts)
        record = provenance(features=str(table_path), settings=asdict(settings))
        for name in TABLES:
            write_parquet(tables[name], out / f"{name}.parquet", record)
        summary = _summary(patients, tables, settings, features_dir, perturbation, compare,
                           time.perf_counter() - start)
        summary.findings = findings  # what could not be done, for the report
        summary.write(out / SUMMARY_FILE)
    log.info("feature analysis written to %s", out)
    return summary


def _perturbation(ws: Workspace, features_dir: Path, patients: pd.DataFrame,
                  settings: AnalysisSettings, out: Path, icc_parts: list[pd.DataFrame],
                  findings: list[str], *, jobs: int, progress: bool) -> dict | None:
    """Run the mask-perturbation ICC when asked and possible (its table appended to
    ``icc_parts``); when it cannot run, say why in ``findings`` rather than skip silently."""
    if settings.reproducibility_patients <= 0:
        return None
    try:
        if not ws.manifest_path.is_file():
            raise InputDataError("no manifest to find the images in", path=ws.manifest_path,
                                 hint="run 'radiomics-hnc discover' first")
        extraction = recorded_extraction(features_dir)
    except InputDataError as exc:
        findings.append(f"mask-perturbation ICC not computed: {exc}")
        log.warning("%s", findings[-1])
        return None
    part, perturbation = perturbation_icc(
        ws.root, extraction, list(patients["patient_id"]), settings.reproducibility_patients,
        out, seed=settings.seed, jobs=jobs, progress=progress)
    icc_parts.append(part)
    return perturbation


def _summary(patients: pd.DataFrame, tables: dict[str, pd.DataFrame],
             settings: AnalysisSettings, features_dir: Path, perturbation: dict | None,
             compared: bool, seconds: float) -> AnalysisSummary:
    _, skipped = analysable_features(patients)
    association = tables["association"]
    tasks = {}
    for task, rows in association.groupby("task") if len(association) else []:
        significant = rows["q"] <= settings.alpha
        tasks[str(task)] = TaskSummary(
            patients=int(rows["n"].max()), events=int(rows["events"].max()),
            significant=int(significant.sum()),
            volume_surrogates=int((rows["volume_relation"] == "volume surrogate").sum()))
    return AnalysisSummary(
        features_folder=Path(features_dir).name, settings=asdict(settings),
        features=len(tables["clusters"]), skipped=skipped, tasks=tasks,
        perturbation=perturbation, mask_sources_compared=compared,
        seconds=round(seconds, 2))
