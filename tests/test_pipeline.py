"""`run` skips what is up to date, redoes what changed, and goes from data to report."""

from __future__ import annotations

import pandas as pd
import pytest
import SimpleITK as sitk

from radiomics_hnc.demo import oracle_within_centre
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.headline import headline
from radiomics_hnc.io import read_provenance
from radiomics_hnc.modeling.records import RunRecord
from radiomics_hnc.pipeline import (
    PipelineSettings,
    Stage,
    pipeline_stages,
    run_pipeline,
    run_stages,
)
from radiomics_hnc.synth import generate_cohort
from tests.record_fixtures import estimate, run_record


def test_stages_rerun_only_when_inputs_settings_or_outputs_change(tmp_path):
    source, output = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("a")
    calls = []

    def action() -> None:
        calls.append(1)
        output.write_text(source.read_text().upper())

    def stage(setting: int) -> Stage:
        return Stage("copy", action, [output], [source], {"setting": setting})

    state = tmp_path / "state"
    assert [o.status for o in run_stages([stage(1)], state)] == ["ran"]
    assert [o.status for o in run_stages([stage(1)], state)] == ["up to date"]
    source.write_text("b")  # input content changed
    assert [o.status for o in run_stages([stage(1)], state)] == ["ran"]
    assert [o.status for o in run_stages([stage(2)], state)] == ["ran"]  # settings changed
    output.unlink()  # output lost
    assert [o.status for o in run_stages([stage(2)], state)] == ["ran"]
    assert [o.status for o in run_stages([stage(2)], state, rerun=["copy"])] == ["ran"]
    assert len(calls) == 5 and output.read_text() == "B"


def test_a_failed_stage_is_not_recorded_and_reruns(tmp_path):
    def fail() -> None:
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        run_stages([Stage("boom", fail, [tmp_path / "never"])], tmp_path / "state")
    assert not (tmp_path / "state" / "boom.json").exists()


def test_an_optional_stage_that_fails_on_the_data_is_reported_and_the_rest_run(tmp_path):
    def too_few() -> None:
        raise InputDataError("too few labelled patients to validate hpv")

    out, stale = tmp_path / "report.txt", tmp_path / "run" / "metrics.json"
    stale.parent.mkdir()
    stale.write_text("from an earlier run on other data")
    outcomes = run_stages([Stage("fit-hpv", too_few, [stale], optional=True),
                           Stage("report", lambda: out.write_text("ok"), [out])],
                          tmp_path / "state")
    assert [(o.name, o.status) for o in outcomes] == [("fit-hpv", "failed"), ("report", "ran")]
    assert outcomes[0].describe() == "failed: too few labelled patients to validate hpv"
    assert not (tmp_path / "state" / "fit-hpv.json").exists() and out.read_text() == "ok"
    assert not stale.exists()  # the report must not show the earlier run's numbers


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    cohort = generate_cohort(root / "cohort", 40, seed=3, scale="small", jobs=2)
    settings = PipelineSettings(jobs=2, cv="kfold", rfs_specs=("rfs_clinical_cox", "rfs_coxnet"),
                                hpv_specs=("hpv_clinical_logistic",), analysis_patients=2)
    first = run_pipeline(cohort.dataset_dir, root / "ws", settings)
    second = run_pipeline(cohort.dataset_dir, root / "ws", settings)
    return cohort, root / "ws", settings, first, second


def test_run_goes_from_data_to_report(pipeline_run):
    cohort, ws, _, first, _ = pipeline_run
    assert [o.name for o in first] == [
        "discover", "validate", "extract", "fit-rfs_clinical_cox", "fit-rfs_coxnet",
        "fit-hpv_clinical_logistic", "analyze", "report",
    ]
    assert all(o.status == "ran" for o in first)
    analysis = first[-2].result  # the feature analysis, with the ICC of 2 perturbed patients
    assert len(analysis.perturbation["patients"]) == 2 and analysis.features > 100
    assert "Feature analysis" in (ws / "report" / "index.html").read_text()
    patients = pd.read_parquet(ws / "features" / "patients.parquet")
    assert len(patients) == 40
    assert (ws / "report" / "index.html").is_file()
    numbers = headline(ws)
    rfs = numbers.rfs.estimate
    assert 0.0 <= rfs.ci_low <= rfs.estimate <= rfs.ci_high <= 1.0
    assert numbers.rfs.record.headline.metric == "c_index_fold_aware"
    oracle = oracle_within_centre(cohort.ground_truth_dir)  # the yardstick of fold-aware C
    assert 0.5 < oracle["c_index"] <= 1.0 and 0.5 < oracle["hpv_auc"] <= 1.0
    assert numbers.hpv.run == "hpv_clinical_logistic_kfold"


def test_headline_compares_fold_aware_figures_and_skips_degenerate_runs(tmp_path):
    def run(name, fold_aware, pooled, **fields):
        run_record(name, "rfs", "loco", {"c_index_fold_aware": estimate(fold_aware),
                                         "c_index": estimate(pooled)}, **fields).write(
            tmp_path / "runs" / name / "metrics.json")

    run("constant", float("nan"), 0.43)  # no figure: not scored
    run("degenerate", 0.9, 0.9, degenerate={"folds": ["A"], "reason": "fold A: constant"})
    run("pooled_high", 0.61, 0.75)
    run("fold_aware_high", 0.70, 0.66)
    best = headline(tmp_path).rfs
    assert (best.run, best.record.headline.metric, best.estimate.estimate) == (
        "fold_aware_high", "c_index_fold_aware", 0.70)
    assert best.text() == ("RFS best model fold_aware_high (loco): C-index (fold-aware) 0.700 "
                           "(95% CI 0.650-0.750)")


def test_second_run_is_all_up_to_date_and_a_change_reruns_what_depends_on_it(pipeline_run):
    cohort, ws, settings, _, second = pipeline_run
    assert all(o.status == "up to date" for o in second)
    csv = next(cohort.dataset_dir.glob("*Task_1.csv"))  # the first table wins on merge
    table = pd.read_csv(csv)
    table.loc[0, "Age"] = 99
    table.to_csv(csv, index=False)
    third = {o.name: o for o in run_pipeline(cohort.dataset_dir, ws, settings)}
    assert third["discover"].status == "ran" and third["report"].status == "ran"
    assert third["fit-rfs_coxnet"].status == "ran"
    # extraction reran as a stage, but every patient's images were unchanged: all from cache
    extraction = third["extract"].result
    assert extraction.computed == [] and len(extraction.skipped) == 40
    patients = pd.read_parquet(ws / "features" / "patients.parquet").set_index("patient_id")
    assert patients.loc[table.loc[0, "PatientID"], "age"] == 99


def _inject_bad_patients(dataset, ids):
    """Corrupt file, empty mask, wrong label values, PET in Bq/ml, missing clinical row."""
    corrupt, empty, bad_labels, bq_ml, no_clinical = ids
    folder = dataset / "Task 1"
    ct = folder / corrupt / f"{corrupt}__CT.nii.gz"
    ct.write_bytes(ct.read_bytes()[: ct.stat().st_size // 2])
    for pid, change in ((empty, lambda a: a * 0), (bad_labels, lambda a: a + (a > 0) * 2)):
        path = folder / pid / f"{pid}.nii.gz"
        label = sitk.ReadImage(str(path))
        changed = sitk.GetImageFromArray(change(sitk.GetArrayFromImage(label)))
        changed.CopyInformation(label)
        sitk.WriteImage(changed, str(path))
    pet = folder / bq_ml / f"{bq_ml}__PT.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(pet)) * 5000.0, str(pet))
    for csv in dataset.glob("*.csv"):
        table = pd.read_csv(csv)
        table[table["PatientID"] != no_clinical].to_csv(csv, index=False)


def test_bad_patients_are_reported_and_skipped_while_the_rest_complete(tmp_path):
    cohort = generate_cohort(tmp_path / "cohort", 30, seed=5, scale="small", jobs=2)
    with_label = sorted(p.name for p in (cohort.dataset_dir / "Task 1").iterdir())
    bad = with_label[:5]
    _inject_bad_patients(cohort.dataset_dir, bad)
    settings = PipelineSettings(jobs=2, cv="kfold", rfs_specs=("rfs_clinical_cox",),
                                hpv_specs=())
    outcomes = run_pipeline(cohort.dataset_dir, tmp_path / "ws", settings)
    assert [o.status for o in outcomes] == ["ran"] * len(outcomes)
    patients = pd.read_parquet(tmp_path / "ws" / "features" / "patients.parquet")
    excluded = set(bad[0:1] + bad[2:4])  # errors: corrupt CT, label value 3+, Bq/ml PET
    assert set(patients["patient_id"]) == set(cohort.patient_ids) - excluded
    findings = pd.read_csv(tmp_path / "ws" / "report" / "tables" / "validation_findings.csv")
    reasons = set(zip(findings["Patient"], findings["Check"], strict=True))
    expected = zip(bad, ("unreadable_file", "label_empty", "label_values", "pet_not_suv",
                         "missing_clinical"), strict=True)
    for pid, check in expected:
        assert (pid, check) in reasons
    page = (tmp_path / "ws" / "report" / "index.html").read_text()
    assert all(pid in page for pid in bad)


def test_shipped_specs_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    from radiomics_hnc.errors import ConfigError
    from radiomics_hnc.modeling import load_spec
    from radiomics_hnc.resources import model_spec_path

    monkeypatch.chdir(tmp_path)
    assert load_spec("rfs_coxnet").name == "rfs_coxnet"
    assert model_spec_path("models/hpv_xgb.yaml").is_file()
    with pytest.raises(ConfigError, match="no model specification 'rfs_nothing'"):
        model_spec_path("rfs_nothing")


def test_extracted_lesions_match_the_generators_ground_truth(pipeline_run):
    cohort, ws, *_ = pipeline_run
    truth = pd.read_parquet(cohort.ground_truth_dir / "lesions.parquet")
    found = pd.read_parquet(ws / "features" / "lesions.parquet")
    merged = truth.merge(found, on=["patient_id", "lesion_id"], how="outer", indicator=True,
                         suffixes=("_true", ""))
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both",
                                                          ["patient_id", "lesion_id"]]
    assert (merged["label_true"] == merged["label"]).all()
    assert (merged["volume_ml"] - merged["MASK_volume_ml"]).abs().max() < 1e-3
    centroid = merged[["centroid_x_mm_true", "centroid_y_mm_true", "centroid_z_mm_true"]]
    extracted = merged[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]]
    assert abs(centroid.to_numpy() - extracted.to_numpy()).max() < 0.5  # mm


def test_both_mask_sources_give_two_feature_tables_and_two_sets_of_runs(tmp_path):
    cohort = generate_cohort(tmp_path / "cohort", 24, seed=8, scale="small", jobs=2)
    masks = tmp_path / "ws" / "masks"  # "predicted" masks: the truth without nodes, for some
    masks.mkdir(parents=True)
    for n, pid in enumerate(cohort.patient_ids):
        label = sitk.ReadImage(str(cohort.dataset_dir / "Task 1" / pid / f"{pid}.nii.gz"))
        sitk.WriteImage(label * (label != 2) if n % 2 else label, str(masks / f"{pid}.nii.gz"))
    settings = PipelineSettings(masks="both", jobs=2, cv="kfold", report=False,
                                rfs_specs=("rfs_clinical_cox",), hpv_specs=())
    outcomes = [o.name for o in run_pipeline(cohort.dataset_dir, tmp_path / "ws", settings)]
    assert outcomes == ["discover", "validate", "extract", "fit-rfs_clinical_cox",
                        "extract_predicted", "fit-rfs_clinical_cox_predicted", "analyze"]
    ws = tmp_path / "ws"
    stability = pd.read_parquet(ws / "analysis" / "reproducibility.parquet").set_index("feature")
    assert stability.loc["GTVp_MASK_volume_ml", "icc_masks"] == pytest.approx(1.0)  # same GTVp
    assert stability.loc["GTVn_MASK_count", "icc_masks"] < 0.75  # half the nodes dropped
    truth = pd.read_parquet(ws / "features" / "lesions.parquet")
    predicted = pd.read_parquet(ws / "features_predicted" / "lesions.parquet")
    assert len(truth) == len(pd.read_parquet(cohort.ground_truth_dir / "lesions.parquet"))
    assert set(predicted["lesion_id"]) < set(truth["lesion_id"]) or len(predicted) < len(truth)
    assert read_provenance(ws / "features_predicted" / "patients.parquet")["mask_source"] == (
        "predicted")
    for run, source in (("rfs_clinical_cox_kfold", "ground-truth"),
                        ("rfs_clinical_cox_kfold_predicted", "predicted")):
        assert RunRecord.read(ws / "runs" / run / "metrics.json").features.mask_source == source


def test_predicted_masks_alone_have_their_own_folder_runs_and_report_input(tmp_path):
    (tmp_path / "ws" / "masks").mkdir(parents=True)
    settings = PipelineSettings(masks="predicted", rfs_specs=("rfs_coxnet",), hpv_specs=())
    stages = {s.name: s for s in pipeline_stages(tmp_path, tmp_path / "ws", settings)}
    assert list(stages) == ["discover", "validate", "extract_predicted",
                            "fit-rfs_coxnet_predicted", "analyze", "report"]
    assert stages["analyze"].outputs == [
        tmp_path / "ws" / "analysis_predicted" / "summary.json"]
    assert stages["extract_predicted"].outputs == [
        tmp_path / "ws" / "features_predicted" / "patients.parquet"]
    assert stages["fit-rfs_coxnet_predicted"].outputs == [
        tmp_path / "ws" / "runs" / "rfs_coxnet_loco_predicted" / "metrics.json"]
    assert stages["report"].settings == {"features": "features_predicted"}


def test_predicted_masks_without_a_segmenter_or_masks_is_a_clear_error(tmp_path):
    from radiomics_hnc.errors import ConfigError

    with pytest.raises(ConfigError, match="need predicted masks"):
        run_pipeline(tmp_path, tmp_path / "ws", PipelineSettings(masks="predicted"))


def test_an_image_rewritten_in_place_with_its_mtime_restored_reruns_the_stages_reading_it(
        tmp_path):
    import os
    import time

    image = tmp_path / "data" / "Task 1" / "CHUM-001" / "CHUM-001__PT.nii.gz"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"a" * 100)
    stages = {s.name: s for s in pipeline_stages(tmp_path / "data", tmp_path / "ws",
                                                 PipelineSettings())}
    before = {name: stage.fingerprint() for name, stage in stages.items()}
    stat = image.stat()
    time.sleep(0.05)  # file times tick in milliseconds on some file systems
    image.write_bytes(b"b" * 100)  # same size, then the old modification time put back
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = {name for name, stage in stages.items() if stage.fingerprint() != before[name]}
    assert {"discover", "validate", "extract"} <= changed


@pytest.mark.parametrize("masks", ["ground-truth", "predicted"])
def test_the_analysis_reruns_when_the_images_or_masks_it_re_extracts_change(tmp_path, masks):
    import os

    image = tmp_path / "data" / "Task 1" / "CHUM-001" / "CHUM-001__PT.nii.gz"
    mask = tmp_path / "ws" / "masks" / "CHUM-001.nii.gz"
    for path in (image, mask):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"a" * 100)

    def fingerprints(patients: int) -> dict[str, str]:
        stages = pipeline_stages(tmp_path / "data", tmp_path / "ws", PipelineSettings(
            masks=masks, analysis_patients=patients))
        return {s.name: s.fingerprint() for s in stages if s.name == "analyze"}

    before = {n: fingerprints(n) for n in (0, 2)}
    for path in (image, mask) if masks == "predicted" else (image,):
        stat = path.stat()
        path.write_bytes(b"b" * 100)  # same size, the old modification time put back
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert fingerprints(2) != before[2], path  # re-extracts from it
        assert fingerprints(0) == before[0], path  # reads only the feature tables
        before[2] = fingerprints(2)
