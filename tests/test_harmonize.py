"""ComBat: agreement with neuroCombat, fold safety, unseen-centre policies, robustness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.harmonize import ComBat


def batched(n_per=30, p=10, centres=("A", "B", "C"), seed=0):
    """Features with additive and multiplicative centre effects, plus an age covariate."""
    rng = np.random.default_rng(seed)
    batch = np.repeat(centres, n_per)
    codes = np.repeat(np.arange(len(centres)), n_per)
    age = rng.normal(60, 10, len(batch))
    shift = rng.normal(0, 2, (len(centres), p))
    scale = np.exp(rng.normal(0, 0.4, (len(centres), p)))
    X = rng.normal(size=(len(batch), p)) * scale[codes] + shift[codes] + 0.05 * age[:, None]
    frame = pd.DataFrame(X, columns=[f"GTVp_PT_f{i}" for i in range(p)])
    frame["center"], frame["age"] = batch, age
    return frame


@pytest.mark.parametrize("parametric", [True, False])
def test_matches_neurocombat(parametric):
    frame = batched()
    features = frame.drop(columns=["center", "age"]).to_numpy()
    covars = frame[["center", "age"]].rename(columns={"center": "batch"})
    reference = neuroCombat(features.T.copy(), covars, "batch", continuous_cols=["age"],
                            parametric=parametric)["data"].T
    ours = ComBat(covariates=["age"], parametric=parametric).fit_transform(frame)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def with_sex(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Add a text covariate ("M"/"F") whose effect on the features is real."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], len(frame))
    out = frame.copy()
    features = [c for c in out.columns if c.startswith("GTV")]
    out[features] += np.where(sex == "M", 1.5, 0.0)[:, None]
    out["sex"] = sex
    return out


@pytest.mark.parametrize("parametric", [True, False])
def test_matches_neurocombat_with_a_text_covariate(parametric):
    frame = with_sex(batched())
    features = frame.drop(columns=["center", "age", "sex"]).to_numpy()
    covars = frame[["center", "age", "sex"]].rename(columns={"center": "batch"})
    reference = neuroCombat(features.T.copy(), covars, "batch", categorical_cols=["sex"],
                            continuous_cols=["age"], parametric=parametric)["data"].T
    ours = ComBat(covariates=["age", "sex"], parametric=parametric).fit_transform(frame)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    # the covariate counts: ComBat without it removes part of the sex effect as centre effect
    ignored = ComBat(covariates=["age"], parametric=parametric).fit_transform(
        frame.drop(columns="sex"))
    assert np.abs(ignored - reference).max() > 0.05


def test_a_covariate_that_cannot_be_used_is_an_error_naming_it():
    frame = with_sex(batched()).set_index(pd.Index([f"P{i}" for i in range(90)]))
    missing = frame.copy()
    missing.loc[["P3", "P40"], "sex"] = None
    with pytest.raises(InputDataError, match=r"'sex' is missing for 2 of 90 patients \(P3, P40\)"):
        ComBat(covariates=["sex"]).fit(missing)
    with pytest.raises(InputDataError, match=r"'age' is missing for 1 of 90"):
        ComBat(covariates=["age", "sex"]).fit(frame.assign(age=frame["age"].where(
            frame.index != "P7")))
    with pytest.raises(InputDataError, match=r"'sex' has a single value \('M'\)"):
        ComBat(covariates=["sex"]).fit(frame.assign(sex="M"))
    with pytest.raises(InputDataError, match="confounded with the centres"):
        ComBat(covariates=["sex"]).fit(frame.assign(sex=np.where(frame.center == "A", "F",
                                                                 "M")))
    fitted = ComBat(covariates=["sex"]).fit(frame)
    with pytest.raises(InputDataError, match=r"'sex' has value\(s\) \['X'\] not seen"):
        fitted.transform(frame.assign(sex="X"))
    with pytest.raises(InputDataError, match=r"'sex' is missing for 2 of 90"):
        fitted.transform(missing)


def test_transform_of_training_rows_ignores_added_test_rows():
    frame = batched().drop(columns="age")
    train, test = frame.iloc[::2], frame.iloc[1::2]
    combat = ComBat().fit(train)
    alone = combat.transform(test.iloc[:7])
    mixed = combat.transform(pd.concat([test.iloc[:7], test.iloc[7:], train]))[:7]
    np.testing.assert_array_equal(alone, mixed)


def test_unseen_centre_policies():
    frame = batched(centres=("A", "B", "C", "D")).drop(columns="age")
    train, new = frame[frame.center != "D"], frame[frame.center == "D"].copy()
    new.iloc[:, :10] += 5.0  # a strongly shifted new scanner
    with pytest.raises(InputDataError, match=r"centre\(s\) \['D'\] were not seen"):
        ComBat(unseen="raise").fit(train).transform(new)
    passed = ComBat(unseen="passthrough").fit(train).transform(new)
    np.testing.assert_array_equal(passed, new.iloc[:, :10].to_numpy())
    estimated = ComBat(unseen="estimate").fit(train)
    out = estimated.transform(new)
    harmonised_train = estimated.transform(train)
    gap_before = np.abs(new.iloc[:, :10].mean() - train.iloc[:, :10].mean()).mean()
    gap_after = np.abs(out.mean(axis=0) - harmonised_train.mean(axis=0)).mean()
    assert gap_after < 0.2 * gap_before
    # seen-centre rows in the same call are unaffected by the unseen centre
    both = estimated.transform(pd.concat([train.iloc[:5], new]))[:5]
    np.testing.assert_allclose(both, harmonised_train[:5])


def test_invalid_policy_is_rejected_at_fit():
    with pytest.raises(ConfigError, match="unseen="):
        ComBat(unseen="ignore").fit(batched())


def test_constant_features_tiny_centres_and_missing_values():
    frame = batched(n_per=12)
    frame.loc[frame.center == "A", "GTVp_PT_f0"] = 3.0  # constant within a centre
    frame["GTVp_PT_const"] = 1.0  # constant everywhere
    frame.loc[[0, 5, 30], "GTVp_PT_f1"] = np.nan
    single = frame.iloc[[0]].copy()
    single["center"] = "TINY"
    frame = pd.concat([frame, single], ignore_index=True)
    for parametric in (True, False):
        out = ComBat(parametric=parametric).fit_transform(frame)
        features = frame.drop(columns=["center"])
        assert np.isnan(out).sum() == features.isna().sum().sum()
        assert np.isfinite(out[~features.isna().to_numpy()]).all()
        np.testing.assert_array_equal(out[:, list(features.columns).index("GTVp_PT_const")], 1.0)


def test_removes_centre_signal():
    frame = batched(n_per=40, p=8).drop(columns="age")
    raw = frame.drop(columns=["center"]).to_numpy()
    harmonised = ComBat().fit_transform(frame)
    clf = LogisticRegression(max_iter=1000)
    raw_acc = cross_val_score(clf, raw, frame.center, cv=4).mean()
    harm_acc = cross_val_score(clf, harmonised, frame.center, cv=4).mean()
    assert raw_acc > 0.9 and harm_acc < 0.6  # chance is 1/3


def test_feature_names_and_fitted_check():
    frame = batched(p=3)
    combat = ComBat(covariates=["age"])
    with pytest.raises(Exception, match="not fitted"):
        combat.transform(frame)
    combat.fit(frame)
    assert list(combat.get_feature_names_out()) == ["GTVp_PT_f0", "GTVp_PT_f1", "GTVp_PT_f2"]
    assert combat.set_output(transform="pandas").transform(frame).columns[0] == "GTVp_PT_f0"


# With array input, column 0 is the centre; the generic checks' random floats then make every
# row its own centre, which the tiny-centre and "estimate" paths must survive.
_EXPECTED_FAILURES = {
    "check_fit2d_1feature": "the only column is the centre column: no features remain",
}


@parametrize_with_checks([ComBat(batch_column=0, unseen="estimate")],
                         expected_failed_checks=lambda est: _EXPECTED_FAILURES)
def test_sklearn_conventions(estimator, check):
    check(estimator)
