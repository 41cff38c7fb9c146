"""Workspace records (issue #15): each JSON file has one writer-owned layout, read through its
record; a file from an earlier version is a clear error naming the command that rewrites it;
one best-run rule; setting choices checked when they are made."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from radiomics_hnc.cli import app
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.io import write_json, write_parquet
from radiomics_hnc.modeling.records import RunRecord, best_run
from radiomics_hnc.modeling.synthetic import synthetic_patients
from radiomics_hnc.pipeline import PipelineSettings, Stage, run_stages
from radiomics_hnc.segment.summary import SegmentationSummary
from radiomics_hnc.validate import ValidationRecord
from tests.record_fixtures import estimate, run_record, scores, segmentation_summary

#: metrics.json as radiomics-hnc wrote it before the records (issue #14's layout).
OLD_METRICS = {
    "metrics": {"c_index_fold_aware": estimate(0.7), "c_index": estimate(0.68)},
    "headline": {"metric": "c_index_fold_aware", "definition": "within-centre C-index"},
    "folds": [], "fold_summary": {"metric": "c_index", "mean": 0.7, "sd": 0.1, "n_folds": 3,
                                  "n_scored": 3},
    "degenerate": None, "per_centre": {}, "pooled_centres": [], "task": "rfs", "cv": "loco",
    "spec": "rfs_coxnet", "n_patients": 40, "n_labelled": 38, "n_features_in": 5,
}
SPEC = ("name: base\ntask: rfs\nfeatures: [clinical]\nestimator: coxph\n"
        "preprocessing: {harmonize: false}\nselection: {method: none}\n"
        "validation: {n_bootstrap: 10}\n")


def test_a_metrics_file_from_an_earlier_version_names_the_command_that_rewrites_it(tmp_path):
    path = tmp_path / "ws" / "runs" / "rfs_coxnet_loco" / "metrics.json"
    write_json(OLD_METRICS, path)
    with pytest.raises(InputDataError) as caught:
        RunRecord.read(path)
    message = str(caught.value)
    assert str(path) in message and "written by an earlier version of radiomics-hnc" in message
    assert (f"'radiomics-hnc fit rfs {tmp_path / 'ws'} --spec rfs_coxnet --cv loco --name "
            "rfs_coxnet_loco'") in message


def test_old_and_newer_files_of_every_record_are_refused_clearly(tmp_path):
    ws = tmp_path / "ws"
    write_json({"overall": {}, "by_center": {}}, ws / "segmentation" / "summary.json")
    with pytest.raises(InputDataError, match=r"summary\.json: the segmentation summary .* "
                       r"earlier version.*rerun 'radiomics-hnc segment evaluate"):
        SegmentationSummary.read(ws / "segmentation" / "summary.json")
    write_json({"findings": [], "excluded": []}, ws / "validation.json")
    with pytest.raises(InputDataError, match=rf"earlier version.*Fix: rerun 'radiomics-hnc "
                       rf"validate {ws}'"):
        ValidationRecord.read(ws / "validation.json")
    newer = json.loads(run_record("s", "rfs", "loco", {"c_index_fold_aware": estimate(0.7)})
                       .model_dump_json())
    write_json({**newer, "schema_version": 99}, ws / "runs" / "s" / "metrics.json")
    with pytest.raises(InputDataError, match=r"later version .*schema_version 99.*Fix: upgrade "
                       r"radiomics-hnc, or refit"):
        RunRecord.read(ws / "runs" / "s" / "metrics.json")
    write_json({**newer, "per_centre": {}}, ws / "runs" / "s" / "metrics.json")
    with pytest.raises(InputDataError, match=r"does not have the expected layout.*per_centre"):
        RunRecord.read(ws / "runs" / "s" / "metrics.json")


def test_report_on_a_workspace_from_an_earlier_version_exits_1_naming_the_file(tmp_path):
    from tests.test_report import make_workspace

    ws = make_workspace(tmp_path, segmentation=False, features=False)
    old = ws / "runs" / "rfs_xgb_cox_loco" / "metrics.json"
    write_json(OLD_METRICS, old)
    result = CliRunner().invoke(app, ["report", str(ws)])
    assert result.exit_code == 1 and isinstance(result.exception, InputDataError)
    assert str(old) in str(result.exception) and "radiomics-hnc fit" in str(result.exception)


def test_a_record_that_does_not_read_makes_its_stage_rerun(tmp_path):
    path = tmp_path / "runs" / "r" / "metrics.json"
    record = run_record("r", "rfs", "loco", {"c_index_fold_aware": estimate(0.7)})
    stage = Stage("fit-r", lambda: record.write(path), [path], records={path: RunRecord})
    assert [o.status for o in run_stages([stage], tmp_path / "state")] == ["ran"]
    assert [o.status for o in run_stages([stage], tmp_path / "state")] == ["up to date"]
    write_json(OLD_METRICS, path)  # the same run folder as an earlier version wrote it
    assert [o.status for o in run_stages([stage], tmp_path / "state")] == ["ran"]
    assert RunRecord.read(path) == record


def test_records_read_back_what_was_written(tmp_path):
    record = run_record("r", "hpv", "kfold", {"roc_auc_fold_aware": estimate(float("nan"))},
                        by_center={"A": {"n": 3, "positives": 1, "negatives": 2,
                                         "roc_auc": estimate(0.5), "few_events": True,
                                         "note": None}})
    again = RunRecord.read(record.write(tmp_path / "a.json"))
    again.write(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    written = json.loads((tmp_path / "a.json").read_text())
    assert written["schema_version"] == 1 and "features" not in written  # unset stays out
    summary = segmentation_summary(scores(0.8), {"A": scores(0.8)}, not_trained_on=None,
                                   segmenter="segmenter")
    assert json.loads(summary.write(tmp_path / "s.json").read_text())["not_trained_on"] is None
    assert SegmentationSummary.read(tmp_path / "s.json").headline().includes_training_patients


def _runs(**entries: tuple[str, float]) -> dict[str, RunRecord]:
    return {name: run_record(name, "rfs", cv, {"c_index_fold_aware": estimate(value)})
            for name, (cv, value) in entries.items()}


def test_the_best_run_is_the_most_centre_aware_scored_run_with_the_highest_figure():
    runs = _runs(kfold_high=("kfold", 0.9), holdout=("holdout", 0.8), loco_low=("loco", 0.6),
                 loco_high=("loco", 0.7), loco_nan=("loco", float("nan")))
    assert best_run(runs, "rfs") == "loco_high"
    del runs["loco_low"], runs["loco_high"]
    assert best_run(runs, "rfs") == "holdout"  # then a held-out centre, then k-fold
    runs["holdout"] = runs["holdout"].model_copy(update={"degenerate": {
        "folds": ["A"], "reason": "fold A: constant predictions"}})
    assert best_run(runs, "rfs") == "kfold_high"
    assert best_run(runs, "hpv") is None
    assert best_run(_runs(b=("loco", 0.7), a=("loco", 0.7)), "rfs") == "a"  # ties: first name


def test_run_with_an_unknown_cv_fails_at_once_listing_the_choices(tmp_path):
    code = ("import sys\nfrom radiomics_hnc.cli import main\n"
            f"sys.argv = ['radiomics-hnc', 'run', {str(tmp_path)!r}, '-w', "
            f"{str(tmp_path / 'ws')!r}, '--cv', 'typo']\n"
            "try:\n    main()\nfinally:\n"
            "    print([m for m in ('pandas', 'sklearn', 'torch', 'SimpleITK') "
            "if m in sys.modules])\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    elapsed = time.perf_counter() - start
    assert done.returncode == 1, done.stderr
    assert "'typo' is not one of 'loco', 'holdout', 'kfold'" in done.stderr
    assert done.stdout.strip() == "[]"  # refused before any stage library is loaded
    assert elapsed < 10  # about 0.2 s on an idle machine
    assert not (tmp_path / "ws").exists()


def test_settings_check_their_choices_when_made():
    with pytest.raises(ConfigError, match=r"unknown validation scheme 'typo'.*loco, holdout, "
                                          "kfold"):
        PipelineSettings(cv="typo")
    with pytest.raises(ConfigError, match="unknown mask source 'Predicted'"):
        PipelineSettings(masks="Predicted")
    assert PipelineSettings(cv="kfold", backend="dask").cv.rank == 2


def test_renamed_spec_keys_are_still_read_with_a_warning(caplog):
    from radiomics_hnc.modeling import spec_from_dict

    spec = spec_from_dict({"name": "s", "task": "rfs", "columns": ["age"], "estimator": "coxph",
                           "validation": {"min_centre_size": 30, "min_centre_events": 3}})
    assert (spec.validation.min_center_size, spec.validation.min_center_events) == (30, 3)
    assert "validation.min_centre_size is deprecated: spell it min_center_size" in caplog.text
    with pytest.raises(ConfigError, match="min_centre_size and min_center_size are the same"):
        spec_from_dict({"name": "s", "task": "rfs", "columns": ["age"], "estimator": "coxph",
                        "validation": {"min_centre_size": 30, "min_center_size": 30}})


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return synthetic_patients(n_patients=90, n_noise=2, seed=4)


def _fit_cli(ws: Path, table: pd.DataFrame, *options: str):
    write_parquet(table, ws / "features" / "patients.parquet")
    (ws / "spec.yaml").write_text(SPEC)
    return CliRunner().invoke(app, ["fit", "rfs", str(ws), *options])


def test_fit_takes_spec_and_the_old_model_spelling_with_a_warning(tmp_path, patients):
    old = _fit_cli(tmp_path, patients, "-m", str(tmp_path / "spec.yaml"), "--cv", "kfold")
    assert old.exit_code == 0, old.output
    assert "warning: --model is deprecated, use --spec" in old.output
    assert RunRecord.read(tmp_path / "runs" / "base_kfold" / "metrics.json").cv == "kfold"
    both = _fit_cli(tmp_path, patients, "--spec", "x.yaml", "--model", "y.yaml")
    assert both.exit_code == 1 and "--model and --spec are the same option" in str(
        both.exception)
    missing = _fit_cli(tmp_path, patients)
    assert missing.exit_code == 1 and "fit needs a model spec" in str(missing.exception)


@pytest.mark.parametrize("cv", ["kfold", "loco"])
def test_fit_without_any_known_outcome_says_so_before_splitting(tmp_path, patients, cv):
    unlabelled = patients.assign(relapse=np.nan)
    result = _fit_cli(tmp_path, unlabelled, "--spec", str(tmp_path / "spec.yaml"), "--cv", cv)
    assert result.exit_code == 1, result.output  # was a bare sklearn ValueError / "found []"
    assert isinstance(result.exception, InputDataError)
    assert "no patient has a known RFS (relapse and rfs_days > 0)" in str(result.exception)


def test_demo_and_run_print_why_a_stage_failed(tmp_path, monkeypatch):
    import radiomics_hnc.demo as demo_module
    from radiomics_hnc.headline import Headline
    from radiomics_hnc.pipeline import StageOutcome

    failed = StageOutcome("fit-hpv_xgb", "failed", 1.0,
                          error="too few labelled patients to validate hpv")
    truth = tmp_path / "demo" / "cohort" / "ground_truth"
    truth.mkdir(parents=True)
    (truth / "oracle.json").write_text('{"c_index": 0.7, "hpv_auc": 0.9}')
    monkeypatch.setattr(demo_module, "run_stages", lambda *args, **kwargs: [])
    monkeypatch.setattr(demo_module, "run_pipeline", lambda *args, **kwargs: [failed])
    monkeypatch.setattr(demo_module, "headline", lambda workspace: Headline(None, None, None))
    monkeypatch.setattr(demo_module, "oracle_within_centre",
                        lambda truth_dir: {"c_index": 0.8, "hpv_auc": 0.95})
    result = CliRunner().invoke(app, ["demo", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "failed: too few labelled patients to validate hpv" in output
    assert "None" not in output


def test_run_takes_the_old_force_stage_spelling_with_a_warning(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    both = CliRunner().invoke(app, ["run", str(empty), "-w", str(tmp_path / "ws"), "--force",
                                    "discover", "--rerun", "discover"])
    assert both.exit_code == 1 and "--force STAGE and --rerun are the same option" in str(
        both.exception)
    old = CliRunner().invoke(app, ["run", str(empty), "-w", str(tmp_path / "ws"), "--force",
                                   "discover"])
    assert "warning: --force STAGE is deprecated, use --rerun" in old.output
    assert isinstance(old.exception, InputDataError)  # then discover finds no patient
