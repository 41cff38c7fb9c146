"""Discovery finds patients in all three HECKTOR layouts and writes a complete manifest."""

from __future__ import annotations

import pandas as pd
import pytest

from radiomics_hnc.clinical import CLINICAL_COLUMNS
from radiomics_hnc.discover import center_of, detect_layout, discover, parse_image_name
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import read_provenance
from radiomics_hnc.workspace import Workspace
from tests.data_fixtures import write_flat, write_per_patient, write_per_task


def test_per_task_layout_merges_tasks_and_csvs(tmp_path):
    data = write_per_task(tmp_path / "data", ["CHUM-001", "CHUP-002"], dose_pids=("CHUM-001",))
    manifest = discover(data, tmp_path / "ws")
    assert detect_layout(data) == "per-task"
    assert list(manifest["patient_id"]) == ["CHUM-001", "CHUP-002"]
    chum = manifest.set_index("patient_id").loc["CHUM-001"]
    assert chum["center"] == "CHUM"
    assert chum["tasks"] == "1;2"
    assert chum["ct_path"].endswith("Task 1/CHUM-001/CHUM-001__CT.nii.gz")
    assert chum["dose_path"].endswith("Task 2/CHUM-001/CHUM-001__RTDOSE.nii.gz")
    assert chum["planning_ct_path"].endswith("CHUM-001__CTPlanning.nii.gz")
    assert list(chum["ct_size"]) == [24, 24, 12]
    assert list(chum["pet_spacing"]) == [4.0, 4.0, 4.0]
    assert list(chum["ct_origin"]) == [-24.0, -24.0, -18.0]
    assert chum["ct_orientation"] == "LPS"
    chup = manifest.set_index("patient_id").loc["CHUP-002"]
    assert pd.isna(chup["dose_path"]) and chup["dose_size"] is None
    # clinical columns normalised from the organisers' spellings
    assert chum["age"] == 61 and chum["gender"] == 1 and chum["tobacco"] == 1
    assert pd.isna(chum["alcohol"])
    assert chum["m_stage"] == "M0" and chum["hpv_status"] == 1
    assert chum["relapse"] == 0 and chum["rfs_days"] == 1200.0
    assert set(CLINICAL_COLUMNS) <= set(manifest.columns)
    # the file round-trips with provenance
    on_disk = Workspace(tmp_path / "ws").load_manifest()
    assert list(on_disk["patient_id"]) == ["CHUM-001", "CHUP-002"]
    meta = read_provenance(Workspace(tmp_path / "ws").manifest_path)
    assert meta["layout"] == "per-task" and meta["package"] == "radiomics-hnc"


def test_flat_layout_with_2022_spellings_and_underscore_labels(tmp_path):
    data = write_flat(tmp_path / "data", ["HGJ-010", "MDA-200"], underscore_labels=True)
    manifest = discover(data).set_index("patient_id")
    assert detect_layout(data) == "flat"
    assert list(manifest.index) == ["HGJ-010", "MDA-200"]
    assert manifest.loc["HGJ-010", "label_path"].endswith("labelsTr/HGJ_010.nii.gz")
    assert manifest.loc["HGJ-010", "gender"] == 1
    assert manifest.loc["HGJ-010", "tobacco"] == 1 and manifest.loc["HGJ-010", "alcohol"] == 0
    assert manifest.loc["HGJ-010", "performance_status"] == 1
    assert manifest.loc["HGJ-010", "m_stage"] == "Mx"
    assert pd.isna(manifest.loc["HGJ-010", "hpv_status"])


def test_per_patient_layout_reads_t_and_n_stage(tmp_path):
    data = write_per_patient(tmp_path / "data", ["USZ-003"])
    manifest = discover(data).set_index("patient_id")
    assert detect_layout(data) == "per-patient"
    assert manifest.loc["USZ-003", "t_stage"] == "T2"
    assert manifest.loc["USZ-003", "n_stage"] == "N1"
    assert manifest.loc["USZ-003", "layout"] == "per-patient"


def test_clinical_row_without_images_is_kept_for_validation(tmp_path):
    data = write_per_task(tmp_path / "data", ["CHUM-001"])
    csv = data / "HECKTOR_2025_Training_Task_1.csv"
    table = pd.read_csv(csv)
    extra = table.iloc[[0]].assign(PatientID="CHUM-999")
    pd.concat([table, extra]).to_csv(csv, index=False)
    manifest = discover(data).set_index("patient_id")
    assert pd.isna(manifest.loc["CHUM-999", "ct_path"])
    assert bool(manifest.loc["CHUM-999", "has_clinical"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CHUM-001__CT.nii.gz", ("CHUM-001", "ct")),
        ("CHUM-001__PT.nii.gz", ("CHUM-001", "pet")),
        ("CHUM-001__CTPlanning.nii.gz", ("CHUM-001", "planning_ct")),
        ("CHUM-001__RTDOSE.nii.gz", ("CHUM-001", "dose")),
        ("CHUM-001__dosimetry_CT.nii.gz", ("CHUM-001", "planning_ct")),
        ("CHUM-001__radiotherapy_dosemaps.nii.gz", ("CHUM-001", "dose")),
        ("CHUM-001.nii.gz", ("CHUM-001", "label")),
        ("CHUM-001__unknown.nii.gz", None),
        ("notes.txt", None),
    ],
)
def test_file_names(name, expected):
    assert parse_image_name(name) == expected


def test_center_of():
    assert center_of("CHUM-001") == "CHUM"
    assert center_of("mda_300") == "MDA"


def test_unknown_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no HECKTOR layout recognised"):
        discover(tmp_path / "empty")
    with pytest.raises(InputDataError, match="dataset folder not found"):
        discover(tmp_path / "missing")
