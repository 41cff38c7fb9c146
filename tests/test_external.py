"""External validation of a frozen run (``validate-external``): generated cohorts with new
centres and a scanner shift, GBSG2 split by menopausal status against scikit-survival and
scikit-learn, nothing refitted, clear errors, the report section and the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score
from sksurv.compare import compare_survival
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
)
from sksurv.util import Surv

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import file_sha256, write_parquet
from radiomics_hnc.modeling import fit_run
from radiomics_hnc.modeling.external import (
    DECISION_CURVE_FILE,
    PREDICTIONS_FILE,
    RECORD_FILE,
    SHIFT_FILE,
    ExternalRecord,
    validate_external,
)
from radiomics_hnc.modeling.saved_model import MODEL_FILE
from radiomics_hnc.modeling.specs import spec_from_dict
from radiomics_hnc.modeling.synthetic import RFS_SIGNAL, synthetic_patients
from tests.test_security import cli

NEW_CENTRES = {"HMR": 0.5, "HUG": 0.5}  # neither is among the development centres


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A LOCO Cox run on one seed's five centres; external workspaces from another seed with
    two new centres, one with the development cohort's scanner spread, one with a 4x shift."""
    root = tmp_path_factory.mktemp("external")
    cohorts = {"dev": synthetic_patients(n_patients=300, n_noise=10, seed=0)}
    for name, strength in (("ext", 1.0), ("ext_strong", 4.0)):
        cohorts[name] = synthetic_patients(n_patients=120, n_noise=10, seed=5,
                                           centres=NEW_CENTRES, batch_strength=strength)
    for name, table in cohorts.items():
        table.attrs = {}  # the oracle arrays, not for parquet
        write_parquet(table, root / name / "features" / "patients.parquet")
    spec = spec_from_dict({"name": "cox", "task": "rfs", "features": ["PT", "CT"],
                           "estimator": "coxph", "selection": {"method": "univariate", "k": 5},
                           "validation": {"n_bootstrap": 100}})
    return root, fit_run(root / "dev", spec, cv="loco")


def _validate(generated, workspace: str, policy: str, **kwargs) -> ExternalRecord:
    root, run = generated
    out = validate_external(run, root / workspace, policy, root / workspace / policy, **kwargs)
    return ExternalRecord.read(out / RECORD_FILE)


@pytest.fixture(scope="module")
def strong_shift(generated) -> dict[str, ExternalRecord]:
    """The strongly shifted external cohort validated with ComBat estimating its centres and
    with pass-through."""
    return {policy: _validate(generated, "ext_strong", policy)
            for policy in ("estimate", "pass-through")}


def test_harmonised_external_c_index_lies_within_the_loco_interval(strong_shift):
    record = strong_shift["estimate"]
    internal = record.internal["c_index_fold_aware"]
    external = record.metrics["c_index"]
    assert record.harmonisation == "estimate" and record.unseen_centres == ["HMR", "HUG"]
    assert internal.ci_low <= external.estimate <= internal.ci_high
    assert np.isfinite(record.metrics["calibration_slope"].estimate)
    assert record.metrics["calibration_slope"].n_bootstrap >= 90
    assert not set(RFS_SIGNAL) & set(record.shift.flagged)  # ComBat removed the shift
    assert "inside the internal interval" in record.reading[0]


def test_without_harmonisation_a_strong_shift_is_flagged_and_the_c_index_drops(generated,
                                                                               strong_shift):
    harmonised, raw = strong_shift["estimate"], strong_shift["pass-through"]
    assert len(set(RFS_SIGNAL) & set(raw.shift.flagged)) >= 2
    assert raw.metrics["c_index"].estimate < harmonised.metrics["c_index"].estimate - 0.03
    assert raw.shift.max_abs_smd_model_input > 1.0 > harmonised.shift.max_abs_smd_model_input
    assert any("differ markedly" in sentence for sentence in raw.reading)
    shift = pd.read_parquet(generated[0] / "ext_strong" / "pass-through" / SHIFT_FILE)
    assert shift["importance_rank"].iloc[0] == 1  # most important input first


def test_refuse_policy_names_the_new_centres(generated):
    with pytest.raises(InputDataError, match=r"HMR, HUG were not seen.*--harmonisation "
                       "estimate"):
        _validate(generated, "ext", "refuse")


def test_missing_feature_columns_are_listed(generated):
    root, run = generated
    table = pd.read_parquet(root / "ext" / "features" / "patients.parquet")
    lacking = table.drop(columns=list(RFS_SIGNAL[:2]))
    with pytest.raises(InputDataError, match=f"external patients table: the table lacks 2 "
                       f"column.*{RFS_SIGNAL[0]}, {RFS_SIGNAL[1]}"):
        validate_external(run, root / "ext", out_dir=root / "ext" / "x", external_table=lacking)


def test_development_table_must_be_found_and_be_the_runs(generated, tmp_path):
    import shutil

    root, run = generated
    alone = shutil.copytree(run, tmp_path / "runs" / run.name)
    with pytest.raises(InputDataError, match=r"not beside the run.*--development-table"):
        validate_external(alone, root / "ext", out_dir=tmp_path / "out")
    other = root / "ext" / "features" / "patients.parquet"
    with pytest.raises(InputDataError, match="has 120 patients but the run was fitted on 300"):
        validate_external(alone, root / "ext", out_dir=tmp_path / "out",
                          development_table=other)


def test_nothing_is_refitted_on_the_external_outcomes(generated):
    """The model file is unchanged and permuting the outcomes changes no prediction."""
    root, run = generated
    before = file_sha256(run / MODEL_FILE)
    table = pd.read_parquet(root / "ext" / "features" / "patients.parquet")
    order = np.random.default_rng(0).permutation(len(table))
    shuffled = table.assign(relapse=table["relapse"].to_numpy()[order],
                            rfs_days=table["rfs_days"].to_numpy()[order])
    outs = [validate_external(run, root / "ext", out_dir=root / "ext" / name,
                              external_table=frame, n_bootstrap=0)
            for name, frame in (("plain", table), ("shuffled", shuffled))]
    plain, permuted = (pd.read_parquet(out / PREDICTIONS_FILE) for out in outs)
    scored = ["risk", "risk_group", "predicted_relapse_730d"]
    pd.testing.assert_frame_equal(plain[scored], permuted[scored])
    records = [ExternalRecord.read(out / RECORD_FILE) for out in outs]
    assert records[0].metrics["c_index"].estimate != records[1].metrics["c_index"].estimate
    assert file_sha256(run / MODEL_FILE) == before == records[0].model_sha256


def _gbsg2(task: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """GBSG2 as a patients table, split by menopausal status: pre (development), post
    (external); the 'hpv' task reads the relapse indicator as a binary outcome."""
    X, y = load_gbsg2()
    table = pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(len(X))], "age": X["age"],
        "estrec": X["estrec"], "pnodes": X["pnodes"], "progrec": X["progrec"],
        "tsize": X["tsize"], "horTh": (X["horTh"] == "yes").astype(float),
        "tgrade": X["tgrade"].map({"I": 1.0, "II": 2.0, "III": 3.0}).astype(float),
        "center": np.where(X["menostat"] == "Pre", "pre", "post"),
        "relapse": y["cens"].astype(int), "rfs_days": y["time"]})
    predictors = ["age", "estrec", "pnodes", "progrec", "tsize", "horTh", "tgrade"]
    if task == "hpv":
        table["hpv_status"] = table["relapse"]
        estimator = {"estimator": "elasticnet_logistic"}
    else:
        estimator = {"estimator": "coxph"}
    spec = {"name": f"gbsg2_{task}", "task": task, "columns": predictors, **estimator,
            "preprocessing": {"harmonize": False},
            "selection": {"method": "none", "correlation_threshold": None},
            "validation": {"cv": "kfold", "n_bootstrap": 50}}
    return table[table["center"] == "pre"], table[table["center"] == "post"], spec


def _gbsg2_validated(tmp_path, task: str):
    """GBSG2's development run fitted from its workspace and validated on the external half:
    (development table, external table, run folder, output folder)."""
    dev, ext, spec = _gbsg2(task)
    write_parquet(dev.reset_index(drop=True), tmp_path / "dev" / "features" / "patients.parquet")
    run = fit_run(tmp_path / "dev", spec_from_dict(spec))
    out = validate_external(run, tmp_path / "ext", external_table=ext.reset_index(drop=True),
                            out_dir=tmp_path / "out")
    return dev, ext, run, out


def test_gbsg2_rfs_figures_equal_scikit_survival_on_the_same_predictions(tmp_path):
    dev, ext, _, out = _gbsg2_validated(tmp_path, "rfs")
    record = ExternalRecord.read(out / RECORD_FILE)
    predictions = pd.read_parquet(out / PREDICTIONS_FILE)
    risk = predictions["risk"].to_numpy()
    y = Surv.from_arrays(ext["relapse"].astype(bool), ext["rfs_days"].astype(float))
    estimate = {key: value.estimate for key, value in record.metrics.items()}
    assert estimate["c_index"] == pytest.approx(
        concordance_index_censored(y["event"], y["time"], risk)[0])
    assert estimate["uno_c"] == pytest.approx(concordance_index_ipcw(y, y, risk, tau=1095)[0])
    for days in (365, 730, 1095):
        assert estimate[f"auc_{days}d"] == pytest.approx(
            cumulative_dynamic_auc(y, y, risk, [days])[0][0])
    predicted = predictions["predicted_relapse_730d"].to_numpy()
    lp = np.log(-np.log(1 - predicted))
    slope = CoxPHSurvivalAnalysis(ties="breslow").fit(lp[:, None], y).coef_[0]
    assert estimate["calibration_slope"] == pytest.approx(slope, rel=1e-4)
    assert record.survival_source == "model"
    high = risk > record.risk_cut
    assert record.log_rank_p == pytest.approx(compare_survival(y, high)[1])
    assert record.development.n_patients == len(dev) and record.harmonisation == "none"


def test_gbsg2_hpv_figures_equal_scikit_learn_at_the_frozen_threshold(tmp_path):
    _, ext, run, out = _gbsg2_validated(tmp_path, "hpv")
    record = ExternalRecord.read(out / RECORD_FILE)
    predictions = pd.read_parquet(out / PREDICTIONS_FILE)
    labels, p = ext["hpv_status"].to_numpy(), predictions["probability"].to_numpy()
    oof = pd.read_parquet(run / "oof_predictions.parquet")
    assert record.threshold == pytest.approx(oof["threshold"].median())
    estimate = {key: value.estimate for key, value in record.metrics.items()}
    assert estimate["roc_auc"] == pytest.approx(roc_auc_score(labels, p))
    assert estimate["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(labels, p >= record.threshold))
    assert estimate["brier"] == pytest.approx(brier_score_loss(labels, p))
    curve = pd.read_parquet(out / DECISION_CURVE_FILE).set_index("threshold")
    treated = p >= 0.3
    by_hand = (np.sum(treated & (labels == 1)) - np.sum(treated & (labels == 0)) * 0.3 / 0.7)
    assert curve.loc[0.3, "model"] == pytest.approx(by_hand / len(labels))


def test_report_section_and_command_line(generated, monkeypatch, capsys):
    from radiomics_hnc.report import build_sections

    root, run = generated
    code, output = cli(monkeypatch, capsys, "validate-external", str(run), str(root / "ext"),
                       "--harmonisation", "estimate")
    assert code == 0, output
    folder = root / "ext" / "external" / run.name
    page = (folder / "report.html").read_text()
    assert "External validation: cox_loco" in page and "TRIPOD+AI" in page
    assert (folder / "tables" / f"external_{run.name}_performance.csv").is_file()
    sections = {s.id: s for s in build_sections(root / "ext", dpi=40)}
    performance = sections[f"external-{run.name}"].tables[0].frame
    assert list(performance.columns) == ["Metric", "Internal (loco)", "External"]
    checklist = sections["checklist"].tables[0].frame.set_index("Item")
    assert checklist.loc["METRICS 27", "Shown in"].endswith(f"(#external-{run.name})")
    code, output = cli(monkeypatch, capsys, "validate-external", str(run), str(root / "ext"),
                       "--harmonisation", "refuse")
    assert code == 1 and "were not seen" in output


def test_opposite_centre_shifts_are_flagged_though_the_cohort_means_agree():
    from radiomics_hnc.modeling.shift import shift_table

    rng = np.random.default_rng(0)
    dev = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    ext = pd.DataFrame({"a": np.r_[rng.normal(2, 1, 30), rng.normal(-2, 1, 30)],
                        "b": rng.normal(size=60)})
    centres = np.repeat(["X", "Y"], 30)
    table = shift_table((dev, ext), (dev, ext), None, centres).set_index("feature")
    assert abs(table.loc["a", "smd_model_input"]) < 0.3  # the cohorts' means agree
    assert abs(table.loc["a", "smd_worst_centre"]) > 1.0 and "|SMD|" in table.loc["a", "flag"]
    assert table.loc["b", "flag"] == ""
    pooled_sd = np.sqrt((dev["b"].var() + ext["b"].var()) / 2)
    assert table.loc["b", "smd_raw"] == pytest.approx(
        (ext["b"].mean() - dev["b"].mean()) / pooled_sd)
