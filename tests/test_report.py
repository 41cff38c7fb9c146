"""The clinical statistics report: sections, statistics, escaping, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from scipy.optimize import approx_fprime
from sksurv.linear_model import CoxPHSurvivalAnalysis

from radiomics_hnc.discover import discover
from radiomics_hnc.io import write_parquet
from radiomics_hnc.modeling.records import RunRecord
from radiomics_hnc.report import build_report, build_sections
from radiomics_hnc.report import stats as report_stats
from radiomics_hnc.report.content import Table
from radiomics_hnc.report.harmonisation import centre_effect, feature_matrix
from radiomics_hnc.validate import validate_workspace
from radiomics_hnc.workspace import Workspace
from tests.data_fixtures import CSV_COLUMNS_2025, tiny_images, write_patient
from tests.record_fixtures import estimate, run_record, scores, segmentation_summary

CENTRES = ("CHUM", "CHUP", "MDA")
PER_CENTRE = 12
SCRIPT = "<script>alert('x')</script>"
LOW_DPI = 40


def _clinical(pids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for pid in pids:
        rows.append({
            "PatientID": pid, "CenterID": CENTRES.index(pid.split("-")[0]),
            "Age": int(rng.integers(40, 80)), "Gender": int(rng.random() < 0.8),
            "Tobacco Consumption": int(rng.random() < 0.5), "Alcohol Consumption": "",
            "Performance Status": int(rng.integers(0, 3)), "Treatment": int(rng.random() < 0.7),
            "M-stage": "M0", "HPV Status": int(rng.random() < 0.6),
            "Relapse": int(rng.random() < 0.4), "RFS": float(rng.integers(100, 2000)),
        })
    table = pd.DataFrame(rows, columns=CSV_COLUMNS_2025)
    table.loc[0, "Alcohol Consumption"] = SCRIPT  # unreadable: a warning naming the value
    return table


def make_workspace(root: Path, *, segmentation: bool = True, features: bool = True,
                   runs: bool = True, seed: int = 0, masks_dir: str = "masks") -> Path:
    """A small workspace: discovered/validated phantoms plus stage outputs in their formats."""
    rng = np.random.default_rng(seed)
    data, ws_root = root / "data", root / "ws"
    pids = [f"{c}-{i:03d}" for c in CENTRES for i in range(1, PER_CENTRE + 1)]
    for pid in pids:
        write_patient(data / pid, pid, tiny_images(seed=int(rng.integers(1000))))
    # One patient's PET in Bq/ml: excluded by validation.
    bad = tiny_images(seed=1)
    bad["PT"] = sitk.Cast(bad["PT"], sitk.sitkFloat32) * 5000.0
    write_patient(data / pids[-1], pids[-1], bad)
    _clinical(pids, rng).to_csv(data / "clinical.csv", index=False)
    discover(data, ws_root)
    validate_workspace(ws_root)
    ws = Workspace(ws_root)
    manifest = ws.load_manifest()
    manifest["t_stage"] = manifest["t_stage"].astype("string")
    manifest.loc[1, "t_stage"] = "T2" + SCRIPT
    write_parquet(manifest, ws.manifest_path)
    eligible = ws.eligible_manifest()
    if segmentation:
        _write_segmentation(ws, eligible, rng, masks_dir)
    if features:
        _write_features(ws, eligible, rng)
    if runs:
        _write_runs(ws, eligible, rng)
    return ws_root


def _write_segmentation(ws: Workspace, manifest: pd.DataFrame, rng: np.random.Generator,
                        masks_dir: str = "masks") -> None:
    """Masks in ``WORKSPACE/<masks_dir>`` and the metrics and summary of their evaluation."""
    rows = []
    masks = ws.root / masks_dir
    masks.mkdir(parents=True, exist_ok=True)
    for row in manifest.itertuples():
        label = sitk.ReadImage(row.label_path)
        array = sitk.GetArrayFromImage(label)
        predicted = np.roll(array, int(rng.integers(0, 3)), axis=2)
        image = sitk.GetImageFromArray(predicted)
        image.CopyInformation(label)
        sitk.WriteImage(image, str(masks / f"{row.patient_id}.nii.gz"))
        dice = [2 * ((array == k) & (predicted == k)).sum() / ((array == k).sum()
                                                               + (predicted == k).sum())
                for k in (1, 2)]
        rows.append({"patient_id": row.patient_id, "center": row.center,
                     "dice_gtvp": dice[0], "dice_gtvn": dice[1], "hd95_gtvp_mm": 2.0})
    metrics = pd.DataFrame(rows)
    write_parquet(metrics, ws.segmentation_dir / "segmentation_metrics.parquet")
    overall = scores(0.81, n=len(metrics), mean_dice_gtvp=float(metrics["dice_gtvp"].mean()))
    segmentation_summary(overall, {c: scores(0.8) for c in CENTRES},
                         masks_dir=masks_dir).write(ws.segmentation_dir / "summary.json")


def _write_features(ws: Workspace, manifest: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(manifest)
    shift = manifest["center"].map({c: i for i, c in enumerate(CENTRES)}).to_numpy(float)
    table = manifest[["patient_id", "center", "age", "gender", "tobacco", "performance_status",
                      "treatment", "m_stage", "hpv_status", "relapse", "rfs_days"]].copy()
    table["GTVp_PT_suv_SUVmax"] = 8 + 2 * table["relapse"].astype(float) + rng.normal(0, 1, n)
    table["GTVp_CT_original_firstorder_Mean"] = 30 + 15 * shift + rng.normal(0, 3, n)
    table["GTVn_MASK_count"] = rng.integers(0, 4, n).astype(float)
    table["GTVall_PT_suv_MTV"] = rng.gamma(2, 5, n)
    write_parquet(table, ws.features_dir / "patients.parquet")
    write_parquet(pd.DataFrame({"patient_id": ["CHUM-002"], "lesion_id": ["GTVn_1"],
                                "stage": ["extract"], "error_type": ["ValueError"],
                                "message": ["mask has fewer than 2 voxels"]}),
                  ws.features_dir / "errors.parquet")


def _write_run(folder: Path, spec: dict, record: RunRecord, oof: pd.DataFrame) -> None:
    """A run folder as radiomics_hnc.modeling.runs writes it (minus the model file)."""
    write_parquet(oof, folder / "oof_predictions.parquet")
    record.write(folder / "metrics.json")
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    write_parquet(pd.DataFrame({"feature": ["GTVp_PT_suv_SUVmax", "GTVall_PT_suv_MTV", "age"],
                                "importance": [0.5, 0.2, 0.1], "method": "shap"}),
                  folder / "importance.parquet")


def _write_runs(ws: Workspace, manifest: pd.DataFrame, rng: np.random.Generator) -> None:
    known = manifest.dropna(subset=["rfs_days", "relapse"])
    risk = known["relapse"].astype(float).to_numpy() + rng.normal(0, 0.8, len(known))
    spec = {"name": "rfs_xgb_cox", "task": "rfs", "features": ["clinical", "PT"],
            "estimator": "xgb_cox", "preprocessing": {"harmonize": True}}
    for scheme, c_index in (("loco", 0.68), ("kfold", 0.72)):
        oof = pd.DataFrame({"patient_id": known["patient_id"], "center": known["center"],
                            "fold": known["center"], "relapse": known["relapse"].astype(bool),
                            "rfs_days": known["rfs_days"], "risk": risk})
        for horizon in (365, 730, 1095):
            oof[f"survival_{horizon}d"] = np.exp(-np.exp(risk - 1) * horizon / 1000)
        metrics = {"c_index_fold_aware": estimate(c_index + 0.02), "c_index": estimate(c_index),
                   "uno_c": estimate(c_index - 0.01), "auc_730d": estimate(0.7),
                   "ibs": estimate(0.18)}
        if scheme == "loco":  # a centre without a bootstrap interval
            extra = {"by_center": {c: {"n": PER_CENTRE, "events": 5, "few_events": False,
                                       "note": None, "c_index": estimate(0.6 + 0.05 * i, 0)}
                                   for i, c in enumerate(CENTRES)}}
        else:
            extra = {"degenerate": {"folds": ["k1"], "reason": "fold k1: constant predictions"}}
        _write_run(ws.runs_dir / f"rfs_xgb_cox_{scheme}", spec,
                   run_record("rfs_xgb_cox", "rfs", scheme, metrics, **extra), oof)
    status = manifest["hpv_status"].astype(float).to_numpy()
    probability = np.clip(0.3 + 0.4 * np.nan_to_num(status, nan=0.5)
                          + rng.normal(0, 0.2, len(manifest)), 0, 1)
    oof = pd.DataFrame({"patient_id": manifest["patient_id"], "center": manifest["center"],
                        "fold": manifest["center"], "hpv_status": status,
                        "probability": probability, "threshold": 0.45,
                        "predicted": (probability >= 0.45).astype(int)})
    spec = {"name": "hpv_elasticnet", "task": "hpv", "features": ["PT", "CT"],
            "columns": ["age", "GTVp_MASK_count"],
            "estimator": "elasticnet_logistic", "preprocessing": {"harmonize": True}}
    inputs = {"n_inputs": 4, "n_usable": 1, "n_used_by_final_model": 1,
              "mostly_missing": ["age"], "n_mostly_missing": 3, "constant": [], "n_constant": 0,
              "warning": "only 1 of 4 inputs usable: 3 missing for more than half of the "
                         "patients (age, ...)"}
    by_center = {c: {"n": PER_CENTRE, "positives": 6, "negatives": 6 - 6 * (i == 0),
                     "roc_auc": estimate(float("nan") if i == 0 else 0.7 + 0.05 * i),
                     "few_events": i == 0, "note": "one class only" if i == 0 else None}
                 for i, c in enumerate(CENTRES)}
    _write_run(ws.runs_dir / "hpv_elasticnet_loco", spec,
               run_record("hpv_elasticnet", "hpv", "loco",
                          {"roc_auc": estimate(0.8), "roc_auc_fold_aware": estimate(0.83),
                           "balanced_accuracy": estimate(0.7)},
                          inputs=inputs, by_center=by_center), oof)


@pytest.fixture(scope="module")
def full_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("report_full"))


@pytest.fixture(scope="module")
def full_report(full_workspace: Path) -> Path:
    return build_report(full_workspace, dpi=LOW_DPI)


def _section_ids(html: str) -> set[str]:
    return set(re.findall(r'<section id="([a-z_]+)"', html))


def test_full_workspace_has_every_section(full_report: Path) -> None:
    html = full_report.read_text()
    assert _section_ids(html) == {"cohort", "quality", "segmentation", "harmonisation", "rfs",
                                  "hpv", "methods", "checklist"}
    assert full_report == full_report.parent / "index.html"
    assert full_report.parent.name == "report"


def test_hpv_table_names_predictors_and_within_centre_auc(full_report: Path) -> None:
    html = full_report.read_text()
    hpv = html[html.index('<section id="hpv"'):html.index('<section id="methods"')]
    assert "AUC (fold-aware)" in hpv and "<td>0.83</td><td>0.780–0.880</td>" in hpv
    assert "PT+CT+2 named columns" in hpv


def test_page_is_self_contained(full_report: Path) -> None:
    html = full_report.read_text()
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"[a-z]+://|url\(|@import", text, re.I), "no URL of any kind"
    targets = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert targets and all(t.startswith(("data:", "#")) for t in targets)
    assert not re.search(r'<(script|link rel="stylesheet"|iframe)', html, re.I)
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 8
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_user_values_are_escaped(full_report: Path) -> None:
    html = full_report.read_text()
    assert "<script>alert" not in html
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert "T2" + escaped in html  # the t_stage value in Table 1
    assert html.count(escaped) >= 2  # ... and the unreadable alcohol value in the findings


def test_csv_tables_are_written(full_report: Path) -> None:
    tables = full_report.parent / "tables"
    names = {p.stem for p in tables.glob("*.csv")}
    assert {"table1", "outcomes_by_centre", "validation_summary", "excluded_patients",
            "extraction_errors", "segmentation_summary", "segmentation_per_patient",
            "centre_prediction", "rfs_models", "rfs_per_centre", "rfs_numbers_at_risk",
            "rfs_hazard_ratios", "hpv_models", "hpv_confusion_matrix", "software_versions",
            "tripod_ai"} <= names
    models = pd.read_csv(tables / "rfs_models.csv")
    assert list(models["Validation"]) == ["loco", "kfold"]  # headline scheme first
    assert models.loc[0, "C (fold-aware)"] == pytest.approx(0.70)
    assert models.loc[0, "Harrell's C (pooled)"] == pytest.approx(0.68)
    assert models.loc[0, "Harrell's C (pooled) 95% CI"] == "0.630–0.730"
    assert list(models["Per-fold SD"]) == [0.04, 0.04]
    excluded = pd.read_csv(tables / "excluded_patients.csv")
    assert list(excluded["Patient"]) == ["MDA-012"]
    assert "pet_not_suv" in excluded.loc[0, "Checks failed"]
    centre_effect = pd.read_csv(tables / "centre_prediction.csv")
    assert list(centre_effect["Features"]) == ["Raw features", "After ComBat"]
    per_centre = pd.read_csv(tables / "rfs_per_centre.csv")
    assert list(per_centre["Centre"]) == list(CENTRES)
    assert list(per_centre["Run"].unique()) == ["rfs_xgb_cox_loco"]
    hpv_per_centre = pd.read_csv(tables / "hpv_per_centre.csv")  # a one-class centre: marked
    assert list(hpv_per_centre["Centre"]) == list(CENTRES)
    assert np.isnan(hpv_per_centre["ROC AUC"].iloc[0])
    assert list(hpv_per_centre["Few events"]) == [True, False, False]
    assert hpv_per_centre["Note"].iloc[0] == "one class only"
    assert hpv_per_centre["ROC AUC"].iloc[1] == pytest.approx(0.75)
    assert hpv_per_centre["CI low"].iloc[1] == pytest.approx(0.70)


def test_models_show_the_fold_aware_headline_warnings_and_forest_plots(full_report: Path) -> None:
    html = full_report.read_text()
    rfs = html[html.index('<section id="rfs"'):html.index('<section id="hpv"')]
    assert "The fold-aware C (headline) compares only patients whom the same fold model" in rfs
    assert "degenerate, not scored (fold k1: constant predictions)" in rfs
    assert 'alt="Forest plot of Harrell&#39;s C per centre, run rfs_xgb_cox_loco"' in rfs
    hpv = html[html.index('<section id="hpv"'):html.index('<section id="methods"')]
    assert "only 1 of 4 inputs usable: 3 missing for more than half" in hpv
    assert 'alt="Forest plot of ROC AUC per centre, run hpv_elasticnet_loco"' in hpv
    assert "<td>CHUM</td>" not in hpv  # the per-centre table is a CSV beside the plot


def test_table_one_counts_and_tests(full_workspace: Path, full_report: Path) -> None:
    table = pd.read_csv(full_report.parent / "tables" / "table1.csv", keep_default_na=False)
    ws = Workspace(full_workspace)
    cohort = ws.eligible_manifest()
    assert table.loc[0, "Overall"] == str(len(cohort)) == "35"
    age = table[table["Variable"] == "Age, years"].iloc[0]
    assert age["Test"] == "Kruskal-Wallis"
    expected = report_stats.compare_continuous(cohort["age"].astype(float), cohort["center"])[0]
    assert age["p"] == report_stats.format_p(expected)
    gender = table.index[table["Variable"] == "Gender"][0]
    assert table.loc[gender, "Test"] in {"chi-square", "chi-square (Monte Carlo)"}
    males = int((cohort["gender"] == 1).sum())
    assert any(table.loc[gender:gender + 2, "Overall"].str.startswith(f"{males} ("))
    alcohol = table.index[table["Variable"] == "Alcohol consumption"]
    assert alcohol.empty or table.loc[alcohol[0] + 1, "Level"] == "missing"


def test_sections_absent_without_inputs(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, segmentation=False, features=False, runs=False)
    sections = build_sections(ws, dpi=LOW_DPI)
    assert [s.id for s in sections] == ["cohort", "quality", "methods", "checklist"]
    tripod = next(b for b in sections[-2].blocks if isinstance(b, Table) and b.name == "tripod_ai")
    status = dict(zip(tripod.frame["Item"], tripod.frame["Covered by this report"], strict=True))
    assert status["20b"] == "yes" and status["23a"] == "no (stage not run)"
    html = build_report(ws, tmp_path / "out", dpi=LOW_DPI).read_text()
    assert _section_ids(html) == {"cohort", "quality", "methods", "checklist"}
    assert not (tmp_path / "out" / "tables" / "rfs_models.csv").exists()


def test_sections_follow_the_stages_run(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, segmentation=True, features=False, runs=True)
    (Workspace(ws).runs_dir / "hpv_elasticnet_loco" / "metrics.json").unlink()  # unfinished
    sections = build_sections(ws, dpi=LOW_DPI)
    assert [s.id for s in sections] == ["cohort", "quality", "segmentation", "rfs", "methods",
                                        "checklist"]
    rfs = next(s for s in sections if s.id == "rfs")
    assert "rfs_hazard_ratios" in {t.name for t in rfs.tables}  # clinical HRs from the manifest


def test_report_without_manifest_fails_clearly(tmp_path: Path) -> None:
    from radiomics_hnc.errors import InputDataError

    with pytest.raises(InputDataError, match="no manifest"):
        build_report(tmp_path)


def test_cox_standard_error_matches_numerical_hessian() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=150)
    time = rng.exponential(np.exp(-0.5 * x)) * 900
    event = rng.random(150) < 0.7

    def partial_loglik(beta: np.ndarray) -> float:  # Breslow, written independently
        eta = beta[0] * x
        return float(sum(eta[i] - np.log(np.exp(eta[time >= time[i]]).sum())
                         for i in np.nonzero(event)[0]))

    fit = report_stats.univariable_cox(x, time, event)
    beta = np.log(fit.hr)
    gradient = approx_fprime(np.array([beta]), partial_loglik, 1e-6)
    assert abs(gradient[0]) < 1e-2  # the estimate is the maximum
    direct = CoxPHSurvivalAnalysis(ties="breslow").fit(
        x[:, None], report_stats.survival_target(time, event))
    assert beta == pytest.approx(float(direct.coef_[0]), abs=1e-6)
    step = 1e-4
    second = (partial_loglik(np.array([beta + step])) - 2 * partial_loglik(np.array([beta]))
              + partial_loglik(np.array([beta - step]))) / step**2
    se = 1 / np.sqrt(-second)
    assert np.log(fit.high) - beta == pytest.approx(1.96 * se, rel=1e-3)


def test_reverse_km_follow_up_ignores_early_events() -> None:
    # Censored at 100..1000 days; relapses early: reverse KM median is among censoring times.
    time = np.r_[np.arange(100, 1001, 100), [10, 20, 30]].astype(float)
    event = np.r_[np.zeros(10), np.ones(3)]
    assert report_stats.median_follow_up(time, event) == 500.0
    assert np.median(time) < 500.0


def test_categorical_test_choice() -> None:
    groups = pd.Series(["A"] * 40 + ["B"] * 40)
    balanced = pd.Series([0, 1] * 40)
    assert report_stats.compare_categorical(balanced, groups)[1] == "chi-square"
    sparse = pd.Series([0] * 38 + [1] * 2 + [0] * 40)
    p_value, test = report_stats.compare_categorical(sparse, groups)
    assert test == "Fisher exact" and p_value == pytest.approx(0.494, abs=1e-3)
    three = pd.Series([0] * 30 + [1] * 8 + [2] * 2 + [0] * 40)
    assert report_stats.compare_categorical(three, groups)[1] == "chi-square (Monte Carlo)"


def test_centre_effect_detects_a_shifted_feature() -> None:
    rng = np.random.default_rng(0)
    centres = np.repeat(["A", "B", "C"], 30)
    shift = np.repeat([0.0, 3.0, 6.0], 30)
    patients = pd.DataFrame({"patient_id": [f"P{i}" for i in range(90)], "center": centres,
                             "GTVp_CT_x": shift + rng.normal(size=90),
                             "GTVp_PT_y": rng.normal(size=90)})
    features, groups = feature_matrix(patients)
    shifted, _ = centre_effect(features, groups, seed=0, combat=None)
    noise, _ = centre_effect(features[["GTVp_PT_y"]], groups, seed=0, combat=None)
    assert shifted > 0.8 and noise < 0.6


def test_cli_report(full_workspace: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from radiomics_hnc.cli import app

    result = CliRunner().invoke(app, ["report", str(full_workspace), "--out",
                                      str(tmp_path / "r"), "--dpi", str(LOW_DPI)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").is_file()
    assert "index.html" in result.output


class CentreStandardiser:
    """Per-centre location/scale alignment (ComBat without empirical Bayes), for the folds."""

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        grouped = frame.groupby("center")
        self.mean_, self.std_ = grouped.mean(), grouped.std().replace(0, 1)
        return self.transform(frame)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = frame.drop(columns="center")
        centre = frame["center"].to_numpy()
        return (values - self.mean_.loc[centre].to_numpy()) / self.std_.loc[centre].to_numpy()


def test_harmonised_view_is_fitted_in_folds_and_removes_the_centre_effect() -> None:
    rng = np.random.default_rng(1)
    centres = np.repeat(["A", "B", "C"], 30)
    shift = np.repeat([0.0, 3.0, 6.0], 30)[:, None]
    patients = pd.DataFrame(shift + rng.normal(size=(90, 6)),
                            columns=[f"GTVp_PT_f{i}" for i in range(6)])
    patients.insert(0, "center", centres)
    from radiomics_hnc.report.harmonisation import harmonisation_section

    section = harmonisation_section(patients, LOW_DPI, combat=CentreStandardiser)
    assert section is not None
    scores = section.tables[0].frame.set_index("Features")[
        "Centre prediction balanced accuracy"]
    assert scores["Raw features"] > 0.9 and scores["After ComBat"] < 0.6


def test_log_rank_is_not_computable_rather_than_an_error_on_tiny_groups() -> None:
    time = np.array([1, 2, 0.5, 0.6, 3, 4.0])
    event = np.array([1, 1, 0, 0, 1, 0])
    group = np.array(list("aaccbb"))  # c is censored before the first event: singular variance
    assert all(np.isnan(report_stats.log_rank(time, event, group)))
    assert all(np.isnan(report_stats.log_rank(time, np.zeros(6), group)))  # no events at all
    assert report_stats.p_text(float("nan")) == "p not computable"
    assert report_stats.log_rank(time, event, np.array(list("aaabbb")))[1] > 0


def test_overlays_draw_the_masks_the_summary_evaluated(tmp_path: Path) -> None:
    elsewhere = tmp_path / "own masks"  # `segment evaluate --masks` on a folder of one's own
    ws = make_workspace(tmp_path, features=False, runs=False, masks_dir=str(elsewhere))
    assert not Workspace(ws).masks_dir.exists()
    section = next(s for s in build_sections(ws, dpi=LOW_DPI) if s.id == "segmentation")
    overlays = [b for b in section.blocks if getattr(b, "alt", "") ==
                "PET/CT overlays with contours"]
    assert len(overlays) == 1


def test_user_strings_with_dollar_signs_draw_literally_in_figures() -> None:
    from radiomics_hnc.report.figures import plain
    from radiomics_hnc.report.model_summary import importance_figure, per_centre_figures
    from radiomics_hnc.report.segmentation import dice_boxplot

    centre, feature = r"$\foo$", r"GTVp_PT_$\alpha$_x"  # mathtext would raise on both
    assert plain(centre) == r"\$\foo\$"
    dice = pd.DataFrame({"center": [centre, "B", centre, "B"], "dice_gtvp": [0.8, 0.7, 0.9, 0.6]})
    assert dice_boxplot(dice, ["dice_gtvp"], LOW_DPI).startswith("data:image/png")
    forest = pd.DataFrame({"Run": "r", "Centre": [centre], "Patients": [10], "Events": [3],
                           "C": [0.6], "CI low": [0.5], "CI high": [0.7], "Few events": [False]})
    assert len(per_centre_figures(forest, "C", LOW_DPI)) == 1

    class Importance:
        name, spec_name = "r", "s"
        importance = pd.DataFrame({"feature": [feature], "importance": [1.0], "method": "x"})

    assert importance_figure(Importance(), LOW_DPI) is not None
