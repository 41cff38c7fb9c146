"""Tests of the synthetic cohort generator (small scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from radiomics_hnc.cli import app
from radiomics_hnc.clinical import normalise_clinical, read_clinical_csv
from radiomics_hnc.discover import discover
from radiomics_hnc.errors import ConfigError
from radiomics_hnc.geometry import same_grid
from radiomics_hnc.synth import generate_cohort, oracle_scores, plan_cohort
from radiomics_hnc.synth.cohort import _patient_truth
from radiomics_hnc.validate import overlap_fraction, validate_manifest

CENTERS = ["CHB", "CHUM", "USZ"]  # three protocols: 4 mm, 5.5 mm noisy, 2.7 mm sharp PET


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return generate_cohort(tmp_path_factory.mktemp("synth"), 32, seed=13, centers=CENTERS)


@pytest.fixture(scope="module")
def truth(cohort):
    return (pd.read_parquet(cohort.ground_truth_dir / "patients.parquet"),
            pd.read_parquet(cohort.ground_truth_dir / "lesions.parquet"))


def _task_file(cohort, task: int, pid: str, suffix: str) -> Path:
    return cohort.dataset_dir / f"Task {task}" / pid / f"{pid}{suffix}"


def _arrays(root: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(root)): sitk.GetArrayFromImage(sitk.ReadImage(str(p)))
            for p in sorted(root.rglob("*.nii.gz"))}


def test_same_seed_gives_same_arrays_whatever_the_jobs(tmp_path):
    one = generate_cohort(tmp_path / "a", 3, seed=5, jobs=1)
    two = generate_cohort(tmp_path / "b", 3, seed=5, jobs=2)
    other = generate_cohort(tmp_path / "c", 3, seed=6, jobs=1)
    first, second = _arrays(one.dataset_dir), _arrays(two.dataset_dir)
    assert first.keys() == second.keys() and len(first) >= 9
    for name, array in first.items():
        np.testing.assert_array_equal(array, second[name], err_msg=name)
    assert (one.dataset_dir / "HECKTOR_2025_Training_Task_2.csv").read_text() == (
        two.dataset_dir / "HECKTOR_2025_Training_Task_2.csv").read_text()
    third = _arrays(other.dataset_dir)
    shared = set(first) & set(third)
    assert any(not np.array_equal(first[k], third[k]) for k in shared if "__CT" in k)


def test_geometry_pet_and_ct_overlap_and_label_on_ct_grid(cohort, truth):
    patients, _ = truth
    for pid in patients["patient_id"]:
        ct = sitk.ReadImage(str(_task_file(cohort, 1, pid, "__CT.nii.gz")))
        pet = sitk.ReadImage(str(_task_file(cohort, 1, pid, "__PT.nii.gz")))
        label = sitk.ReadImage(str(_task_file(cohort, 1, pid, ".nii.gz")))
        assert ct.GetPixelID() == sitk.sitkInt16 and pet.GetPixelID() == sitk.sitkFloat32
        assert ct.GetSpacing() != pet.GetSpacing() and ct.GetOrigin() != pet.GetOrigin()
        assert overlap_fraction(ct, pet) > 0.9
        assert same_grid(label, ct)
        pet_values = sitk.GetArrayViewFromImage(pet)
        assert pet_values.min() >= 0 and 5 < pet_values.max() < 60  # SUV, brain and tumours
        assert sitk.GetArrayViewFromImage(ct).min() <= -900  # air around the neck


def test_labels_match_the_ground_truth_lesions(cohort, truth):
    patients, lesions = truth
    for pid in patients["patient_id"]:
        label = sitk.ReadImage(str(_task_file(cohort, 1, pid, ".nii.gz")))
        array = sitk.GetArrayFromImage(label)
        voxel_ml = np.prod(label.GetSpacing()) / 1000
        mine = lesions[lesions["patient_id"] == pid]
        nodes = sitk.ConnectedComponent(sitk.Cast(label == 2, sitk.sitkUInt8), True)
        assert int(sitk.GetArrayViewFromImage(nodes).max()) == (mine["label"] == 2).sum()
        primary = mine.loc[mine["lesion_id"] == "GTVp", "volume_ml"]
        assert (array == 1).sum() * voxel_ml == pytest.approx(primary.sum())
        node_ids = mine.loc[mine["label"] == 2, "lesion_id"].tolist()
        assert node_ids == [f"GTVn_{k}" for k in range(1, len(node_ids) + 1)]
        assert mine.loc[mine["label"] == 2, "volume_ml"].is_monotonic_decreasing
    assert (~patients["has_primary"]).sum() < len(patients) / 4
    assert lesions.groupby("patient_id").size().reindex(patients["patient_id"]).min() >= 1


def test_dose_only_for_the_subset_on_the_planning_grid(cohort, truth):
    patients, _ = truth
    assert 0.3 < patients["has_dose"].mean() < 0.9
    for row in patients.itertuples():
        dose_files = list(cohort.dataset_dir.rglob(f"{row.patient_id}__RTDOSE.nii.gz"))
        assert len(dose_files) == int(row.has_dose)
        if row.has_dose:
            assert dose_files[0].parent.parent.name == "Task 2"
            dose = sitk.ReadImage(str(dose_files[0]))
            planning = sitk.ReadImage(str(dose_files[0].parent / f"{row.patient_id}"
                                          "__CTPlanning.nii.gz"))
            ct = sitk.ReadImage(str(_task_file(cohort, 1, row.patient_id, "__CT.nii.gz")))
            assert same_grid(dose, planning) and not same_grid(planning, ct)
            assert 60 < sitk.GetArrayViewFromImage(dose).max() < 80  # Gy


def test_clinical_tables_have_the_organisers_columns_and_encodings(cohort, truth):
    patients, _ = truth
    common = ["PatientID", "CenterID", "Age", "Gender", "Tobacco Consumption",
              "Alcohol Consumption", "Performance Status", "Treatment", "M-stage"]
    tables = {n: pd.read_csv(cohort.dataset_dir / f"HECKTOR_2025_Training_Task_{n}.csv")
              for n in (1, 2, 3)}
    assert list(tables[1].columns) == common
    assert list(tables[2].columns) == [*common, "HPV Status", "Relapse", "RFS"]
    assert list(tables[3].columns) == [*common, "HPV Status"]
    assert len(tables[1]) == len(patients)
    assert set(tables[1]["Gender"].dropna()) <= {0, 1}
    assert set(tables[1]["M-stage"].dropna()) <= {"M0", "M1", "Mx"}
    assert set(tables[2]["Relapse"]) <= {0, 1} and (tables[2]["RFS"] > 0).all()
    assert tables[1]["Tobacco Consumption"].isna().any()  # missing values present
    assert not tables[3]["PatientID"].str.startswith("CHB").any()  # CHB records no HPV
    assert tables[3]["HPV Status"].notna().all()
    for n in (1, 2, 3):
        path = cohort.dataset_dir / f"HECKTOR_2025_Training_Task_{n}.csv"
        normalised, issues = normalise_clinical(read_clinical_csv(path))
        assert not issues and normalised["patient_id"].is_unique


def test_event_rate_prevalence_and_oracle_scores_in_range():
    patients = pd.DataFrame([_patient_truth(p) for p in plan_cohort(1000, seed=2)])
    scores = oracle_scores(patients)
    assert 0.18 < scores["event_rate"] < 0.32
    assert 0.35 < patients["true_hpv"].mean() < 0.65
    assert 0.72 < scores["c_index"] < 0.83
    assert 0.84 < scores["hpv_auc"] < 0.93
    assert patients["rfs_days"].between(1, 36500).all()
    # the oracle is attainable: simple models of the true traits come close to it
    assert abs(scores["hpv_auc"] - scores["hpv_auc_from_traits"]) < 0.04
    assert abs(scores["c_index"] - scores["c_index_from_traits"]) < 0.05


def test_hpv_shifts_the_traits_and_its_posterior_is_calibrated():
    patients = pd.DataFrame([_patient_truth(p) for p in plan_cohort(400, seed=3)])
    hpv = patients["true_hpv"].astype(bool)
    # HPV-positive patients are younger, smoke less, have smaller primaries, larger nodes
    positive, negative = patients[hpv], patients[~hpv]
    assert positive["true_age"].mean() < negative["true_age"].mean() - 2
    assert positive["true_tobacco"].mean() < negative["true_tobacco"].mean() - 0.1
    assert positive["primary_volume_ml"].median() < negative["primary_volume_ml"].median()
    assert positive["nodal_volume_ml"].mean() > negative["nodal_volume_ml"].mean()
    assert positive["cystic_node_count"].mean() > 2 * negative["cystic_node_count"].mean()
    # calibrated: the posterior's mean in each probability band matches the observed rate
    bands = pd.cut(patients["true_hpv_probability"], [0, 0.2, 0.5, 0.8, 1])
    rates = patients.groupby(bands, observed=True).agg(
        p=("true_hpv_probability", "mean"), rate=("true_hpv", "mean"))
    np.testing.assert_allclose(rates["rate"], rates["p"], atol=0.12)


def _gtv_pet_statistics(cohort, pid: str) -> list[float]:
    """SUV mean, relative SD, max and p90, and voxel-to-voxel roughness inside the GTVs."""
    pet = sitk.ReadImage(str(_task_file(cohort, 1, pid, "__PT.nii.gz")))
    label = sitk.Resample(sitk.ReadImage(str(_task_file(cohort, 1, pid, ".nii.gz"))), pet,
                          sitk.Transform(), sitk.sitkNearestNeighbor)
    suv, inside = sitk.GetArrayFromImage(pet), sitk.GetArrayFromImage(label) > 0
    values = suv[inside]
    neighbours = inside[:, :, 1:] & inside[:, :, :-1]
    roughness = np.abs(np.diff(suv, axis=2)[neighbours]).mean()
    mean = values.mean()
    return [mean, values.std() / mean, roughness / mean, values.max() / mean,
            np.percentile(values, 90) / mean]


def _background_pet_statistics(cohort, pid: str) -> list[float]:
    """SUV mean, relative SD and voxel-to-voxel roughness in the posterior neck muscles (a
    region without lesions: what the protocol alone does to any region's features)."""
    pet = sitk.ReadImage(str(_task_file(cohort, 1, pid, "__PT.nii.gz")))
    low = pet.TransformPhysicalPointToIndex((-20.0, 50.0, -70.0))
    high = pet.TransformPhysicalPointToIndex((20.0, 62.0, -40.0))
    box = sitk.GetArrayFromImage(pet)[low[2]:high[2] + 1, low[1]:high[1] + 1,
                                      low[0]:high[0] + 1]
    mean = box.mean()
    return [mean, box.std() / mean, np.abs(np.diff(box, axis=2)).mean() / mean]


def test_centre_effect_is_real(cohort, truth):
    """Each centre's protocol (resolution, voxel size, noise level and correlation, SUV
    calibration) leaves a signature that tells centres apart better than chance."""
    patients, _ = truth
    features = np.array([_gtv_pet_statistics(cohort, pid) + _background_pet_statistics(
        cohort, pid) for pid in patients["patient_id"]])
    centres = patients["center"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(4, shuffle=True, random_state=0)
    accuracy = cross_val_score(model, features, centres, cv=folds).mean()
    majority = pd.Series(centres).value_counts(normalize=True).max()
    assert accuracy > majority + 0.15


def test_both_layouts_pass_validation(cohort, tmp_path):
    flat = generate_cohort(tmp_path / "flat", 4, seed=1, layout="flat")
    assert (flat.dataset_dir / "imagesTr").is_dir() and (flat.dataset_dir / "labelsTr").is_dir()
    for dataset in (cohort.dataset_dir, flat.dataset_dir):
        manifest = discover(dataset)
        report = validate_manifest(manifest)
        errors = report.table[report.table["severity"] == "error"]
        assert errors.empty, errors.to_string()
        assert manifest["has_clinical"].all()
    flat_manifest = discover(flat.dataset_dir)
    assert flat_manifest["dose_path"].notna().sum() == pd.read_parquet(
        flat.ground_truth_dir / "patients.parquet")["has_dose"].sum()


def test_bad_settings_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown centre"):
        generate_cohort(tmp_path, 2, seed=0, centers=["XYZ"])
    with pytest.raises(ConfigError, match="unknown scale"):
        generate_cohort(tmp_path, 2, seed=0, scale="huge")
    with pytest.raises(ConfigError, match="unknown layout"):
        generate_cohort(tmp_path, 2, seed=0, layout="nnunet")


def test_cli_writes_dataset_and_ground_truth(tmp_path):
    result = CliRunner().invoke(app, ["-q", "synth", str(tmp_path / "out"), "--patients", "2",
                                      "--seed", "4", "--centers", "USZ"])
    assert result.exit_code == 0, result.output
    truth = tmp_path / "out" / "ground_truth"
    for name in ("patients.parquet", "lesions.parquet", "centers.json", "oracle.json",
                 "parameters.json"):
        assert (truth / name).is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "dataset" / "Task 1").iterdir()) == [
        "USZ-001", "USZ-002"]
