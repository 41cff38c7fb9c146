"""One command from data to report: ordered stages, each skipped when it is up to date.

A stage is up to date when its outputs exist and the fingerprint of its inputs and settings
equals the one recorded when it last finished (``WORKSPACE/pipeline/<stage>.json``). A rerun
after a change therefore redoes only what changed, and a rerun after a crash resumes: a stage
that did not finish has no record, and the per-patient stages keep what they had written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from radiomics_hnc.analysis.records import SUMMARY_FILE as ANALYSIS_SUMMARY
from radiomics_hnc.analysis.records import AnalysisSummary, analysis_dir
from radiomics_hnc.choices import Backend, CVScheme, PipelineMasks
from radiomics_hnc.errors import ConfigError, RadiomicsHNCError
from radiomics_hnc.io import file_sha256, write_json
from radiomics_hnc.mask_sources import MaskSource, run_suffix
from radiomics_hnc.modeling.records import METRICS_FILE, RunRecord
from radiomics_hnc.records import WorkspaceRecord
from radiomics_hnc.resources import DEFAULT_HPV_SPECS, DEFAULT_RFS_SPECS, model_spec_path
from radiomics_hnc.segment.summary import SUMMARY_FILE, SegmentationSummary
from radiomics_hnc.validate import ValidationRecord
from radiomics_hnc.workspace import Workspace

log = logging.getLogger(__name__)

# Files larger than this are fingerprinted by their status (size, modification and change
# times) instead of content: hashing a whole imaging dataset on every rerun would cost minutes.
# A user can restore a file's mtime after rewriting it, never its ctime, so an image rewritten
# in place reruns the stages that read it (whose own caches then compare content).
CONTENT_HASH_LIMIT = 64 * 1024 * 1024


def file_fingerprint(path: Path) -> str:
    """Content hash of a workspace file, or its status for large files (see above)."""
    stat = path.stat()
    if stat.st_size <= CONTENT_HASH_LIMIT:
        return file_sha256(path)
    return _status(stat)


def _status(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def tree_fingerprint(root: Path) -> str:
    """Fingerprint of a folder tree from each file's relative path and status (see above)."""
    digest = hashlib.sha256()
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            digest.update(f"{path.relative_to(root)}|{_status(path.stat())}\n".encode())
    return digest.hexdigest()


@dataclass
class Stage:
    """One pipeline stage: what it reads, how it is set up, what it writes, how to run it."""

    name: str
    action: Callable[[], Any]
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: An optional stage (one model fit) that fails on the data is reported and skipped; the
    #: stages after it still run. A failure is not recorded, so the next run tries again, and
    #: its output files from an earlier run are removed: they no longer match the inputs.
    optional: bool = False
    #: Outputs that are workspace records: one that does not read (written by another version
    #: of the package, say) is not up to date, so the stage reruns and rewrites it.
    records: Mapping[Path, type[WorkspaceRecord]] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Hash of the stage name, its settings and the content of its inputs."""
        digest = hashlib.sha256(self.name.encode())
        digest.update(json.dumps(dict(self.settings), sort_keys=True, default=str).encode())
        for path in self.inputs:
            if path.is_dir():
                digest.update(f"{path}:{tree_fingerprint(path)}".encode())
            elif path.exists():
                digest.update(f"{path}:{file_fingerprint(path)}".encode())
            else:
                digest.update(f"{path}:absent".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class StageOutcome:
    """What happened to a stage in one run."""

    name: str
    status: str  # "ran", "up to date" or "failed"
    seconds: float
    result: Any = None  # what the stage's action returned
    error: str | None = None  # why a failed stage failed

    def describe(self) -> str:
        """The status, with the reason of a failure."""
        return f"failed: {self.error}" if self.status == "failed" else self.status


def run_stages(
    stages: Iterable[Stage], state_dir: Path, *, rerun: Iterable[str] = ()
) -> list[StageOutcome]:
    """Run each stage in order unless it is up to date (or named in ``rerun``); record each
    one as it finishes."""
    forced = set(rerun)
    outcomes = []
    state_dir.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        record_path = state_dir / f"{stage.name}.json"
        fingerprint = stage.fingerprint()
        if stage.name not in forced and _up_to_date(stage, record_path, fingerprint):
            log.info("stage %s is up to date", stage.name)
            outcomes.append(StageOutcome(stage.name, "up to date", 0.0))
            continue
        log.info("stage %s: running", stage.name)
        start = time.perf_counter()
        try:
            result = stage.action()
        except RadiomicsHNCError as error:
            if not stage.optional:
                raise
            log.error("stage %s failed and is skipped: %s", stage.name, error)
            for stale in (*stage.outputs, record_path):
                if stale.is_file():
                    stale.unlink()
            outcomes.append(StageOutcome(stage.name, "failed", time.perf_counter() - start,
                                         error=str(error)))
            continue
        seconds = time.perf_counter() - start
        write_json({
            "stage": stage.name,
            "fingerprint": fingerprint,
            "settings": dict(stage.settings),
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
        }, record_path)
        outcomes.append(StageOutcome(stage.name, "ran", seconds, result))
    return outcomes


def _up_to_date(stage: Stage, record_path: Path, fingerprint: str) -> bool:
    if not record_path.is_file() or not all(p.exists() for p in stage.outputs):
        return False
    for path, record in stage.records.items():
        if (problem := record.problem(path)) is not None:
            log.info("stage %s reruns: %s", stage.name, problem)
            return False
    try:
        recorded = json.loads(record_path.read_text())
    except (OSError, ValueError):  # a damaged stage record: run the stage again
        return False
    return isinstance(recorded, dict) and recorded.get("fingerprint") == fingerprint


# --- the stages of `radiomics-hnc run` ------------------------------------------------------
# Stage modules are imported inside the actions: the CLI starts without loading torch & co.

@dataclass
class PipelineSettings:
    """Everything `radiomics-hnc run` can be told; the defaults are the documented pipeline.

    The named choices (``masks``, ``backend``, ``cv``) are checked here, when the settings are
    made (:class:`ConfigError` listing the choices), not when a stage first uses them.
    """

    masks: PipelineMasks = PipelineMasks.GROUND_TRUTH  # features from which masks
    segment: bool = False  # train (unless segmenter_model), predict and evaluate WS/masks
    segmenter_spec: str = "seg_unet_light"
    segmenter_model: Path | None = None
    segmenter_minutes: float | None = None
    jobs: int = 1
    backend: Backend = Backend.LOKY
    scheduler: str | None = None
    cv: CVScheme = CVScheme.LOCO
    rfs_specs: tuple[str, ...] = DEFAULT_RFS_SPECS
    hpv_specs: tuple[str, ...] = DEFAULT_HPV_SPECS
    analyze: bool = True  # the feature analysis (radiomics-hnc analyze)
    analysis_patients: int = 0  # patients re-extracted with perturbed masks (ICC; 0: none)
    report: bool = True
    progress: bool = False

    def __post_init__(self) -> None:
        self.masks = PipelineMasks.parse(self.masks, "mask source")
        self.backend = Backend.parse(self.backend, "backend")
        self.cv = CVScheme.parse(self.cv, "validation scheme")


def pipeline_stages(data_dir: Path, workspace: Path, settings: PipelineSettings) -> list[Stage]:
    """The ordered stages for a dataset and workspace (nothing runs until :func:`run_stages`)."""
    ws = Workspace(workspace)
    stages = [
        Stage("discover", lambda: _discover(data_dir, ws.root), [ws.manifest_path], [data_dir]),
        # Stages that read images list the dataset as an input: a rewritten image changes
        # their fingerprint though the manifest (paths, geometry) stays the same.
        Stage("validate", lambda: _validate(ws.root, settings), [ws.validation_path],
              [ws.manifest_path, data_dir], records={ws.validation_path: ValidationRecord}),
    ]
    if settings.segment or settings.segmenter_model is not None:
        stages += _segmentation_stages(ws, settings)
    elif settings.masks != PipelineMasks.GROUND_TRUTH and not ws.masks_dir.is_dir():
        raise ConfigError(
            f"masks {str(settings.masks)!r} need predicted masks in {ws.masks_dir}",
            hint="add --segment to train and run the segmenter, --segmenter MODEL to run a "
            "trained one, or put your own <PID>.nii.gz label maps there",
        )
    sources = _feature_sources(ws, settings.masks)
    for source, features_dir in sources:
        suffix = run_suffix(features_dir)
        masks_input = [ws.masks_dir] if source == PipelineMasks.PREDICTED else []
        patients = features_dir / "patients.parquet"
        stages.append(Stage(
            f"extract{suffix}", _extract_action(ws.root, source, features_dir, settings),
            [patients], [ws.manifest_path, ws.validation_path, data_dir, *masks_input],
            {"masks": source},
        ))
        for task, names in (("rfs", settings.rfs_specs), ("hpv", settings.hpv_specs)):
            for name in names:
                path = model_spec_path(name)
                run_name = f"{path.stem}_{settings.cv}{suffix}"
                run_dir = ws.child(ws.runs_dir, run_name, f"run name of {path.name}")  # checked
                stages.append(Stage(  # before any stage runs, not after extraction
                    f"fit-{path.stem}{suffix}",
                    _fit_action(ws.root, path, settings.cv, features_dir, run_name),
                    [run_dir / METRICS_FILE], [patients, path],
                    {"cv": settings.cv, "task": task}, optional=True,
                    records={run_dir / METRICS_FILE: RunRecord},
                ))
    if settings.analyze:
        stages.append(_analysis_stage(ws, data_dir, sources, settings))
    if settings.report:
        report_features = sources[0][1]  # ground truth's when there are both
        stages.append(Stage(
            "report", lambda: _report(ws.root, report_features), [ws.report_dir / "index.html"],
            [ws.manifest_path, ws.validation_path, *(folder for _, folder in sources),
             ws.runs_dir, ws.segmentation_dir / SUMMARY_FILE, analysis_dir(ws.root,
                                                                           report_features)],
            {"features": report_features.name},
        ))
    return stages


def _analysis_stage(ws: Workspace, data_dir: Path, sources: list[tuple[str, Path]],
                    settings: PipelineSettings) -> Stage:
    """Feature analysis of the first features folder (ground truth's when there are both,
    compared with the predicted masks' features); with re-extraction, its images and masks
    are inputs too."""
    source, features_dir = sources[0]
    reextracted = [ws.manifest_path, data_dir, *(
        [ws.masks_dir] if source == PipelineMasks.PREDICTED else [])]
    summary = analysis_dir(ws.root, features_dir) / ANALYSIS_SUMMARY

    def analyze() -> Any:
        from radiomics_hnc.analysis import AnalysisSettings, analyze_workspace

        return analyze_workspace(ws.root, features_dir, AnalysisSettings(
            reproducibility_patients=settings.analysis_patients), jobs=settings.jobs,
            progress=settings.progress)

    return Stage("analyze", analyze, [summary],
                 [*(folder / "patients.parquet" for _, folder in sources),
                  *(reextracted if settings.analysis_patients > 0 else [])],
                 {"reproducibility_patients": settings.analysis_patients}, optional=True,
                 records={summary: AnalysisSummary})


def _segmentation_stages(ws: Workspace, settings: PipelineSettings) -> list[Stage]:
    stages = []
    model_dir = settings.segmenter_model or ws.segmenter_dir
    summary = ws.segmentation_dir / SUMMARY_FILE
    if settings.segmenter_model is None:
        spec = model_spec_path(settings.segmenter_spec)
        stages.append(Stage(
            "segment-train", lambda: _train(ws.root, spec, model_dir, settings),
            [model_dir / "best.pt", model_dir / "model.json"],
            [ws.manifest_path, ws.validation_path, spec],
            {"minutes": settings.segmenter_minutes},
        ))
    stages += [
        Stage("segment-predict",
              lambda: _predict(ws.root, model_dir, settings), [ws.masks_dir],
              [ws.manifest_path, ws.validation_path, model_dir / "best.pt"]),
        Stage("segment-evaluate", lambda: _evaluate(ws.root, model_dir, settings),
              [summary], [ws.masks_dir, ws.manifest_path, model_dir / "model.json"],
              records={summary: SegmentationSummary}),
    ]
    return stages


def _discover(data_dir: Path, workspace: Path) -> int:
    from radiomics_hnc.discover import discover

    return len(discover(data_dir, workspace))


def _validate(workspace: Path, settings: PipelineSettings) -> dict:
    from radiomics_hnc.validate import validate_workspace

    return validate_workspace(workspace, jobs=settings.jobs, progress=settings.progress).summary()


def _train(workspace: Path, spec: Path, model_dir: Path, settings: PipelineSettings) -> Any:
    from radiomics_hnc.segment import load_segmenter_spec, train_segmenter

    seg_spec = load_segmenter_spec(spec)
    if settings.segmenter_minutes is not None:
        seg_spec = seg_spec.model_copy(update={"training": seg_spec.training.model_copy(
            update={"time_limit_minutes": settings.segmenter_minutes})})
    return train_segmenter(workspace, seg_spec, model_dir, jobs=settings.jobs,
                           progress=settings.progress)


def _predict(workspace: Path, model_dir: Path, settings: PipelineSettings) -> Any:
    from radiomics_hnc.segment import predict_cohort

    return predict_cohort(workspace, model_dir, jobs=settings.jobs, progress=settings.progress)


def _evaluate(workspace: Path, model_dir: Path, settings: PipelineSettings) -> dict:
    from radiomics_hnc.segment import evaluate_masks

    return evaluate_masks(workspace, model_dir=model_dir, jobs=settings.jobs,
                          progress=settings.progress).summary


def _feature_sources(ws: Workspace, masks: PipelineMasks) -> list[tuple[str, Path]]:
    """(mask source, features folder) for each extraction to run: each source has its own
    folder (:mod:`radiomics_hnc.mask_sources`), ground truth's first."""
    names = ((PipelineMasks.GROUND_TRUTH, PipelineMasks.PREDICTED) if masks == PipelineMasks.BOTH
             else (masks,))
    return [(str(name), MaskSource(str(name)).default_features_dir(ws)) for name in names]


def _extract_action(workspace: Path, masks: str, out_dir: Path,
                    settings: PipelineSettings) -> Callable[[], Any]:
    def extract() -> Any:
        from radiomics_hnc.features import extract_features

        return extract_features(workspace, masks=masks, jobs=settings.jobs,
                                backend=settings.backend, scheduler=settings.scheduler,
                                progress=settings.progress, out_dir=out_dir)

    return extract


def _fit_action(workspace: Path, spec: Path, cv: CVScheme, features_dir: Path,
                name: str) -> Callable[[], Any]:
    def fit() -> Path:
        from radiomics_hnc.modeling import fit_run

        return fit_run(workspace, spec, cv=cv, name=name, features_dir=features_dir)

    return fit


def _report(workspace: Path, features_dir: Path) -> Path:
    from radiomics_hnc.report import build_report

    return build_report(workspace, features_dir=features_dir)


def run_pipeline(
    data_dir: str | Path,
    workspace: str | Path,
    settings: PipelineSettings | None = None,
    *,
    rerun: Iterable[str] = (),
) -> list[StageOutcome]:
    """Run discover, validate, (segment), extract, fit and report, skipping up-to-date stages.

    Parameters
    ----------
    data_dir
        The dataset folder in any HECKTOR layout.
    workspace
        The workspace folder (created if missing).
    settings
        What to run and how; defaults to :class:`PipelineSettings`.
    rerun
        Names of stages to rerun even when up to date.
    """
    settings = settings or PipelineSettings()
    workspace = Path(workspace)
    stages = pipeline_stages(Path(data_dir).expanduser().resolve(), workspace, settings)
    return run_stages(stages, workspace / "pipeline", rerun=rerun)
