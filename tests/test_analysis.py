"""Feature analysis (radiomics-hnc analyze): statistics against libraries called directly and
textbook values, known truth from the generator, the command and the report section."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from radiomics_hnc.analysis import AnalysisSettings, AnalysisSummary, analyze_table
from radiomics_hnc.analysis.association import (
    bh_qvalues,
    hpv_association,
    rfs_association,
    standardise,
)
from radiomics_hnc.analysis.centre import kruskal_wallis
from radiomics_hnc.analysis.concordance import class_pair_index, concordance, survival_pair_index
from radiomics_hnc.analysis.cox import fit_cox
from radiomics_hnc.analysis.icc import icc
from radiomics_hnc.analysis.logistic import fit_logistic
from radiomics_hnc.analysis.reproducibility import feature_class, perturbed_labels
from radiomics_hnc.cli import app
from tests.analysis_fixtures import (
    ENCODES_TRUTH,
    NOISE_PREFIX,
    VOLUME_TIMES_NOISE,
    known_truth_table,
)
from tests.test_cli import run_cli


def _survival_data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[:12, 1] = np.nan  # missing values: complete cases per feature
    risk = 0.6 * x[:, 0]
    time = np.ceil(rng.exponential(np.exp(-risk)) * 40)  # whole days: tied times
    censor = np.ceil(rng.exponential(1.5, size=n) * 40)
    event = time <= censor
    return x, np.minimum(time, censor), event, rng.integers(0, 4, n).astype(str), rng.normal(
        size=n)


@pytest.mark.parametrize("stratified", [False, True])
def test_cox_estimates_match_statsmodels_phreg_and_scikit_survival(stratified):
    x, time, event, centres, covariate = _survival_data()
    strata = centres if stratified else None
    plain = fit_cox(x, time, event, strata=strata)
    adjusted = fit_cox(x, time, event, covariate=np.repeat(covariate[:, None], 3, 1),
                       strata=strata)
    for k in range(3):
        ok = np.isfinite(x[:, k])
        reference = PHReg(time[ok], x[ok, k:k + 1], status=event[ok].astype(int),
                          ties="breslow", strata=None if strata is None else strata[ok]).fit()
        assert plain.coef[k] == pytest.approx(reference.params[0], rel=1e-6)
        assert plain.se[k] == pytest.approx(reference.bse[0], rel=1e-6)
        assert plain.wald_p[k] == pytest.approx(reference.pvalues[0], rel=1e-5)
        assert plain.loglik[k] == pytest.approx(reference.llf, rel=1e-9)
        null = PHReg(time[ok], x[ok, k:k + 1], status=event[ok].astype(int), ties="breslow",
                     strata=None if strata is None else strata[ok]).loglike(np.zeros(1))
        assert plain.lr_p[k] == pytest.approx(stats.chi2.sf(2 * (reference.llf - null), 1),
                                              rel=1e-5)
        both = PHReg(time[ok], np.c_[x[ok, k], covariate[ok]], status=event[ok].astype(int),
                     ties="breslow", strata=None if strata is None else strata[ok]).fit()
        assert adjusted.coef[k] == pytest.approx(both.params[0], rel=1e-6)
        assert adjusted.wald_p[k] == pytest.approx(both.pvalues[0], rel=1e-5)
        if not stratified:
            sksurv = CoxPHSurvivalAnalysis(alpha=0, ties="breslow").fit(
                x[ok, k:k + 1], Surv.from_arrays(event[ok], time[ok]))
            assert plain.coef[k] == pytest.approx(sksurv.coef_[0], rel=1e-5)
    assert (plain.n == [240, 228, 240]).all() and plain.converged.all()


@pytest.mark.parametrize("stratified", [False, True])
def test_logistic_estimates_match_statsmodels_logit(stratified):
    x, _, _, centres, covariate = _survival_data()
    x = standardise(pd.DataFrame(x))  # per SD, as the analysis fits them
    rng = np.random.default_rng(4)
    status = (rng.random(len(x)) < 1 / (1 + np.exp(-0.8 * np.nan_to_num(x[:, 0])))).astype(float)
    groups = centres if stratified else None
    plain = fit_logistic(x, status, groups)
    adjusted = fit_logistic(x, status, groups, covariate=np.repeat(covariate[:, None], 3, 1))
    for k in range(3):
        ok = np.isfinite(x[:, k])
        base = (pd.get_dummies(centres[ok], dtype=float).to_numpy() if stratified
                else np.ones((ok.sum(), 1)))
        reference = sm.Logit(status[ok], np.c_[base, x[ok, k]]).fit(disp=0)
        null = sm.Logit(status[ok], base).fit(disp=0)
        assert plain.coef[k] == pytest.approx(reference.params[-1], rel=1e-6)
        assert plain.se[k] == pytest.approx(reference.bse[-1], rel=1e-6)
        assert plain.wald_p[k] == pytest.approx(reference.pvalues[-1], rel=1e-5)
        assert plain.lr_p[k] == pytest.approx(stats.chi2.sf(2 * (reference.llf - null.llf), 1),
                                              rel=1e-5)
        both = sm.Logit(status[ok], np.c_[base, covariate[ok], x[ok, k]]).fit(disp=0)
        assert adjusted.coef[k] == pytest.approx(both.params[-1], rel=1e-6)
        assert adjusted.wald_p[k] == pytest.approx(both.pvalues[-1], rel=1e-5)
    half = rng.integers(1, 4, len(x) // 2).astype(float)
    centred = np.r_[half, -half]  # sums to exactly 0, as a standardised feature can
    reference = sm.Logit(status, np.c_[np.ones(len(x)), centred]).fit(disp=0)
    assert fit_logistic(centred[:, None], status).coef[0] == pytest.approx(
        reference.params[-1], rel=1e-6)
    separating = fit_logistic(np.c_[np.arange(40.0)], (np.arange(40) >= 20).astype(float))
    assert not separating.converged[0] and np.isnan(separating.coef[0])


def test_kruskal_wallis_of_every_feature_matches_scipy():
    rng = np.random.default_rng(5)
    centres = pd.Series(rng.choice(list("ABCD"), 200))
    values = pd.DataFrame(np.round(rng.normal(size=(200, 3)), 1))  # ties
    values.iloc[:15, 1] = np.nan
    values[2] += (centres == "A") * 1.5
    found = kruskal_wallis(values, centres)
    for k in range(3):
        ok = values[k].notna()
        reference = stats.kruskal(*[values[k][ok & (centres == c)] for c in "ABCD"])
        assert found.loc[k, "h"] == pytest.approx(reference.statistic, rel=1e-9)
        assert found.loc[k, "p"] == pytest.approx(reference.pvalue, rel=1e-6)
    assert found.loc[2, "eta2"] > 0.05 > found.loc[0, "eta2"]


def test_a_feature_with_events_only_at_one_end_is_reported_not_converged():
    time = np.arange(1.0, 41.0)
    event = np.ones(40, dtype=bool)
    separated = -time  # every earlier event has the larger value: monotone likelihood
    fits = fit_cox(np.c_[separated, np.random.default_rng(0).normal(size=40)], time, event)
    assert not fits.converged[0] and np.isnan(fits.coef[0])
    assert fits.converged[1] and np.isfinite(fits.coef[1])


def test_concordance_matches_scikit_survival_and_scikit_learn():
    x, time, event, centres, _ = _survival_data()
    x = np.round(x, 1)  # tied values count one half
    found = concordance(x, survival_pair_index(time, event), resamples=100, seed=1)
    status = x[:, 2] > 0.3
    auc = concordance(x[:, :2], class_pair_index(status), resamples=0)
    for k in range(3):
        ok = np.isfinite(x[:, k])
        assert found.estimate[k] == pytest.approx(
            concordance_index_censored(event[ok], time[ok], x[ok, k])[0], rel=1e-6)
        assert found.ci_low[k] < found.estimate[k] < found.ci_high[k]
    for k in range(2):
        ok = np.isfinite(x[:, k])
        assert auc.estimate[k] == pytest.approx(roc_auc_score(status[ok], x[ok, k]), rel=1e-6)
    within = concordance(x[:, :1], survival_pair_index(time, event, centres), resamples=0)
    by_centre = [concordance_index_censored(event[centres == c], time[centres == c],
                                            x[centres == c, 0]) for c in np.unique(centres)]
    pooled = sum(r[1] + 0.5 * r[3] for r in by_centre) / sum(r[1] + r[2] + r[3]
                                                             for r in by_centre)
    assert within.estimate[0] == pytest.approx(pooled, rel=1e-6)


def test_qvalues_match_statsmodels_benjamini_hochberg_and_keep_missing_p_values():
    p = np.array([0.001, 0.2, np.nan, 0.04, 0.03, 0.5, 0.012])
    ok = np.isfinite(p)
    q = bh_qvalues(p)
    assert np.isnan(q[2])
    np.testing.assert_allclose(q[ok], multipletests(p[ok], method="fdr_bh")[1])


def test_rfs_table_reports_hazard_ratio_per_sd_c_and_q_as_the_libraries_do():
    x, time, event, centres, _ = _survival_data()
    patients = pd.DataFrame(x, columns=[f"GTVp_PT_original_glcm_F{k}" for k in range(3)])
    patients = patients.assign(rfs_days=time, relapse=event.astype(float), center=centres,
                               GTVall_MASK_volume_ml=np.exp(np.random.default_rng(2).normal(
                                   size=len(time))))
    features = [f"GTVp_PT_original_glcm_F{k}" for k in range(3)]
    table = rfs_association(patients, features, AnalysisSettings(resamples=0)).set_index(
        "feature")
    p_values = []
    for name in features:
        ok = patients[name].notna().to_numpy()
        z = np.asarray(stats.zscore(patients.loc[ok, name], ddof=1))
        reference = PHReg(time[ok], z[:, None], status=event[ok].astype(int),
                          ties="breslow").fit()
        assert table.at[name, "ratio"] == pytest.approx(np.exp(reference.params[0]), rel=1e-6)
        low, high = np.exp(reference.conf_int()[0])
        assert (table.at[name, "ratio_ci_low"], table.at[name, "ratio_ci_high"]) == (
            pytest.approx(low, rel=1e-5), pytest.approx(high, rel=1e-5))
        c = concordance_index_censored(event[ok], time[ok], z * np.sign(reference.params[0]))[0]
        assert table.at[name, "discrimination"] == pytest.approx(c, rel=1e-6)
        p_values.append(reference.pvalues[0])
    np.testing.assert_allclose(table["q"], multipletests(p_values, method="fdr_bh")[1],
                               rtol=1e-5)


def test_stratified_hpv_association_fits_a_centre_intercept_and_counts_pairs_within_centres():
    table = known_truth_table(300, seed=2, noise_columns=2)
    table.loc[table["center"] == table["center"].iloc[0], "hpv_status"] = 1.0  # one class
    feature = "GTVn_MASK_cystic_count"
    row = hpv_association(table, [feature], AnalysisSettings(stratify_center=True,
                                                             resamples=0)).iloc[0]
    known = table[table["hpv_status"].notna()]
    known = known[known.groupby("center")["hpv_status"].transform("nunique") == 2]
    z = np.asarray(stats.zscore(known[feature], ddof=1))
    design = np.column_stack([pd.get_dummies(known["center"], dtype=float), z])
    reference = sm.Logit(known["hpv_status"].to_numpy(), design).fit(disp=0)
    assert row["n"] == len(known)  # the single-class centre drops out
    assert row["ratio"] == pytest.approx(np.exp(reference.params[-1]), rel=1e-6)
    assert row["p"] == pytest.approx(reference.pvalues[-1], rel=1e-6)
    positive, negative = (known["hpv_status"] == 1).to_numpy(), (known["hpv_status"] == 0
                                                                   ).to_numpy()
    centres = known["center"].to_numpy()
    pairs = [(i, j) for i in np.flatnonzero(positive) for j in np.flatnonzero(negative)
             if centres[i] == centres[j]]
    score = np.array([np.sign(z[i] - z[j]) * 0.5 + 0.5 for i, j in pairs]).mean()
    assert row["discrimination"] == pytest.approx(max(score, 1 - score), rel=1e-6)


def test_without_a_volume_column_associations_are_reported_as_not_adjusted():
    table = known_truth_table(400, seed=3, noise_columns=2).drop(
        columns="GTVall_MASK_volume_ml")
    rows = analyze_table(table, AnalysisSettings(resamples=0))["association"]
    primary = rows["feature"].str.startswith("GTVp_")  # adjusted for the primary's volume
    assert (rows.loc[primary, "volume_column"] == "GTVp_MASK_volume_ml").all()
    rows = rows[~primary]
    associated = rows[rows["q"] <= 0.05]
    assert len(associated) and (associated["volume_relation"] == "not adjusted").all()
    assert rows["volume_rho"].isna().all() and rows["p_adjusted"].isna().all()
    assert (rows["volume_column"] == "").all()


def test_icc_matches_shrout_and_fleiss_1979_table():
    # Shrout & Fleiss (1979), Table 2: six targets rated by four judges; Table 4 gives
    # ICC(1,1) = 0.17, ICC(2,1) = 0.29, ICC(3,1) = 0.71.
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
                        [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)
    result = icc(np.stack([ratings, ratings * 2 + 1], axis=2))  # ICC ignores linear rescaling
    np.testing.assert_allclose(result["icc1"], 0.17, atol=0.005)
    np.testing.assert_allclose(result["icc2"], 0.29, atol=0.005)
    np.testing.assert_allclose(result["icc3"], 0.71, atol=0.005)
    missing = ratings.copy()
    missing[0, 1] = np.nan  # the first target drops out; the others still give an ICC
    assert icc(missing)["n"][0] == 5 and np.isfinite(icc(missing)["icc2"][0])


def test_icc2_interval_matches_pingouin():
    """The 95 % interval of ICC(2,1) equals pingouin's (McGraw & Wong case 2A) on the
    Shrout & Fleiss table and on a larger random design, and holds the estimate."""
    pingouin = pytest.importorskip("pingouin", reason="pingouin is in the dev extra")
    rng = np.random.default_rng(5)
    subjects = rng.normal(size=(25, 1))
    tables = [np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
                        [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float),
              subjects + rng.normal(0, 0.5, size=(25, 3)) + np.array([0.0, 0.3, -0.2])]
    for ratings in tables:
        long = pd.DataFrame([{"subject": i, "rater": j, "value": v}
                             for (i, j), v in np.ndenumerate(ratings)])
        direct = pingouin.intraclass_corr(long, targets="subject", raters="rater",
                                          ratings="value").set_index("Type").loc["ICC(A,1)"]
        ours = icc(ratings)
        assert ours["icc2"][0] == pytest.approx(direct["ICC"], abs=1e-9)
        # pingouin rounds its interval to 2 decimals
        assert ours["icc2_low"][0] == pytest.approx(direct["CI95"][0], abs=0.005)
        assert ours["icc2_high"][0] == pytest.approx(direct["CI95"][1], abs=0.005)
        assert ours["icc2_low"][0] < ours["icc2"][0] < ours["icc2_high"][0]


def test_mask_perturbations_erode_dilate_and_randomise_only_the_boundary():
    labels = np.zeros((9, 9, 9), dtype=np.uint8)
    labels[2:7, 2:7, 2:7] = 1
    rng = np.random.default_rng(0)
    eroded = perturbed_labels(labels, "eroded", rng)
    dilated = perturbed_labels(labels, "dilated", rng)
    randomised = perturbed_labels(labels, "random_boundary", rng)
    assert (eroded == 1).sum() == 27 and (dilated == 1).sum() == 125 + 6 * 25
    assert (eroded == 1).sum() < (randomised == 1).sum() < (dilated == 1).sum()
    assert (randomised[3:6, 3:6, 3:6] == 1).all() and (randomised[0] == 0).all()
    assert feature_class("GTVp_PT_original_glcm_Idm") == "PT glcm"
    assert feature_class("GTVall_PT_suv_SUVmax") == "PT suv"


def test_the_generators_true_drivers_rank_above_noise_and_a_volume_surrogate_is_flagged():
    table = known_truth_table(1123, seed=0, noise_columns=40)
    result = analyze_table(table, AnalysisSettings(resamples=0))["association"]
    for task, rows in result.groupby("task"):
        rows = rows.sort_values("p").reset_index(drop=True)
        noise = rows["feature"].str.startswith(NOISE_PREFIX)
        signal = rows["feature"].isin(ENCODES_TRUTH[task] | {VOLUME_TIMES_NOISE})
        assert rows["feature"].iloc[0] in ENCODES_TRUTH[task]
        # every discovered driver ranks above every noise column
        assert rows.index[signal & (rows["q"] <= 0.05)].max() < rows.index[noise].min(), task
        # FDR control, not zero errors: a chance discovery among 40 noise columns can occur
        # (the FDP over 25 seeds is measured by benchmarks/analysis.py); more than one cannot
        assert (noise & (rows["q"] <= 0.05)).sum() <= 1, task
        surrogate = rows.set_index("feature").loc[VOLUME_TIMES_NOISE]
        assert surrogate["q"] <= 0.05 and surrogate["volume_relation"] == "volume surrogate"
    rfs = result[result["task"] == "rfs"].set_index("feature")
    assert rfs.loc["GTVall_MASK_volume_ml", "volume_relation"] == "volume measure"
    assert rfs.loc["GTVall_PT_original_firstorder_Heterogeneity", "q"] <= 0.05
    hpv = result[result["task"] == "hpv"].set_index("feature")
    assert hpv.loc["GTVn_MASK_cystic_count", "volume_relation"] == "independent of volume"


def _workspace_with_tables(root, n_patients=120):
    table = known_truth_table(n_patients, seed=1, noise_columns=5)
    table["GTVall_PT_original_firstorder_Constant"] = 1.0
    (root / "features").mkdir(parents=True)
    table.to_parquet(root / "features" / "patients.parquet")
    predicted = table.copy()
    rng = np.random.default_rng(0)
    noisy = VOLUME_TIMES_NOISE  # a feature the predicted masks measure badly
    predicted[noisy] = predicted[noisy] * rng.lognormal(0, 2.0, len(table))
    (root / "features_predicted").mkdir()
    predicted.to_parquet(root / "features_predicted" / "patients.parquet")
    return table


def test_cli_analyze_writes_the_tables_and_compares_mask_sources(tmp_path):
    _workspace_with_tables(tmp_path)
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "--no-reproducibility",
                                      "--resamples", "20", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "rfs:" in result.output and "only through volume" in result.output
    summary = AnalysisSummary.read(tmp_path / "analysis" / "summary.json")
    assert summary.mask_sources_compared and summary.perturbation is None
    assert summary.settings["seed"] == 3 and summary.features == 11
    assert [s.feature for s in summary.skipped] == ["GTVall_PT_original_firstorder_Constant"]
    stability = pd.read_parquet(tmp_path / "analysis" / "reproducibility.parquet").set_index(
        "feature")
    assert stability.loc["GTVn_MASK_count", "icc_masks"] == pytest.approx(1.0)
    assert stability.loc[VOLUME_TIMES_NOISE, "unstable"]
    assert not stability.loc["GTVn_MASK_count", "unstable"]
    clusters = pd.read_parquet(tmp_path / "analysis" / "clusters.parquet")
    assert clusters.groupby("cluster")["representative"].sum().eq(1).all()
    centre = pd.read_parquet(tmp_path / "analysis" / "centre_effect.parquet")
    assert {"eta2_raw", "eta2_combat", "q_raw"} <= set(centre.columns)


def test_cli_analyze_without_features_is_a_clear_error(tmp_path):
    result = run_cli("analyze", str(tmp_path))
    assert result.returncode == 1
    assert "no patients table to analyse" in result.stderr
    assert str(tmp_path / "features" / "patients.parquet") in result.stderr


def test_perturbation_reextracts_with_the_folders_own_settings_not_the_packaged_default(
        tmp_path):
    from radiomics_hnc.analysis.reproducibility import perturbation_icc, recorded_extraction
    from radiomics_hnc.features import extract_features
    from radiomics_hnc.features.configs import load_feature_configs
    from radiomics_hnc.workspace import is_patient_feature
    from tests.features_phantoms import make_patient, write_workspace

    patients = {f"CHUM-00{k}": make_patient(seed=k) for k in (1, 2, 3)}
    for images in patients.values():
        del images["planning_ct"], images["dose"]
    ws = write_workspace(tmp_path, patients)
    configs = load_feature_configs(ct="ct_ibsi", pet="pet_ibsi", filters=True, overrides={
        name: {"featureClass": {"firstorder": None}} for name in ("ct", "pet")})
    extract_features(ws, configs=configs, min_lesion_ml=0.4, seed=5)
    extraction = recorded_extraction(ws / "features")
    assert extraction.configs.content_hash == configs.content_hash
    assert (extraction.min_lesion_ml, extraction.seed) == (0.4, 5)
    table, summary = perturbation_icc(ws, extraction, list(patients), 3, ws / "analysis")
    assert summary["patients"] == sorted(patients) and not summary["failed"]
    analysed = {c for c in pd.read_parquet(ws / "features" / "patients.parquet").columns
                if is_patient_feature(c)}
    assert set(table["feature"]) == analysed  # no default-only column (glcm...), none missing
    filtered = table[table["feature"].str.contains("_log-sigma-")]
    assert len(filtered) and filtered["icc_perturbation"].notna().all()


def test_unrecoverable_feature_settings_are_a_finding_not_a_silent_default(tmp_path):
    from radiomics_hnc.analysis import analyze_workspace, read_analysis
    from radiomics_hnc.io import write_parquet
    from radiomics_hnc.report.analysis import analysis_section

    _workspace_with_tables(tmp_path)  # tables without provenance: settings not recorded
    write_parquet(pd.DataFrame({"patient_id": ["CHUM-001"]}), tmp_path / "manifest.parquet")
    summary = analyze_workspace(tmp_path, settings=AnalysisSettings(
        resamples=0, reproducibility_patients=2))
    assert summary.perturbation is None and len(summary.findings) == 1
    assert re.search(r"mask-perturbation ICC not computed: file .*features/patients.parquet: "
                     r"the feature settings were not recorded", summary.findings[0])
    stability = pd.read_parquet(tmp_path / "analysis" / "reproducibility.parquet")
    assert "icc_perturbation" not in stability
    section = analysis_section(read_analysis(tmp_path / "analysis"), None, 40)
    assert any(block.text == f"Not done: {summary.findings[0]}" for block in section.blocks
               if hasattr(block, "text"))


def _scoped_volume_table(n=500, seed=7):
    """HPV driven by the primary's volume; the nodes, absent in a quarter of the patients,
    hold most of the disease; a primary texture feature that is primary volume plus noise."""
    rng = np.random.default_rng(seed)
    primary = rng.lognormal(1.0, 0.8, n)
    nodes = np.where(rng.random(n) < 0.25, np.nan, rng.lognormal(3.0, 0.8, n))
    log_primary = np.log(primary)
    status = rng.random(n) < 1 / (1 + np.exp(-1.5 * (log_primary - 1.0)))
    return pd.DataFrame({
        "patient_id": [f"CHUM-{k:03d}" for k in range(n)], "center": "CHUM",
        "hpv_status": status.astype(float),
        "GTVp_MASK_volume_ml": primary, "GTVn_MASK_volume_ml_sum": nodes,
        "GTVall_MASK_volume_ml": primary + np.nan_to_num(nodes),
        "GTVn_MASK_count": np.where(np.isnan(nodes), 0.0, rng.integers(1, 4, n)),
        "GTVn_PT_suv_SUVmax_max": np.where(np.isnan(nodes), np.nan, rng.normal(8, 2, n)),
        "GTVp_PT_original_glrlm_RunVariance": log_primary + rng.normal(0, 0.8, n),
    })


def test_each_feature_is_adjusted_for_the_volume_of_its_own_scope():
    table = _scoped_volume_table()
    texture = "GTVp_PT_original_glrlm_RunVariance"
    features = [texture, "GTVn_MASK_count", "GTVn_PT_suv_SUVmax_max", "GTVall_MASK_volume_ml"]
    rows = hpv_association(table, features, AnalysisSettings(resamples=0)).set_index("feature")
    assert rows["volume_column"].to_dict() == {
        texture: "GTVp_MASK_volume_ml",
        "GTVn_MASK_count": "GTVall_MASK_volume_ml",  # 0 without nodes, whose volume is missing
        "GTVn_PT_suv_SUVmax_max": "GTVn_MASK_volume_ml_sum",
        "GTVall_MASK_volume_ml": "GTVall_MASK_volume_ml"}
    z = np.asarray(stats.zscore(table[texture], ddof=1))
    status = table["hpv_status"].to_numpy()
    own = sm.Logit(status, np.c_[np.ones(len(z)), np.log(table["GTVp_MASK_volume_ml"]), z]
                   ).fit(disp=0)
    assert rows.at[texture, "p_adjusted"] == pytest.approx(own.pvalues[-1], rel=1e-5)
    assert rows.at[texture, "volume_rho"] == pytest.approx(stats.spearmanr(
        table[texture], table["GTVp_MASK_volume_ml"]).statistic, rel=1e-9)
    assert rows.at[texture, "volume_relation"] == "volume surrogate"
    whole = sm.Logit(status, np.c_[np.ones(len(z)), np.log(table["GTVall_MASK_volume_ml"]), z]
                     ).fit(disp=0)
    assert whole.pvalues[-1] < 1e-3  # whole-disease volume would have called it independent
