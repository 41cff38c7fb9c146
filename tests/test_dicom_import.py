"""``import-dicom`` end to end on generated patients exported as DICOM (issue #16).

Round trip: the import of each export equals the generator's NIfTI (HU exact, SUV to the
16-bit storage's precision, Dice of every label, dose), for the five PET header styles
(Bq/ml decay-corrected to START, series time after the acquisitions, GE's private scan time,
Philips counts with the private SUV factor, ADMIN). Then reruns, bad input, the command line
and the stages that read the imported dataset.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from radiomics_hnc.dicom import import_dicom
from radiomics_hnc.dicom.importer import LOG_JSON
from radiomics_hnc.discover import discover
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.validate import validate_manifest
from tests.dicom_fixtures import compare_patient, copy_series, dicom_cohort, files, rewrite
from tests.test_cli import run_cli

TRUTH_SUFFIXES = {"ct": "__CT.nii.gz", "pet": "__PT.nii.gz", "label": ".nii.gz",
                  "planning_ct": "__CTPlanning.nii.gz", "dose": "__RTDOSE.nii.gz"}
HOSTILE_ID = "../Müller, Hans\\001"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return dicom_cohort(tmp_path_factory.mktemp("dicom-cohort"))


@pytest.fixture(scope="module")
def imported(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "data"
    return import_dicom(cohort / "dicom", out), out


def _truth_files(cohort: Path, patient: str) -> dict[str, Path]:
    found = {}
    for task in ("Task 1", "Task 2"):
        for role, suffix in TRUTH_SUFFIXES.items():
            path = cohort / "dataset" / task / patient / f"{patient}{suffix}"
            if path.is_file():
                found.setdefault(role, path)
    return found


def _imported_files(out: Path, patient: str) -> dict[str, Path]:
    return {role: next(p for task in ("Task 1", "Task 2")
                       if (p := out / task / patient / f"{patient}{suffix}").is_file())
            for role, suffix in TRUTH_SUFFIXES.items()
            if any((out / task / patient / f"{patient}{suffix}").is_file()
                   for task in ("Task 1", "Task 2"))}


def test_round_trip_equals_the_generated_images(cohort, imported):
    result, out = imported
    assert {r["status"] for r in result.records} == {"imported"}, [
        r["problems"] for r in result.records if r["status"] != "imported"]
    styles, worst = set(), {}
    for record in result.records:
        source = record["dicom_patient_id"]
        truth = _truth_files(cohort, source)
        got = _imported_files(out, record["patient_id"])
        assert set(got) == set(truth)
        errors = compare_patient(truth, got)
        assert errors["ct"] == 0 and errors.get("planning_ct", 0) == 0  # HU exact
        # 16-bit PET storage with a slope per slice: |error| <= slope / 2 = max / 64000
        assert errors["pet"] <= 1e-4
        assert all(errors[k] >= 0.98 for k in errors if k.startswith("dice"))
        assert errors.get("dose", 0) <= 1e-4
        pet_truth = json.loads((cohort / "ground_truth" / "dicom" / f"{source}.json").read_text())
        style = pet_truth["pet"]["style"]
        styles.add(style)
        expected = pet_truth["pet"]["suv_factor"] / (2.0 if style == "cnts" else 1.0)
        assert record["suv"]["suv_factor"] == pytest.approx(expected, rel=1e-9)
        for key, value in errors.items():
            worst[key] = min(worst.get(key, 1.0), value) if key.startswith("dice") else max(
                worst.get(key, 0.0), value)
    assert styles == {"bqml", "late-series", "ge-private", "cnts", "admin"}
    print("round-trip worst:", worst)


def test_suv_rule_of_each_pet_style_is_logged(imported):
    result, _ = imported
    records = [r["suv"] for r in result.records]
    sources = {s.get("scan_start_source") for s in records}
    assert "SeriesDate/SeriesTime" in sources  # series time not after the acquisitions
    assert "GE private scan date-time (0009,100D)" in sources
    assert any(s and "FrameReferenceTime" in s for s in sources)  # acquisition before series
    rules = {s["rule"] for s in records}
    assert "Units BQML, DecayCorrection ADMIN" in rules
    assert "Units CNTS: Philips SUV scale factor (7053,1000)" in rules
    for suv in records:
        assert suv["weight_kg"] > 0 and suv["suv_factor"] > 0


def test_rois_mapped_and_unmapped_are_logged(imported):
    result, _ = imported
    for record in result.records:
        labels = {r["name"]: r["label"] for r in record["rois"]}
        assert labels.pop("PTV_70") is None  # an expansion is never a GTV
        assert set(labels.values()) <= {"GTVp", "GTVn"} and labels
        assert any("unmapped ROIs: ['PTV_70']" in p["message"] for p in record["problems"])


def test_imported_dataset_is_read_by_discover_and_validate(cohort, imported):
    result, out = imported
    manifest = discover(out)
    assert sorted(manifest["patient_id"]) == sorted(r["patient_id"] for r in result.records)
    assert manifest["ct_path"].notna().all() and manifest["label_path"].notna().all()
    with_dose = {r["patient_id"] for r in result.records if r["dose"]}
    assert set(manifest.loc[manifest["dose_path"].notna(), "patient_id"]) == with_dose
    assert set(manifest.loc[manifest["planning_ct_path"].notna(), "patient_id"]) == with_dose
    assert set(manifest["center"]) == {"EXT"}
    report = validate_manifest(manifest)
    errors = [f for f in report.findings if f.severity == "error"]
    assert not errors, [f.describe() for f in errors]
    # the clinical template carries the headers' age and sex
    clinical = pd.read_csv(out / "clinical.csv")
    truth = pd.read_parquet(cohort / "ground_truth" / "patients.parquet").set_index("patient_id")
    for record in result.records:
        row = clinical.set_index("PatientID").loc[record["patient_id"]]
        source = truth.loc[record["dicom_patient_id"]]
        assert row["Age"] == int(source["true_age"])
        assert row["Gender"] == int(source["true_gender"])
        assert np.isnan(row["RFS"])  # left for the user


def test_rerun_imports_only_changed_patients_and_keeps_ids(cohort, tmp_path):
    source = tmp_path / "dicom"
    shutil.copytree(cohort / "dicom", source)
    out = tmp_path / "data"
    first = import_dicom(source, out)
    ids = {r["dicom_patient_id"]: r["patient_id"] for r in first.records}
    ct = out / "Task 1" / ids["CHB-001"] / f"{ids['CHB-001']}__CT.nii.gz"
    written = ct.stat().st_mtime_ns
    (out / "clinical.csv").write_text("PatientID,Age,RFS\nEXT-001,50,900\n")  # the user's work
    second = import_dicom(source, out)
    assert second.processed == [] and len(second.unchanged) == len(ids)
    assert ct.stat().st_mtime_ns == written
    changed = files(source / "CHUV-001" / "petct" / "PET")[0]
    rewrite([changed], PatientSize="1.70")
    third = import_dicom(source, out)
    assert third.processed == [ids["CHUV-001"]]
    assert {r["dicom_patient_id"]: r["patient_id"] for r in third.records} == ids
    assert (out / "clinical.csv").read_text().startswith("PatientID,Age,RFS\nEXT-001,50,900")
    assert import_dicom(source, out, force=True).processed == sorted(ids.values())
    with pytest.raises(ConfigError, match="imported with --center EXT, not HOSP"):
        import_dicom(source, out, center="HOSP")


@pytest.fixture(scope="module")
def damaged(cohort, tmp_path_factory):
    """A copy of the export with one problem per patient (see the test names)."""
    root = tmp_path_factory.mktemp("damaged")
    source = root / "dicom"
    shutil.copytree(cohort / "dicom", source)
    shutil.rmtree(source / "CHB-001" / "petct" / "PET")  # no PET
    rewrite(files(source / "CHUM-001" / "petct" / "PET"), PatientWeight=None)
    chup = source / "CHUP-001" / "petct"
    copy_series(chup / "CT", chup / "CT thin", every=2, SeriesNumber="7",
                SeriesDescription="CT second")
    copy_series(chup / "PET", chup / "PET NAC", CorrectedImage=["DECY", "SCAT"],
                SeriesDescription="PET NAC")
    copy_series(chup / "CT", chup / "scout", every=100, SeriesDescription="topogram",
                ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    structure = source / "CHUS-001" / "petct" / "RTSTRUCT.dcm"
    ds = pydicom.dcmread(structure)
    for roi in ds.StructureSetROISequence:
        roi.ReferencedFrameOfReferenceUID = "1.2.3.4.5"
    ds.save_as(structure)
    rewrite(files(source / "CHUS-001"), PatientID=HOSTILE_ID)
    shutil.move(chup / "PET", source / "CHUS-001" / "PET of another patient")  # mixed folder
    stray = copy_series(source / "CHUS-002" / "petct" / "CT", root / "stray", every=20)
    for path in stray:  # files of another patient inside CHUS-002's CT series
        rewrite([path], PatientID="STRAY")
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = pydicom.dcmread(files(source / "CHUS-002" / "petct" / "CT")[0]
                                               ).SeriesInstanceUID
        ds.save_as(source / "CHUS-002" / path.name)
    truncated = files(source / "CHUV-001" / "petct" / "CT")[3]
    truncated.write_bytes(truncated.read_bytes()[:5000])
    (source / "README.txt").write_text("exported from the PACS\n")
    (source / "CHUV-001" / "garbage").write_bytes(os.urandom(3000))
    result = import_dicom(source, root / "data")
    by_source = {r["dicom_patient_id"]: r for r in result.records}
    return result, by_source, root / "data", truncated


def _messages(record: dict, severity: str = "error") -> str:
    return "\n".join(p["message"] for p in record["problems"] if p["severity"] == severity)


def test_no_pet_fails_that_patient_only(damaged):
    _, by_source, out, _ = damaged
    record = by_source["CHB-001"]
    assert record["status"] == "failed" and record["outputs"] == {}
    assert "no usable PET series" in _messages(record)
    assert not (out / "Task 1" / record["patient_id"]).exists()
    assert by_source["CHUP-001"]["status"] == "imported"


def test_pet_without_weight_names_the_tag(damaged):
    _, by_source, _, _ = damaged
    record = by_source["CHUM-001"]
    assert record["status"] == "failed"
    assert "PatientWeight (0010,1030) (kg) is missing or empty" in _messages(record)


def test_two_cts_nac_pet_and_localizer_choose_and_say_which(damaged):
    by_source = damaged[1]
    record = by_source["CHUP-001"]
    assert record["status"] == "imported"
    assert record["series"]["ct"]["description"] == "CT 3mm"
    warnings = _messages(record, "warning")
    assert "2 CT series in the PET's study qualify: used CT series 2 'CT 3mm'" in warnings
    assert "not used: CT series 7 'CT second'" in warnings
    notes = _messages(record, "info")
    assert "'PET NAC'" in notes and "not attenuation-corrected" in notes
    assert "'topogram'" in notes and "localizer" in notes
    assert record["series"]["pet"]["description"] == "PET AC"


def test_rtstruct_in_another_frame_of_reference_and_hostile_id(damaged):
    _, by_source, out, _ = damaged
    record = by_source[HOSTILE_ID]
    assert record["status"] == "partial" and record["patient_id"].startswith("EXT-")
    assert "none in the PET/CT's frame of reference" in _messages(record)
    folder = out / "Task 1" / record["patient_id"]
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{record['patient_id']}__CT.nii.gz", f"{record['patient_id']}__PT.nii.gz"]
    names = [p.name for p in out.rglob("*")]
    assert not any("Müller" in name or ".." in name for name in names)
    logged = json.loads((out / LOG_JSON).read_text())["patients"]
    assert any(r["dicom_patient_id"] == HOSTILE_ID for r in logged)


def test_series_mixing_two_patients_is_refused(damaged):
    _, by_source, _, _ = damaged
    for source in ("CHUS-002", "STRAY"):
        record = by_source[source]
        assert record["status"] == "failed"
        assert "holds files of 2 different PatientIDs: not used" in _messages(record)


def test_truncated_file_and_non_dicom_files(damaged):
    result, by_source, _, truncated = damaged
    record = by_source["CHUV-001"]
    assert record["status"] == "failed"
    assert any(p["file"] == str(truncated) for p in record["problems"])
    unusable = {Path(u["file"]).name: u["reason"] for u in result.unusable_files}
    assert "not a DICOM file" in unusable["README.txt"]
    assert "not a DICOM file" in unusable["garbage"]
    table = pd.read_parquet(result.table_path)
    assert len(table) == len(result.records)
    assert set(table["status"]) == {"imported", "partial", "failed"}


def test_cli_import_and_errors(cohort, tmp_path):
    source = tmp_path / "one"
    shutil.copytree(cohort / "dicom" / "CHUS-001", source / "CHUS-001")
    done = run_cli("import-dicom", str(source), "--out", str(tmp_path / "data"),
                   "--center", "HOSP")
    assert done.returncode == 0, done.stderr
    printed = " ".join(done.stdout.split())  # the console wraps long lines
    assert "1 patients read this run, 0 unchanged" in printed
    assert "in the log: 1 complete, 0 partial" in printed
    assert (tmp_path / "data" / "Task 1" / "HOSP-001" / "HOSP-001__PT.nii.gz").is_file()
    bad = run_cli("import-dicom", str(source), "--out", str(tmp_path / "other"), "--suv", "lbm")
    assert bad.returncode == 1 and "'lbm' is not one of 'bw', 'sul', 'bsa'" in bad.stderr
    inside = run_cli("import-dicom", str(source), "--out", str(source / "data"))
    assert inside.returncode == 1 and "inside the DICOM source folder" in inside.stderr


def test_nothing_to_import_is_an_error(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("no images here")
    with pytest.raises(InputDataError, match="no DICOM file with a PatientID"):
        import_dicom(tmp_path / "src", tmp_path / "data")
