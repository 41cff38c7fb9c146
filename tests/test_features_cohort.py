"""Cohort extraction end to end: tables, failures, null dose, caching, kill -9, Dask, CLI."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import radiomics
import SimpleITK as sitk

from radiomics_hnc.features import extract_features
from radiomics_hnc.features.lesions import find_lesions
from radiomics_hnc.io import read_provenance, write_image
from tests.features_phantoms import make_patient, many_patient_workspace, write_workspace

radiomics.setVerbosity(logging.ERROR)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Four patients: with dose and a tiny node, without dose, a corrupt CT, a corrupt dose."""
    root = tmp_path_factory.mktemp("cohort")
    with_dose = make_patient(seed=1, tiny_node=True)
    no_dose = make_patient(seed=2)
    del no_dose["planning_ct"], no_dose["dose"]
    broken = make_patient(seed=3)
    ws = write_workspace(root, {"CHUM-001": with_dose, "CHUM-002": no_dose,
                                "CHUP-003": broken, "CHUV-004": make_patient(seed=4)})
    (root / "data" / "CHUP-003__ct.nii.gz").write_bytes(b"not a nifti file at all")
    (root / "data" / "CHUV-004__dose.nii.gz").write_bytes(b"truncated")
    return ws, {"CHUM-001": with_dose, "CHUM-002": no_dose}


@pytest.fixture(scope="module")
def first_run(cohort):
    ws, _ = cohort
    return extract_features(ws)


def _tables(ws: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(ws / "features" / f"{name}.parquet")
            for name in ("lesions", "patients", "errors")}


def test_one_row_per_true_lesion_and_patient(cohort, first_run):
    ws, images = cohort
    lesions = first_run.lesions
    for pid, patient in images.items():
        truth = [les.lesion_id for les in find_lesions(patient["label"])]
        assert lesions.loc[lesions["patient_id"] == pid, "lesion_id"].tolist() == truth
    assert list(lesions.columns[:4]) == ["patient_id", "center", "lesion_id", "label"]
    assert {"CT_original_glcm_Contrast", "CT_original_shape_MeshVolume", "PT_suv_SUVpeak",
            "PT_original_firstorder_Maximum", "RTDOSE_original_firstorder_Mean",
            "RTDOSE_dvh_D95", "MASK_volume_ml"} <= set(lesions.columns)
    patients = first_run.patients
    assert patients["patient_id"].tolist() == ["CHUM-001", "CHUM-002", "CHUV-004"]
    assert patients.loc[0, "GTVn_MASK_count"] == 3
    gtvp = lesions[(lesions.patient_id == "CHUM-001") & (lesions.lesion_id == "GTVp")].iloc[0]
    assert patients.loc[0, "GTVp_PT_suv_SUVmax"] == gtvp["PT_suv_SUVmax"]
    node_tlg = lesions.loc[(lesions.patient_id == "CHUM-001") & (lesions.label == 2),
                           "PT_suv_TLG"].sum()
    assert patients.loc[0, "GTVall_PT_suv_TLG"] == pytest.approx(gtvp["PT_suv_TLG"] + node_tlg)
    assert patients.loc[0, "GTVall_MASK_max_centroid_distance_mm"] > 40.0
    assert {"age", "relapse", "rfs_days"} <= set(patients.columns)
    for name, on_disk in _tables(ws).items():  # Python users get the tables on disk
        pd.testing.assert_frame_equal(on_disk, getattr(first_run, name), check_exact=True)
    assert read_provenance(ws / "features" / "lesions.parquet")["config_sha256"]


def test_missing_dose_gives_null_dose_columns(first_run):
    lesions = first_run.lesions.set_index(["patient_id", "lesion_id"])
    no_dose = lesions.loc["CHUM-002"]
    assert no_dose.filter(like="RTDOSE_").isna().all().all()
    assert not no_dose["dose_available"].any()
    with_dose = lesions.loc[("CHUM-001", "GTVp")]
    assert with_dose["RTDOSE_dvh_D95"] > 60.0 and with_dose["RTDOSE_dvh_V60Gy"] == 100.0
    assert with_dose["dose_registration_failed"] == np.False_


def test_tiny_lesion_is_flagged_with_shape_only(first_run):
    lesions = first_run.lesions
    tiny = lesions[(lesions.patient_id == "CHUM-001") & (lesions.lesion_id == "GTVn_3")].iloc[0]
    assert tiny["too_small"]
    assert tiny["MASK_volume_ml"] < 0.5 and tiny["CT_original_shape_VoxelVolume"] > 0
    assert np.isnan(tiny["CT_original_glcm_Contrast"]) and np.isnan(tiny["PT_suv_SUVmax"])


def test_corrupt_image_fails_that_patient_only(first_run):
    errors = first_run.errors
    assert errors["patient_id"].tolist() == ["CHUP-003", "CHUV-004"]
    row = errors.iloc[0]
    assert row["stage"] == "extract" and row["error_type"] == "InputDataError"
    assert "CHUP-003__ct.nii.gz" in row["message"] and pd.isna(row["lesion_id"])
    assert first_run.failed == ["CHUP-003"]


def test_corrupt_dose_map_leaves_dose_empty_and_keeps_the_patient(first_run):
    error = first_run.errors.set_index("patient_id").loc["CHUV-004"]
    assert error["stage"] == "extract:RTDOSE" and "CHUV-004__dose.nii.gz" in error["message"]
    lesions = first_run.lesions[first_run.lesions.patient_id == "CHUV-004"]
    assert len(lesions) == 3
    assert lesions.loc[~lesions["too_small"], "PT_suv_SUVmax"].notna().all()
    assert lesions.filter(like="RTDOSE_").isna().all().all()


def test_rerun_skips_unchanged_and_recomputes_changed(cohort, first_run):
    ws, images = cohort
    rerun = extract_features(ws)
    assert rerun.skipped == ["CHUM-001", "CHUM-002", "CHUV-004"] and rerun.computed == []
    assert rerun.failed == ["CHUP-003"]
    pd.testing.assert_frame_equal(rerun.lesions, first_run.lesions)
    brighter = sitk.Cast(images["CHUM-002"]["pet"] * 2.0, sitk.sitkFloat32)
    write_image(brighter, ws.parent / "data" / "CHUM-002__pet.nii.gz")
    changed = extract_features(ws)
    assert changed.computed == ["CHUM-002"] and changed.skipped == ["CHUM-001", "CHUV-004"]
    new = changed.lesions.set_index(["patient_id", "lesion_id"])
    old = first_run.lesions.set_index(["patient_id", "lesion_id"])
    assert new.loc[("CHUM-002", "GTVp"), "PT_suv_SUVmax"] == pytest.approx(
        2.0 * old.loc[("CHUM-002", "GTVp"), "PT_suv_SUVmax"], rel=1e-6)
    write_image(images["CHUM-002"]["pet"], ws.parent / "data" / "CHUM-002__pet.nii.gz")
    extract_features(ws)


def test_rerun_after_kill_9_matches_an_uninterrupted_run(tmp_path):
    ws = many_patient_workspace(tmp_path, 8, make_patient(seed=5))
    code = ("import sys; from radiomics_hnc.features import extract_features; "
            "extract_features(sys.argv[1])")
    process = subprocess.Popen([sys.executable, "-c", code, str(ws)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = ws / "features" / "cache"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.glob("*.arrow"))) < 2:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {p.stem for p in cache.glob("*.arrow")}
    assert 2 <= len(done_before) < 8, "the kill must land in the middle of the run"
    assert not (ws / "features" / "lesions.parquet").exists()
    resumed = extract_features(ws)
    assert set(resumed.skipped) == done_before and len(resumed.computed) == 8 - len(done_before)
    uninterrupted = extract_features(ws, force=True)
    pd.testing.assert_frame_equal(resumed.lesions, uninterrupted.lesions, check_exact=True)
    pd.testing.assert_frame_equal(resumed.patients, uninterrupted.patients)


def test_a_damaged_cache_is_reported_removed_and_recomputed(tmp_path, monkeypatch):
    """A cache file current by its footer but damaged inside must not stop the run (nor every
    rerun): the patient is reported and left out, the file removed, the next run recomputes."""
    from radiomics_hnc.features import extract as extract_module

    ws = many_patient_workspace(tmp_path, 2, make_patient(seed=5))
    first = extract_features(ws)
    damaged = ws / "features" / "cache" / "CHB-002.arrow"
    read = extract_module.read_arrow

    def read_damaged(path):
        if Path(path) == damaged:
            raise pa.ArrowInvalid("Buffer 3 did not start on 8-byte aligned offset")
        return read(path)

    monkeypatch.setattr(extract_module, "read_arrow", read_damaged)
    rerun = extract_features(ws)
    assert rerun.failed == ["CHB-002"] and not damaged.exists()
    assert rerun.patients["patient_id"].tolist() == ["CHB-001"]
    error = rerun.errors.set_index("patient_id").loc["CHB-002"]
    assert error["error_type"] == "DamagedCache" and str(damaged) in error["message"]
    monkeypatch.undo()
    again = extract_features(ws)
    assert again.computed == ["CHB-002"] and again.skipped == ["CHB-001"]
    pd.testing.assert_frame_equal(again.lesions, first.lesions, check_exact=True)


def test_dask_backend_on_two_workers_gives_identical_tables(cohort, first_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    ws, _ = cohort
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("features"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = extract_features(copy, backend="dask", scheduler=cluster.scheduler_address)
    assert sorted(result.computed) == ["CHUM-001", "CHUM-002", "CHUV-004"]
    pd.testing.assert_frame_equal(result.lesions, first_run.lesions, check_exact=True)
    pd.testing.assert_frame_equal(result.patients, first_run.patients)
    pd.testing.assert_frame_equal(result.errors, first_run.errors)


def test_cli_extract_with_predicted_masks(cohort, tmp_path):
    ws, images = cohort
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("features"))
    masks = copy / "masks"
    write_image(images["CHUM-002"]["label"], masks / "CHUM-002.nii.gz")
    code = "from radiomics_hnc.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "--quiet", "extract", str(copy),
                           "--masks", "predicted", "--jobs", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 patients extracted" in done.stdout and "3 failed" in done.stdout
    assert not (copy / "features").exists()  # predicted masks have their own folder
    errors = pd.read_parquet(copy / "features_predicted" / "errors.parquet")
    assert "CHUM-001.nii.gz" in errors.set_index("patient_id").loc["CHUM-001", "message"]
    bad = subprocess.run([sys.executable, "-c", code, "extract", str(copy), "--masks", "nowhere"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "nowhere" in bad.stderr


def test_a_mask_of_specks_fails_that_patient_with_a_clear_reason(tmp_path):
    speckled = make_patient(seed=6)
    del speckled["planning_ct"], speckled["dose"]
    labels = sitk.GetArrayFromImage(speckled["label"])
    labels[2, 2:62:2, 2:62:2] = 2  # 900 one-voxel "nodes", as a failed segmentation leaves
    noisy = sitk.GetImageFromArray(labels)
    noisy.CopyInformation(speckled["label"])
    speckled["label"] = noisy
    ws = write_workspace(tmp_path, {"CHUM-009": speckled})
    result = extract_features(ws)
    assert result.failed == ["CHUM-009"]
    message = result.errors.set_index("patient_id").loc["CHUM-009", "message"]
    assert "GTVn components" in message and "failed segmentation" in message


def test_shipped_specs_name_only_columns_the_extraction_writes(first_run):
    from radiomics_hnc.clinical import CLINICAL_COLUMNS
    from radiomics_hnc.modeling import load_spec

    models = Path(__file__).resolve().parents[1] / "models"
    named = {c for path in models.glob("[rh][fp][sv]_*.yaml") for c in load_spec(path).columns}
    assert named  # hpv_lesion_pattern names its predictors
    assert named - set(CLINICAL_COLUMNS) <= set(first_run.patients.columns)
