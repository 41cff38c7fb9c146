"""Spec parameters checked when read, text ComBat covariates, and columns a table lacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.modeling import fit_run, predict_run, spec_from_dict
from radiomics_hnc.modeling.dataset import feature_columns, model_inputs
from radiomics_hnc.modeling.synthetic import synthetic_patients

CLI = "from radiomics_hnc.cli import main; main()"
FAST = {"n_bootstrap": 5}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_patients(n_patients=160, n_noise=5, seed=3)


def spec(**changes) -> dict:
    base = {"name": "t", "task": "rfs", "features": ["PT"], "estimator": "gbsa",
            "selection": {"method": "none"}, "validation": FAST}
    return {**base, **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"params": {"n_trees": 10}},
     r"params: unknown parameter\(s\) 'n_trees' of GradientBoostingSurvivalAnalysis; its "
     r"parameters: .*n_estimators"),
    ({"params": {"n_estimators": "many"}},
     r"params: The 'n_estimators' parameter of GradientBoostingSurvivalAnalysis must be an int"
     r".*Got 'many'"),
    ({"estimator": "xgb_cox", "params": {"learning_rate": "1e-2"}},  # YAML reads 1e-2 as text
     r"params\.learning_rate: expected float, got '1e-2'"),
    ({"task": "hpv", "estimator": "xgb_classifier", "params": {"max_depth": 2.5}},
     r"params\.max_depth: expected int or None, got 2\.5"),
    ({"tuning": {"grid": {"learning_rat": [0.1]}}},
     r"tuning\.grid: 'learning_rat' is not a parameter of the pipeline \(estimator parameters"
     r": .*learning_rate"),
    ({"tuning": {"grid": {"selct__k": [5]}}}, r"'selct__k' is not a parameter"),
    ({"selection": {"method": "univariate"}, "tuning": {"grid": {"select__k": [5, 0]}}},
     r"tuning\.grid\.select__k: The 'k' parameter of CoxScoreSelector must be an int in the "
     r"range \[1, inf\). Got 0"),
    ({"tuning": {"grid": {"max_depth": [2, "deep"]}}},
     r"tuning\.grid\.max_depth: The 'max_depth' parameter .* Got 'deep'"),
])
def test_estimator_params_and_grid_keys_are_checked_when_the_spec_is_read(changes, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(spec(**changes), "my_spec.yaml")


def test_good_params_and_grids_are_accepted():
    checked = spec_from_dict(spec(params={"n_estimators": 50, "learning_rate": 0.1},
                                  selection={"method": "univariate"},
                                  tuning={"grid": {"max_depth": [2, 3], "select__k": [5]}}))
    assert checked.params["n_estimators"] == 50
    spec_from_dict(spec(task="hpv", estimator="xgb_classifier",
                        params={"max_depth": 2, "learning_rate": 0.1, "random_state": 1}))


def test_cli_fit_with_a_bad_param_exits_1_naming_the_spec_file_and_key(tmp_path):
    path = tmp_path / "my_gbsa.yaml"
    path.write_text("name: g\ntask: rfs\nfeatures: [PT]\nestimator: gbsa\n"
                    "params: {n_estimators: many}\n")
    done = subprocess.run([sys.executable, "-c", CLI, "fit", "rfs", str(tmp_path), "--spec",
                           str(path)], capture_output=True, text=True, timeout=300)
    message = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stderr
    assert str(path) in message and "'n_estimators' parameter" in message and "an int" in message


def _with_sex(table: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return table.assign(sex=rng.choice(["F", "M"], len(table)))


def test_a_text_combat_covariate_is_used_and_recorded_for_prediction(tmp_path, table):
    data = _with_sex(table)
    model = spec_from_dict(spec(preprocessing={"combat_covariates": ["sex"]},
                                params={"n_estimators": 20}))
    run = fit_run(tmp_path, model, cv="kfold", table=data)
    meta = json.loads((run / "features.json").read_text())
    assert meta["covariate_columns"] == ["sex"] and meta["columns"][-1] == "sex"
    combat = __import__("radiomics_hnc.modeling.runs", fromlist=["load_model"]).load_model(
        run).named_steps["columns"].named_transformers_["combat"]
    assert combat.covariate_levels_ == {"sex": ["F", "M"]} and combat.covariate_coef_.shape[0] == 1
    assert predict_run(run, data)["risk"].notna().all()
    unknown = data.assign(sex=data["sex"].where(data.index != 4))
    with pytest.raises(InputDataError, match=rf"'sex' is missing for 1 of .*{data.patient_id[4]}"):
        predict_run(run, unknown)
    with pytest.raises(InputDataError, match="'sex' is missing"):
        fit_run(tmp_path, model, cv="kfold", table=unknown)


def test_a_text_predictor_is_refused_instead_of_becoming_missing(table):
    with pytest.raises(InputDataError, match=r"column 'sex' holds text that is not a number "
                       r"\(F, M\)"):
        model_inputs(_with_sex(table), ["age", "sex"])
    stages = model_inputs(table.assign(t_stage="T2"), ["t_stage"])  # stages are encoded
    assert (stages["t_stage"] == 2.0).all()


def test_a_missing_named_column_says_where_it_comes_from(table):
    without = table.drop(columns="hpv_status")
    with pytest.raises(InputDataError, match=r"lacks 1 column.*hpv_status.*'hpv_status' comes "
                       r"from the clinical table \(a column headed HPV Status, HPV, "
                       r".*HPV \(p16\).*p16 IHC.*rerun discover and extract.*"
                       r"remove it from 'columns'"):
        feature_columns(without, ["PT"], ["hpv_status"])
    with pytest.raises(InputDataError, match=r"hpv_status have no value for any patient.*"
                       r"comes from the clinical table"):
        feature_columns(table.assign(hpv_status=np.nan), ["PT"], ["hpv_status"])
    with pytest.raises(InputDataError, match=r"GTVp_PT_new come from feature extraction.*same "
                       r"feature configs"):
        feature_columns(table, ["PT"], ["GTVp_PT_new"])
    with pytest.raises(InputDataError, match=r"my_score is neither clinical nor extracted: add "
                       r"the column to the patients table"):
        feature_columns(table, ["PT"], ["my_score"])


def test_cli_fit_of_a_shipped_rfs_spec_without_hpv_says_what_to_add(tmp_path, table):
    from radiomics_hnc.io import write_parquet

    write_parquet(table.drop(columns="hpv_status"), tmp_path / "features" / "patients.parquet")
    done = subprocess.run([sys.executable, "-c", CLI, "fit", "rfs", str(tmp_path), "--spec",
                           "rfs_clinical_cox"], capture_output=True, text=True, timeout=300)
    message = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stderr
    assert "'hpv_status' comes from the clinical table" in message
    assert "same feature configs" not in message
