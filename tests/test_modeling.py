"""Model specs, leakage-free pipelines, metric helpers, run folders and the fit/predict CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc
from typer.testing import CliRunner

from radiomics_hnc.cli import app
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.io import write_parquet
from radiomics_hnc.modeling import (
    build_pipeline,
    fit_run,
    load_model,
    load_spec,
    predict_run,
    spec_from_dict,
)
from radiomics_hnc.modeling.dataset import (
    feature_columns,
    hpv_target,
    model_inputs,
    survival_target,
)
from radiomics_hnc.modeling.estimators import build_estimator
from radiomics_hnc.modeling.metrics import calibration, harrell_c, hpv_metrics, time_auc
from radiomics_hnc.modeling.pipeline import cox_score_statistic
from radiomics_hnc.modeling.records import OOF_COLUMNS, RunRecord
from radiomics_hnc.modeling.synthetic import HPV_SIGNAL, RFS_SIGNAL, synthetic_patients
from radiomics_hnc.modeling.validation import make_splits, oof_rfs, pooled, survival_grid

MODELS = Path(__file__).resolve().parents[1] / "models"
FAST = {"n_bootstrap": 20}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_patients(n_patients=240, n_noise=20, seed=1)


def rfs_spec(**changes) -> dict:
    spec = {"name": "t_rfs", "task": "rfs", "features": ["clinical", "PT", "CT"],
            "estimator": "xgb_cox", "params": {"n_estimators": 40},
            "selection": {"method": "univariate", "k": 5}, "validation": FAST}
    spec.update(changes)
    return spec


def test_every_shipped_spec_validates():
    names = [load_spec(p).name for p in sorted(MODELS.glob("[rh][fp][sv]_*.yaml"))]
    assert {"rfs_clinical_cox", "rfs_xgb_cox", "hpv_xgb", "hpv_elasticnet"} <= set(names)


def test_spec_rejects_unknown_keys_and_wrong_estimator():
    with pytest.raises(ConfigError, match=r"selection\.top_k: Extra inputs are not permitted"):
        spec_from_dict(rfs_spec(selection={"top_k": 3}))
    with pytest.raises(ConfigError, match="'xgb_classifier' is for task 'hpv'"):
        spec_from_dict(rfs_spec(estimator="xgb_classifier"))


def test_feature_sets_select_by_modality_token(table):
    pt = feature_columns(table, ["PT"])
    assert pt and all(c.split("_")[1] == "PT" for c in pt)
    clinical = feature_columns(table, ["clinical"])
    assert "age" in clinical and not {"relapse", "rfs_days", "hpv_status"} & set(clinical)


def test_named_columns_add_to_the_sets_or_stand_alone(tmp_path, table):
    assert feature_columns(table, ["clinical"], ["GTVp_MASK_volume_ml", "age"]) == [
        *feature_columns(table, ["clinical"]), "GTVp_MASK_volume_ml"]
    named = ["age", "tobacco", "GTVp_MASK_volume_ml"]
    spec = spec_from_dict({"name": "t_named", "task": "hpv", "columns": named,
                           "estimator": "elasticnet_logistic",
                           "preprocessing": {"harmonize": False},
                           "selection": {"method": "none"}, "validation": FAST})
    run = fit_run(tmp_path, spec, table=table)
    assert json.loads((run / "features.json").read_text())["columns"] == named
    metrics = json.loads((run / "metrics.json").read_text())  # LOCO: AUC within centre
    assert metrics["headline"]["metric"] == "roc_auc_fold_aware"
    assert np.isfinite(metrics["metrics"]["roc_auc_fold_aware"]["estimate"])
    labelled = table[table["hpv_status"].notna()]
    assert set(metrics["by_center"]) == set(labelled["center"])
    assert sum(c["n"] for c in metrics["by_center"].values()) == metrics["n_labelled"]
    assert "named columns: age, tobacco, GTVp_MASK_volume_ml" in (run / "model_card.md").read_text()
    with pytest.raises(InputDataError, match=r"lacks 1 column.*GTVp_MASK_colour"):
        fit_run(tmp_path, spec.model_copy(update={"columns": [*named, "GTVp_MASK_colour"]}),
                table=table)
    with pytest.raises(ConfigError, match="a spec needs predictors"):
        spec_from_dict({"name": "t_none", "task": "hpv", "estimator": "elasticnet_logistic"})
    with pytest.raises(ConfigError, match="hpv_status cannot be a predictor of a hpv model"):
        spec_from_dict({"name": "t_leak", "task": "hpv", "columns": ["age", "hpv_status"],
                        "estimator": "elasticnet_logistic"})
    with pytest.raises(ConfigError, match="age named twice"):
        spec_from_dict({"name": "t_twice", "task": "hpv", "columns": ["age", "age"],
                        "estimator": "elasticnet_logistic"})


def test_combat_harmonises_image_features_only(table):
    """A named clinical or covariate column passes through; only scoped image features are
    harmonised (ComBat would otherwise erase real differences between centres' patients)."""
    spec = spec_from_dict(rfs_spec(features=[], columns=["age", "hpv_status", "GTVp_PT_suv_SUVmax"],
                                   preprocessing={"combat_covariates": ["hpv_status"]},
                                   selection={"method": "none"}))
    columns = feature_columns(table, [], spec.columns)
    pipeline = build_pipeline(spec, columns)
    front = pipeline.named_steps["columns"]
    assert dict((name, cols) for name, _, cols in front.transformers)["combat"] == [
        "GTVp_PT_suv_SUVmax", "center", "hpv_status"]
    X = model_inputs(table, columns).assign(hpv_status=lambda f: f["hpv_status"].fillna(0))
    fitted = pipeline[:1].fit(X, survival_target(table)[0])
    assert set(fitted.get_feature_names_out()) == {"GTVp_PT_suv_SUVmax", "age", "hpv_status"}


def test_yeo_johnson_scaling_makes_a_skewed_feature_symmetric(table):
    spec = spec_from_dict({"name": "t_yj", "task": "hpv", "features": ["MASK"],
                           "estimator": "elasticnet_logistic",
                           "preprocessing": {"harmonize": False, "scale": "yeo-johnson"},
                           "selection": {"method": "none", "correlation_threshold": None}})
    columns = feature_columns(table, ["MASK"])
    skewed = table[columns].copy()
    skewed[columns[0]] = np.exp(skewed[columns[0]] / skewed[columns[0]].std())  # log-normal
    pipeline = build_pipeline(spec, columns)
    transformed = pipeline[:-1].fit_transform(skewed.assign(center=table["center"]))
    values = transformed[:, 0]
    assert abs(pd.Series(values).skew()) < 0.3 < abs(skewed[columns[0]].skew())
    assert abs(values.mean()) < 1e-6 and values.std() == pytest.approx(1.0, abs=1e-3)


def test_cox_score_statistic_matches_direct_risk_set_sums():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    time = rng.permutation(np.arange(1, 41)).astype(float)  # no ties
    event = rng.uniform(size=40) < 0.7
    y = np.array(list(zip(event, time, strict=True)), dtype=[("e", bool), ("t", float)])
    expected = []
    for j in range(3):
        score = info = 0.0
        for i in np.flatnonzero(event):
            risk = X[time >= time[i], j]
            score += X[i, j] - risk.mean()
            info += risk.var()
        expected.append(score**2 / info)
    np.testing.assert_allclose(cox_score_statistic(X, y), expected, rtol=1e-10)


def test_metric_helpers_agree_with_sksurv_and_sklearn():
    X, y = load_gbsg2()
    y = y.astype([("relapse", bool), ("rfs_days", float)])
    risk = X["tsize"].to_numpy(float) + X["pnodes"].to_numpy(float)
    assert harrell_c(y, risk) == concordance_index_censored(y["relapse"], y["rfs_days"], risk)[0]
    assert time_auc(y, y, risk, 730.0) == pytest.approx(
        cumulative_dynamic_auc(y, y, risk, [730.0])[0][0])
    rng = np.random.default_rng(0)
    p = rng.uniform(size=500)
    labels = (rng.uniform(size=500) < p).astype(int)
    metrics = hpv_metrics(labels, p, (p > 0.5).astype(int))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, p))
    intercept, slope = calibration(labels, p)
    assert abs(intercept) < 0.25 and 0.7 < slope < 1.3  # well calibrated by construction


def test_within_centre_c_compares_only_patients_scored_by_the_same_model():
    from sksurv.util import Surv

    from radiomics_hnc.modeling.metrics import within_centre_c

    days = np.array([100.0, 200, 300, 400, 1100, 1200, 1300, 1400])
    y = Surv.from_arrays(np.ones(8, dtype=bool), days, "relapse", "rfs_days")
    risk = np.array([4.0, 3, 2, 1, 104, 103, 102, 101])  # B's fold model scores 100 higher
    centres = np.array(["A"] * 4 + ["B"] * 4)
    assert within_centre_c(y, risk, centres) == 1.0  # perfect within each centre
    assert harrell_c(y, risk) < 0.5  # pooled C punishes the scale difference between folds
    assert within_centre_c(y, risk, np.array(["A"] * 8)) == pytest.approx(harrell_c(y, risk))


def test_within_centre_auc_weights_each_centre_by_its_pairs():
    from radiomics_hnc.modeling.metrics import within_centre_auc

    y = np.array([0, 1, 1, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9, 0.65])  # B's model has a higher baseline
    centres = np.array(["A"] * 3 + ["B"] * 5)
    # A: 2 pairs, both right; B: 6 pairs, 5 right (0.65 ranks below 0.7)
    assert within_centre_auc(y, p, centres) == pytest.approx((2 * 1.0 + 6 * 5 / 6) / 8)
    assert within_centre_auc(y, p, np.array(["A"] * 8)) == pytest.approx(roc_auc_score(y, p))
    assert np.isnan(within_centre_auc(y[1:3], p[1:3], centres[1:3]))  # one class: no pair


def test_xgb_survival_risk_is_higher_for_earlier_relapse():
    X, y = load_gbsg2()
    Xn = X.select_dtypes("number").to_numpy()
    for name in ("xgb_cox", "xgb_aft"):
        model = build_estimator(name, {"n_estimators": 30}).fit(Xn, y)
        assert model.score(Xn, y) > 0.65


def _rfs_plan(table, spec, scheme: str):
    """Predictor columns, model inputs, target, labelled mask, strata and splits of a spec."""
    columns = feature_columns(table, spec.features)
    X = model_inputs(table, columns)
    y, known = survival_target(table)
    strata = y["relapse"].astype(int)
    plan = make_splits(scheme, X["center"].to_numpy(), strata, spec.validation, "rfs")
    return columns, X, y, known, strata, plan


def test_pipeline_oof_equals_refitting_by_hand_in_each_fold(table):
    spec = spec_from_dict(rfs_spec())
    columns, X, y, known, strata, plan = _rfs_plan(table, spec, "loco")
    folds = oof_rfs(build_pipeline(spec, columns), X, y, plan, strata)
    risk = pooled(folds, len(X))
    by_hand = np.zeros(len(X))
    for split in plan.splits:
        train, test = X.iloc[split.train], X.iloc[split.test]
        steps = clone(build_pipeline(spec, columns)).steps
        Z = train
        for _, step in steps[:-1]:
            Z = step.fit_transform(Z, y[split.train]) if step != "passthrough" else Z
        model = steps[-1][1].fit(Z, y[split.train])
        T = test
        for _, step in steps[:-1]:
            T = step.transform(T) if step != "passthrough" else T
        by_hand[split.test] = model.predict(T)
    np.testing.assert_allclose(risk, by_hand, rtol=1e-6)
    assert known.all()


def test_survival_grid_comes_from_the_training_fold_only(table):
    """Moving the test patients' relapse times leaves each fold's time grid as it was."""
    spec = spec_from_dict(rfs_spec(estimator="coxph", params={}, features=["clinical"],
                                   preprocessing={"harmonize": False},
                                   selection={"method": "none"}))
    columns, X, y, _, strata, plan = _rfs_plan(table, spec, "kfold")
    folds = oof_rfs(build_pipeline(spec, columns), X, y, plan, strata)
    test = plan.splits[0].test
    moved = y.copy()
    moved["rfs_days"][test] = moved["rfs_days"][test] * 0.5 + 1.0
    again = oof_rfs(build_pipeline(spec, columns), X, moved, plan, strata)
    np.testing.assert_array_equal(folds[0].grid, again[0].grid)
    np.testing.assert_array_equal(folds[0].grid, survival_grid(y[plan.splits[0].train]))
    assert not np.array_equal(folds[0].grid, survival_grid(y))
    assert folds[0].survival.shape == (len(test), len(folds[0].grid))


def test_a_training_fold_with_one_class_is_a_clear_error():
    from radiomics_hnc.modeling.specs import Validation

    centres = np.array(["A"] * 6 + ["B"] * 6)
    status = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1])  # without B, A has no negatives
    with pytest.raises(InputDataError, match=r"fold B hold 0/6 HPV-negative/positive"):
        make_splits("loco", centres, status, Validation(min_center_size=2), "hpv")


def test_loco_pools_small_centres_and_says_so(table):
    spec = spec_from_dict(rfs_spec(validation={"min_center_size": 40, **FAST}))
    centres = table["center"].to_numpy()
    plan = make_splits("loco", centres, table["relapse"].to_numpy(), spec.validation, "rfs")
    small = [c for c in np.unique(centres) if (centres == c).sum() < 40]
    assert small and plan.pooled_centres == small
    assert plan.splits[-1].label == "pooled:" + "+".join(small)


def test_fit_run_writes_everything_and_predict_checks_columns(tmp_path, table):
    run = fit_run(tmp_path, spec_from_dict(rfs_spec()), table=table)
    expected = {"model.skops", "spec.yaml", "features.json", "versions.json", "metrics.json",
                "oof_predictions.parquet", "importance.parquet", "model_card.md"}
    assert expected <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cv"] == "loco" and set(metrics["by_center"]) == set(table["center"])
    c = metrics["metrics"]["c_index"]
    assert c["ci_low"] <= c["estimate"] <= c["ci_high"] and c["estimate"] > 0.6
    within = metrics["metrics"]["c_index_fold_aware"]
    assert within["ci_low"] <= within["estimate"] <= within["ci_high"] and within["estimate"] > 0.6
    importance = pd.read_parquet(run / "importance.parquet")
    assert importance.loc[0, "feature"].startswith("GTV") and importance["method"][0] == (
        "mean_abs_shap")
    predicted = predict_run(run, table)
    oof = pd.read_parquet(run / "oof_predictions.parquet")
    assert len(predicted) == len(oof) == len(table)
    assert set(OOF_COLUMNS["rfs"]) <= set(oof.columns)  # what the report reads
    record = RunRecord.read(run / "metrics.json")  # the file is exactly the record's layout
    assert record.write(tmp_path / "again.json").read_text() == (run / "metrics.json").read_text()
    with pytest.raises(InputDataError, match=r"lacks 1 column.*GTVp_PT_suv_SUVmax"):
        predict_run(run, table.drop(columns="GTVp_PT_suv_SUVmax"))


def test_a_centre_without_comparable_pairs_gets_nan_per_centre_c(tmp_path, table):
    small = table.copy()
    rows = small.index[small["center"] == "MDA"]
    small.loc[rows, "relapse"] = 0
    small.loc[small.loc[rows, "rfs_days"].idxmax(), "relapse"] = 1  # only the last one relapses
    spec = spec_from_dict(rfs_spec(estimator="coxph", params={}, features=["clinical"],
                                   preprocessing={"harmonize": False},
                                   selection={"method": "none"}))
    with warnings.catch_warnings():  # sksurv's 0/0 warning is filtered where it arises
        warnings.simplefilter("error", RuntimeWarning)
        run = fit_run(tmp_path, spec, table=small)
    per_centre = json.loads((run / "metrics.json").read_text())["by_center"]
    assert np.isnan(per_centre["MDA"]["c_index"]["estimate"])
    assert per_centre["MDA"]["note"].startswith("no comparable pairs")
    assert np.isfinite(per_centre["CHUM"]["c_index"]["estimate"])
    assert per_centre["CHUM"]["note"] is None
    only_last = np.array([(False, 10.0), (False, 20.0), (True, 30.0)],
                         dtype=[("relapse", bool), ("rfs_days", float)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert np.isnan(harrell_c(only_last, np.array([0.1, 0.2, 0.3])))


def test_hpv_run_predicts_unknown_status_patients(tmp_path, table):
    spec = spec_from_dict({"name": "t_hpv", "task": "hpv", "features": ["PT", "MASK"],
                           "estimator": "elasticnet_logistic",
                           "tuning": {"grid": {"C": [0.1, 1.0]}, "budget": 2},
                           "validation": {"cv": "kfold", **FAST}})
    run = fit_run(tmp_path, spec, table=table)
    oof = pd.read_parquet(run / "oof_predictions.parquet")
    unknown = table["hpv_status"].isna().to_numpy()
    assert unknown.any() and oof["probability"][unknown].notna().all()
    assert set(OOF_COLUMNS["hpv"]) <= set(oof.columns)  # what the report reads
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["roc_auc"]["estimate"] > 0.7
    assert set(metrics) >= {"balanced_accuracy", "sensitivity", "specificity", "brier",
                            "calibration_intercept", "calibration_slope"}


def _cli_fit(workspace: Path, table: pd.DataFrame, spec_yaml: str, *options: str,
             quiet: bool = False):
    """``radiomics-hnc [--quiet] fit rfs WORKSPACE --spec SPEC [options]`` on ``table``."""
    write_parquet(table, workspace / "features" / "patients.parquet")
    spec = workspace / "spec.yaml"
    spec.write_text(spec_yaml)
    return spec, CliRunner().invoke(app, [*(["--quiet"] if quiet else []), "fit", "rfs",
                                          str(workspace), "--spec", str(spec), *options])


def test_cli_fit_and_predict(tmp_path, table):
    spec, result = _cli_fit(tmp_path, table,
                            "name: base\ntask: rfs\nfeatures: [clinical]\nestimator: coxph\n"
                            "preprocessing: {harmonize: false}\nselection: {method: none}\n"
                            "validation: {n_bootstrap: 10}\n", "--cv", "holdout", "--name",
                            "baseline")
    runner = CliRunner()
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "baseline"
    out = tmp_path / "pred.parquet"
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "features" /
                                                          "patients.parquet"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["risk"].notna().all()
    wrong = runner.invoke(app, ["fit", "hpv", str(tmp_path), "--spec", str(spec)])
    assert wrong.exit_code != 0 and "is a rfs model" in str(wrong.exception)


def test_combat_covariates_are_preserved_inputs_not_outputs(table):
    spec = spec_from_dict(rfs_spec(features=["PT"], preprocessing={"combat_covariates": ["age"]},
                                   selection={"method": "none"}))
    columns = feature_columns(table, ["PT"])
    pipeline = build_pipeline(spec, columns).fit(model_inputs(table, [*columns, "age"]),
                                                 survival_target(table)[0])
    names = list(pipeline[:-1].get_feature_names_out())
    assert "age" not in names and names[0].startswith("GTV")


def test_load_model_refuses_untrusted_types(tmp_path):
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from radiomics_hnc.modeling.runs import MODEL_FILE, load_model

    sio.dump(FunctionTransformer(func=os.system), tmp_path / MODEL_FILE)
    with pytest.raises(InputDataError, match=r"never writes: posix\.system"):
        load_model(tmp_path)


@pytest.fixture(scope="module")
def small_cohort() -> pd.DataFrame:
    """120 patients with 21 relapses: the size of one hospital's study."""
    return synthetic_patients(n_patients=120, n_noise=20, seed=0, baseline_days=7000)


def test_no_shipped_spec_predicts_one_constant_risk_on_a_small_cohort(tmp_path, small_cohort):
    assert small_cohort["relapse"].sum() == 21
    for path in sorted(MODELS.glob("[rh][fp][sv]_*.yaml")):
        spec = load_spec(path)
        spec.validation.n_bootstrap = 0
        run = fit_run(tmp_path, spec, table=small_cohort)
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["degenerate"] is None, (spec.name, metrics["folds"])
        headline = metrics["metrics"][metrics["headline"]["metric"]]["estimate"]
        assert np.isfinite(headline), spec.name
        if spec.name == "rfs_rsf":  # the final forest's trees split
            nodes = [tree.tree_.node_count for tree in load_model(run)[-1].estimators_]
            assert np.median(nodes) >= 7


def test_a_model_that_cannot_split_is_reported_degenerate_not_scored(tmp_path, small_cohort):
    _, result = _cli_fit(tmp_path, small_cohort,
                         "name: stump\ntask: rfs\nfeatures: [clinical, PT]\nestimator: rsf\n"
                         "params: {n_estimators: 10, min_samples_leaf: 500}\n"
                         "validation: {n_bootstrap: 10}\n", "--name", "stump", quiet=True)
    assert result.exit_code == 0, result.output
    assert "degenerate, not scored (fold CHUM: constant predictions" in result.output
    run = tmp_path / "runs" / "stump"
    metrics = json.loads((run / "metrics.json").read_text())
    labels = [fold["fold"] for fold in metrics["folds"]]
    assert metrics["degenerate"]["folds"] == labels
    assert all(fold["degenerate"] == "constant predictions" for fold in metrics["folds"])
    assert all(np.isnan(m["estimate"]) for m in metrics["metrics"].values())
    assert all(np.isnan(c["c_index"]["estimate"]) for c in metrics["by_center"].values())
    assert "Not scored: degenerate model" in (run / "model_card.md").read_text()


def test_fold_aware_c_is_the_mean_of_per_fold_c_under_kfold(tmp_path, small_cohort):
    spec = spec_from_dict(rfs_spec(validation={"cv": "kfold", "n_repeats": 2, **FAST}))
    run = fit_run(tmp_path, spec, table=small_cohort)
    metrics = json.loads((run / "metrics.json").read_text())
    oof = pd.read_parquet(run / "oof_predictions.parquet")
    per_fold = [fold["c_index"] for fold in metrics["folds"]]
    assert len(per_fold) == 10  # 5 folds x 2 repeats, each its own model
    fold_aware = metrics["metrics"]["c_index_fold_aware"]
    assert fold_aware["estimate"] == pytest.approx(np.mean(per_fold))
    assert metrics["fold_summary"]["sd"] == pytest.approx(np.std(per_fold, ddof=1))
    assert metrics["metrics"]["c_index"]["estimate"] == pytest.approx(
        harrell_c(survival_target(small_cohort)[0], oof["risk"].to_numpy()))
    assert "headline" in (run / "model_card.md").read_text().lower()


def test_a_baseline_with_mostly_missing_inputs_says_so(tmp_path, small_cohort):
    sparse = small_cohort.copy()
    sparse[["gender", "tobacco", "performance_status", "treatment", "t_stage"]] = np.nan
    spec = spec_from_dict(rfs_spec(estimator="coxph", params={}, features=["clinical"],
                                   preprocessing={"harmonize": False},
                                   selection={"method": "none"}))
    run = fit_run(tmp_path, spec, table=sparse)
    inputs = json.loads((run / "metrics.json").read_text())["inputs"]
    assert inputs["n_inputs"] == 8 and inputs["n_usable"] == 2  # age and n_stage
    assert inputs["constant"] == ["m_stage"]
    assert inputs["warning"].startswith("only 2 of 8 inputs usable: 5 missing for more than "
                                        "half of the patients (gender, tobacco")
    assert "warning: only 2 of 8 inputs usable" in (run / "model_card.md").read_text()
    complete = json.loads((fit_run(tmp_path, spec, table=small_cohort, name="complete")
                           / "metrics.json").read_text())["inputs"]
    assert complete["warning"] is None and complete["n_usable"] == 7


def test_coxnet_chooses_its_penalty_by_inner_cross_validation():
    table = synthetic_patients(n_patients=300, n_noise=40, seed=2)
    columns = feature_columns(table, ["PT", "CT", "MASK"])
    X = StandardScaler().fit_transform(model_inputs(table, columns)[columns].fillna(0.0))
    y, _ = survival_target(table)
    model = clone(build_estimator("coxnet", {"l1_ratio": 0.9})).fit(X, y)
    mean = np.nanmean(model.cv_scores_, axis=0)
    assert model.alpha_ == model.alphas_[np.argmax(mean)]
    assert model.alpha_ > model.alphas_[-1]  # not the least penalised end of the path
    np.testing.assert_allclose(model.predict(X), X @ model.coef_)
    assert 0 < np.count_nonzero(model.coef_) < len(columns) / 2


def test_model_based_selection_keeps_signal_not_noise():
    """Noise makes 70 % of the RFS candidates (79 % of HPV's); the top 40 at the least
    penalised end of the path kept 25-30 noise columns, the one-SE lasso (Cox or logistic)
    keeps the signal and at most one noise column."""
    table = synthetic_patients(n_patients=300, n_noise=40, seed=0)
    spec = spec_from_dict(rfs_spec(features=["clinical", "PT", "CT", "RTDOSE", "MASK"],
                                   columns=["hpv_status"], estimator="coxnet", params={},
                                   selection={"method": "model", "k": 40,
                                              "correlation_threshold": 0.9}))
    columns = feature_columns(table, spec.features, spec.columns)
    y, _ = survival_target(table)
    selected = build_pipeline(spec, columns)[:-1].fit(model_inputs(table, columns), y)
    names = list(selected.get_feature_names_out())
    assert sum("Noise" in c for c in columns) / len(columns) == pytest.approx(0.7, abs=0.01)
    assert set(RFS_SIGNAL) <= set(names)
    assert sum("Noise" in c for c in names) <= 1
    hpv = spec_from_dict({"name": "t_hpv_model", "task": "hpv", "features": ["PT", "CT", "MASK"],
                          "estimator": "elasticnet_logistic",
                          "selection": {"method": "model", "k": 40}})
    columns = feature_columns(table, hpv.features)
    status, known = hpv_target(table)
    selected = build_pipeline(hpv, columns)[:-1].fit(model_inputs(table, columns)[known],
                                                     status[known])
    names = list(selected.get_feature_names_out())
    assert sum("Noise" in c for c in columns) / len(columns) > 0.75
    assert set(HPV_SIGNAL) <= set(names) and sum("Noise" in c for c in names) <= 1


def test_fold_aware_c_equals_scikit_survival_on_the_same_folds_of_a_users_table(tmp_path):
    """GBSG2 passed in as a user's own feature table: the run's per-fold and fold-aware C
    equal a scikit-survival Cox model fitted and scored directly on the same folds."""
    X, y = load_gbsg2()
    predictors = pd.DataFrame({
        "age": X["age"], "estrec": X["estrec"], "pnodes": X["pnodes"], "progrec": X["progrec"],
        "tsize": X["tsize"], "horTh": (X["horTh"] == "yes").astype(float),
        "menostat": (X["menostat"] == "Post").astype(float),
        "tgrade": X["tgrade"].map({"I": 1.0, "II": 2.0, "III": 3.0}).astype(float)})
    table = predictors.assign(patient_id=[f"P{i}" for i in range(len(X))], center="GBSG",
                              relapse=y["cens"].astype(int), rfs_days=y["time"])
    spec = spec_from_dict({"name": "gbsg2_cox", "task": "rfs", "columns": list(predictors),
                           "estimator": "coxph", "preprocessing": {"harmonize": False},
                           "selection": {"method": "none", "correlation_threshold": None},
                           "validation": {"cv": "kfold", "n_bootstrap": 0}})
    metrics = json.loads((fit_run(tmp_path, spec, table=table) / "metrics.json").read_text())
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=1, random_state=0)
    direct = []
    for train, test in folds.split(predictors, y["cens"]):
        cox = make_pipeline(StandardScaler(), CoxPHSurvivalAnalysis(alpha=0.1, ties="efron"))
        risk = cox.fit(predictors.iloc[train], y[train]).predict(predictors.iloc[test])
        direct.append(concordance_index_censored(y["cens"][test], y["time"][test], risk)[0])
    assert [f["n_test"] for f in metrics["folds"]] == [len(t) for _, t in folds.split(
        predictors, y["cens"])]
    np.testing.assert_allclose([f["c_index"] for f in metrics["folds"]], direct, atol=1e-6)
    assert metrics["metrics"]["c_index_fold_aware"]["estimate"] == pytest.approx(
        np.mean(direct), abs=0.01)
