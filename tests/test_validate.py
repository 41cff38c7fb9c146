"""Each broken input produces its own check id and severity while good patients still pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk

from radiomics_hnc.discover import discover
from radiomics_hnc.validate import CHECKS, validate_workspace
from radiomics_hnc.workspace import Workspace, patient_file
from tests.data_fixtures import (
    CSV_COLUMNS_2025,
    clinical_row,
    tiny_images,
    truncate_file,
    write_patient,
)

GOOD = "CHUM-001"


def _label_value_3(images):
    arr = sitk.GetArrayFromImage(images["label"])
    arr[0, 0, 0] = 3
    label = sitk.GetImageFromArray(arr)
    label.CopyInformation(images["CT"])
    images["label"] = label


def _label_on_pet_grid(images):
    images["label"] = sitk.Resample(images["label"], images["PT"], sitk.Transform(),
                                    sitk.sitkNearestNeighbor)


def _pet_in_bq_ml(images):
    images["PT"] = images["PT"] * 5000.0


def _ct_without_offset(images):
    images["CT"] = images["CT"] + 1024


def _empty_label(images):
    images["label"] = images["label"] * 0


def _pet_far_away(images):
    images["PT"].SetOrigin((500.0, 500.0, 500.0))


def _dose_in_cgy(images):
    images["RTDOSE"] = images["RTDOSE"] * 100.0


def _no_pet(images):
    del images["PT"]


def _no_planning_ct(images):
    del images["CTPlanning"]


def _no_dose_map(images):
    del images["RTDOSE"]


def _no_label(images):
    del images["label"]


def _pet_mostly_outside(images):
    images["PT"].SetOrigin((8.0, -22.0, -16.0))  # 30 mm along x: covers ~1/3 of the CT box


# (patient id, how to break the images, whether the patient has dose, expected check, severity)
IMAGE_CASES = [
    ("CHUM-002", _label_value_3, False, "label_values", "error"),
    ("CHUM-003", _label_on_pet_grid, False, "label_not_on_ct_grid", "error"),
    ("CHUM-004", _pet_in_bq_ml, False, "pet_not_suv", "error"),
    ("CHUM-005", _ct_without_offset, False, "ct_not_hu", "error"),
    ("CHUM-006", _empty_label, False, "label_empty", "warning"),
    ("CHUM-007", _pet_far_away, False, "no_overlap", "error"),
    ("CHUM-008", _dose_in_cgy, True, "dose_not_gy", "warning"),
    ("CHUM-009", _no_pet, False, "missing_image", "error"),
    ("CHUM-010", _no_planning_ct, True, "dose_without_planning_ct", "warning"),
    ("CHUM-020", _pet_mostly_outside, False, "partial_overlap", "warning"),
    ("CHUM-021", _no_dose_map, True, "planning_ct_without_dose", "warning"),
    ("CHUM-022", _no_label, False, "missing_label", "warning"),
]


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    data = root / "data"
    rows = [clinical_row(GOOD)]
    write_patient(data / "Task 1" / GOOD, GOOD, tiny_images(1))
    for pid, breaker, dose, _, _ in IMAGE_CASES:
        images = tiny_images(2, dose=dose)
        breaker(images)
        write_patient(data / ("Task 2" if dose else "Task 1") / pid, pid, images)
        rows.append(clinical_row(pid))
    # a truncated .nii.gz
    write_patient(data / "Task 1" / "CHUM-011", "CHUM-011", tiny_images(3))
    truncate_file(data / "Task 1" / "CHUM-011" / "CHUM-011__CT.nii.gz")
    rows.append(clinical_row("CHUM-011"))
    # images without a clinical row: CHUM-012; a clinical row without images: CHUM-013
    write_patient(data / "Task 1" / "CHUM-012", "CHUM-012", tiny_images(4))
    rows.append(clinical_row("CHUM-013"))
    # impossible clinical values
    for pid, overrides in (("CHUM-014", {"RFS": -30}), ("CHUM-015", {"Age": 250}),
                           ("CHUM-016", {"Relapse": 2}), ("CHUM-017", {"HPV Status": 3})):
        write_patient(data / "Task 1" / pid, pid, tiny_images(5))
        rows.append(clinical_row(pid, **overrides))
    # a duplicated id in the table, and an id that is not safe as a file name
    write_patient(data / "Task 1" / "CHUM-018", "CHUM-018", tiny_images(6))
    rows += [clinical_row("CHUM-018"), clinical_row("CHUM-018", Age=70)]
    write_patient(data / "Task 1" / "CHUM-..019", "CHUM-..019", tiny_images(7))
    rows.append(clinical_row("CHUM-..019"))
    # the same role twice with different content, and tables that disagree about the patient
    write_patient(data / "Task 1" / "CHUM-023", "CHUM-023", tiny_images(8))
    write_patient(data / "Task 3" / "CHUM-023", "CHUM-023", tiny_images(9))
    rows.append(clinical_row("CHUM-023"))
    pd.DataFrame([clinical_row("CHUM-023", Age=80)], columns=CSV_COLUMNS_2025).to_csv(
        data / "HECKTOR_2025_Training_Task_3.csv", index=False)
    # an image whose name has no known modality tag
    sitk.WriteImage(tiny_images(0)["CT"], str(data / "Task 1" / GOOD / f"{GOOD}__XCT.nii.gz"))
    # one patient under two id spellings
    for pid in ("CHUM-024", "CHUM_024"):
        write_patient(data / "Task 1" / pid, pid, tiny_images(10))
        rows.append(clinical_row(pid))
    pd.DataFrame(rows, columns=CSV_COLUMNS_2025).to_csv(
        data / "HECKTOR_2025_Training_Task_1.csv", index=False
    )
    workspace = root / "ws"
    discover(data, workspace)
    report = validate_workspace(workspace)
    return workspace, report


def _checks_of(report, pid):
    return {(f.check, f.severity) for f in report.findings if f.patient_id == pid}


def test_good_patient_passes(validated):
    _, report = validated
    assert {sev for _, sev in _checks_of(report, GOOD)} <= {"info"}
    assert GOOD not in report.excluded


@pytest.mark.parametrize(("pid", "check", "severity"),
                         [(c[0], c[3], c[4]) for c in IMAGE_CASES])
def test_image_rules(validated, pid, check, severity):
    _, report = validated
    assert (check, severity) in _checks_of(report, pid)
    assert (pid in report.excluded) == (severity == "error")


@pytest.mark.parametrize(("pid", "check", "severity"), [
    ("CHUM-011", "unreadable_file", "error"),
    ("CHUM-012", "missing_clinical", "warning"),
    ("CHUM-013", "missing_images", "error"),
    ("CHUM-014", "clinical_impossible", "error"),
    ("CHUM-015", "clinical_impossible", "error"),
    ("CHUM-016", "clinical_impossible", "error"),
    ("CHUM-017", "clinical_impossible", "error"),
    ("CHUM-018", "duplicate_id", "error"),
    ("CHUM-..019", "unsafe_id", "error"),
    ("CHUM-023", "file_conflict", "warning"),
    ("CHUM-023", "clinical_conflict", "warning"),
    ("CHUM-024", "duplicate_id", "error"),
    ("CHUM_024", "duplicate_id", "error"),
])
def test_cohort_rules(validated, pid, check, severity):
    _, report = validated
    assert (check, severity) in _checks_of(report, pid)


def test_unrecognised_image_name_is_reported_with_its_file(validated):
    _, report = validated
    found = [f for f in report.findings if f.check == "unrecognised_file"]
    assert [(f.patient_id, f.severity) for f in found] == [(None, "warning")]
    assert found[0].file.endswith(f"{GOOD}__XCT.nii.gz")


def test_findings_name_the_file_and_what_was_found(validated):
    _, report = validated
    bq = next(f for f in report.findings if f.check == "pet_not_suv")
    assert bq.file.endswith("CHUM-004__PT.nii.gz")
    assert "Bq/ml" in bq.message and bq.found.startswith("max ")
    unreadable = next(f for f in report.findings if f.check == "unreadable_file")
    assert unreadable.file.endswith("CHUM-011__CT.nii.gz")


def test_validation_json_is_machine_readable(validated):
    workspace, report = validated
    data = json.loads(Workspace(workspace).validation_path.read_text())
    assert set(data["excluded"]) == set(report.excluded)
    assert {"patient_id", "file", "check", "severity", "message"} <= set(data["findings"][0])
    assert set(data["checks"]) == set(CHECKS)
    gtvn = [f for f in data["findings"] if f["check"] == "gtvn_components"
            and f["patient_id"] == GOOD]
    assert gtvn and gtvn[0]["found"] == "2"
    eligible = Workspace(workspace).eligible_manifest()
    assert GOOD in set(eligible["patient_id"]) and "CHUM-004" not in set(eligible["patient_id"])


def test_unsafe_ids_never_build_paths(tmp_path):
    with pytest.raises(Exception, match="not safe as a file name"):
        patient_file(tmp_path, "../../etc/passwd", ".nii.gz")
    with pytest.raises(Exception, match="not safe as a file name"):
        patient_file(tmp_path, "CHUM-\x00001", ".nii.gz")
    assert patient_file(tmp_path, "CHUM-001", ".nii.gz") == tmp_path / "CHUM-001.nii.gz"


def test_every_check_is_explained_in_the_user_guide():
    guide = (Path(__file__).parents[1] / "docs" / "user-guide.md").read_text()
    section = guide.split("## 3.")[1].split("## 4.")[0]
    assert not set(CHECKS) - set(re.findall(r"`([a-z_]+)`", section))


def test_clinical_columns_missing_ignored_and_rfs_zero(tmp_path):
    """A centre's own export: ';'-separated, an unrecognised relapse column, no HPV column,
    and an RFS of 0 days."""
    data = tmp_path / "data"
    for seed, pid in enumerate(("CHUM-001", "CHUM-002")):
        write_patient(data / pid, pid, tiny_images(seed))
    (data / "clinical.csv").write_text(
        "PatientID;Age;Recurrence_flag;RFS\nCHUM-001;61;1;400\nCHUM-002;70;0;0\n")
    manifest = discover(data, tmp_path / "ws")
    assert manifest.set_index("patient_id").loc["CHUM-001", "age"] == 61  # ';' was read
    report = validate_workspace(tmp_path / "ws")
    cohort = {f.check: f for f in report.findings if f.patient_id is None}
    ignored = cohort["outcome_column_ignored"]
    assert ignored.severity == "warning" and ignored.file.endswith("clinical.csv")
    assert ignored.message.startswith("column 'Recurrence_flag' was not recognised and is "
                                      "ignored")
    missing = {f.message.split(":")[0]: f for f in report.findings
               if f.check == "outcome_column_missing"}
    assert set(missing) == {"no clinical table has the relapse column",
                            "no clinical table has the hpv_status column"}
    relapse = missing["no clinical table has the relapse column"]
    assert "RFS models have no labelled patient" in relapse.message
    assert "Recurrence" in relapse.expected and "Event (if unambiguous)" in relapse.expected
    assert relapse.found == "columns read: age, patient_id, rfs_days"
    zero = [f for f in report.findings if f.check == "rfs_zero"]
    assert [(f.patient_id, f.severity) for f in zero] == [("CHUM-002", "warning")]
    assert "treat the patient as unlabelled" in zero[0].message
    assert report.excluded == []
