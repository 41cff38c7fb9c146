"""Real PET/CT regression (issue #17): ten real FDG PET/CT patients (soft-tissue sarcoma, TCIA,
``../shared/data/sts_pet_ct``) packed as a HECKTOR dataset and run through discover, validate
and extract.

How the patients enter the dataset: each gets its PET, its CT where there is one and the
CT-grid contour as its label map (HECKTOR labels live on the CT grid). STS_007 and STS_009
have no CT image: a PET/CT pipeline genuinely cannot extract them (their label map is defined
on a CT grid that does not exist), so validate excludes them with a missing-CT error and the
CT checks count 8 patients. Their PET-mask agreement is still measured, straight from the
engine (the CT-grid mask exists for all ten).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import radiomics
from radiomics.featureextractor import RadiomicsFeatureExtractor

from benchmarks import sts_pet_ct
from radiomics_hnc.discover import discover
from radiomics_hnc.features import extract_features
from radiomics_hnc.features.configs import load_feature_configs
from radiomics_hnc.features.pyradiomics_engine import LesionFeatureExtractor
from radiomics_hnc.validate import validate_workspace
from tests.real_data import STS_DATA, require

radiomics.setVerbosity(logging.ERROR)

WITHOUT_CT = {"STS_007", "STS_009"}
#: Patients whose CT features are compared with PyRadiomics class by class (the smallest
#: tumours); the other CT patients are compared on shape and first order, which every
#: class's input (resampling, cropping) goes through. Every class is compared at least once.
ALL_CLASSES = {"STS_002", "STS_003", "STS_008"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The ten patients in the HECKTOR 2025 per-task layout (links to the shared files: read in
    place), discovered, validated and extracted with the default settings."""
    require(STS_DATA, "the real PET/CT patients (sts_pet_ct)")
    root = tmp_path_factory.mktemp("sts")
    for patient in sts_pet_ct.PATIENTS:
        folder = root / "dataset" / "Task 1" / patient
        folder.mkdir(parents=True)
        source = STS_DATA / patient
        if (source / "CT_image.nii.gz").is_file():
            (folder / f"{patient}__CT.nii.gz").symlink_to(source / "CT_image.nii.gz")
        (folder / f"{patient}__PT.nii.gz").symlink_to(source / "PET_image.nii.gz")
        (folder / f"{patient}.nii.gz").symlink_to(source / "CT_mask.nii.gz")
    ws = root / "ws"
    discover(root / "dataset", ws)
    validate_workspace(ws)
    extract_features(ws)
    return ws


def test_only_patients_without_ct_are_excluded(workspace):
    manifest = pd.read_parquet(workspace / "manifest.parquet")
    assert len(manifest) == 10
    report = json.loads((workspace / "validation.json").read_text())
    assert set(report["excluded"]) == WITHOUT_CT
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert {(f["patient_id"], f["check"]) for f in errors} == {
        (pid, "missing_image") for pid in WITHOUT_CT}
    assert all("CT" in f["message"] for f in errors)


def test_every_patient_with_ct_is_extracted(workspace):
    lesions = pd.read_parquet(workspace / "features" / "lesions.parquet")
    errors = pd.read_parquet(workspace / "features" / "errors.parquet")
    assert sorted(lesions["patient_id"]) == sorted(set(sts_pet_ct.PATIENTS) - WITHOUT_CT)
    assert (lesions["lesion_id"] == "GTVp").all() and not lesions["too_small"].any()
    assert errors.empty, errors.to_dict("records")
    assert lesions.filter(like="PT_original_").notna().all().all()


def test_ct_features_equal_pyradiomics_run_directly(workspace):
    lesions = pd.read_parquet(workspace / "features" / "lesions.parquet").set_index("patient_id")
    params = load_feature_configs().params("ct")
    compared_classes = set()
    for patient in lesions.index:
        run = dict(params)
        if patient not in ALL_CLASSES:
            run["featureClass"] = {"shape": None, "firstorder": None}
        reference = RadiomicsFeatureExtractor(run).execute(
            str(STS_DATA / patient / "CT_image.nii.gz"), str(STS_DATA / patient / "CT_mask.nii.gz"))
        for name, value in reference.items():
            if name.startswith("diagnostics_"):
                continue
            ours = lesions.loc[patient, f"CT_{name}"]
            assert ours == pytest.approx(float(value), rel=1e-6, abs=1e-9), (patient, name)
            compared_classes.add(name.split("_")[1])
    assert compared_classes == set(params["featureClass"])


@pytest.fixture(scope="module")
def agreement():
    require(STS_DATA, "the real PET/CT patients (sts_pet_ct)")
    return sts_pet_ct.run(STS_DATA)


def test_pipeline_pet_features_are_the_engines_from_the_mapped_mask(workspace):
    lesions = pd.read_parquet(workspace / "features" / "lesions.parquet").set_index("patient_id")
    extractor = LesionFeatureExtractor(load_feature_configs().settings("pet"), "PT")
    for patient in lesions.index:
        pet, _, mapped = sts_pet_ct.patient_masks(STS_DATA, patient)
        for name, value in extractor.extract(pet, mapped).items():
            assert lesions.loc[patient, name] == pytest.approx(value, rel=1e-9), (patient, name)


def test_pet_from_the_ct_grid_mask_agrees_with_the_pet_native_mask(agreement):
    summary = agreement["summary"]
    assert summary["patients"] == 10
    assert summary["suvmax_equal"] >= 9
    assert summary["suvmean_max_relative_difference"] <= sts_pet_ct.SUVMEAN_TOLERANCE
    assert summary["volume_max_relative_difference"] <= sts_pet_ct.VOLUME_TOLERANCE
    for config in sts_pet_ct.PET_CONFIGS:
        classes = {row["class"] for row in agreement["classes"][config]}
        assert classes == {"firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
        for row in agreement["classes"][config]:
            assert row["median_relative_difference"] < 0.01, (config, row)


def test_reported_agreement_is_current(agreement):
    committed = json.loads((sts_pet_ct.RESULTS / "sts_pet_ct.json").read_text())
    assert committed["summary"] == pytest.approx(agreement["summary"], rel=1e-9)
    for config in sts_pet_ct.PET_CONFIGS:
        for mine, theirs in zip(agreement["classes"][config], committed["classes"][config],
                                strict=True):
            assert mine["class"] == theirs["class"]
            assert np.allclose([mine[k] for k in mine if isinstance(mine[k], float)],
                               [theirs[k] for k in theirs if isinstance(theirs[k], float)],
                               rtol=1e-6), "rerun python -m benchmarks.sts_pet_ct"
