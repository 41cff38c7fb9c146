"""Clinical tables under every known spelling normalise to one schema; bad values are reported."""

from __future__ import annotations

import pandas as pd
import pytest

from radiomics_hnc.clinical import canonical_column, merge_clinical, normalise_clinical
from radiomics_hnc.errors import InputDataError


@pytest.mark.parametrize(("header", "canonical"), [
    ("PatientID", "patient_id"), ("CenterID", "center_id"), ("Tobacco Consumption", "tobacco"),
    ("Tobacco Consumption:", "tobacco"), ("Tobacco", "tobacco"), ("Alcohol Consumption", "alcohol"),
    ("Performance Status", "performance_status"), ("Performance", "performance_status"),
    ("M-stage", "m_stage"), ("HPV Status", "hpv_status"), ("RFS", "rfs_days"),
    ("Relapse", "relapse"), ("T-stage", "t_stage"), ("Gender", "gender"), ("Weight", None),
])
def test_header_spellings(header, canonical):
    assert canonical_column(header) == canonical


def test_encodings_are_normalised():
    raw = pd.DataFrame({
        "PatientID": ["A-1", "A-2", "A-3", "A-4"],
        "Gender": ["M", "F", "1", "0"],
        "Tobacco Consumption:": ["Yes", "no", "", "1.0"],
        "HPV Status": ["positive", "0", "nan", "1"],
        "M-stage": ["M0", "m1", "Mx", "cM0"],
        "T-stage": ["cT2", "T4a", "3", ""],
        "RFS": ["100", "2000.5", "", "30"],
    }, dtype=str)
    table, issues = normalise_clinical(raw)
    assert list(table["gender"]) == [1, 0, 1, 0]
    assert table["tobacco"].tolist()[:2] == [1, 0] and pd.isna(table["tobacco"][2])
    assert table["hpv_status"].tolist()[0] == 1 and pd.isna(table["hpv_status"][2])
    assert list(table["m_stage"]) == ["M0", "M1", "Mx", "M0"]
    assert table["t_stage"].tolist()[:3] == ["T2", "T4a", "T3"] and pd.isna(table["t_stage"][3])
    assert table["rfs_days"].tolist()[1] == 2000.5
    assert pd.isna(table["age"]).all()  # absent columns exist, all missing
    assert issues == []


def test_unreadable_values_become_missing_and_are_reported():
    raw = pd.DataFrame({"PatientID": ["A-1"], "Gender": ["unknown-ish"], "Age": ["sixty"]})
    table, issues = normalise_clinical(raw, source="t.csv")
    assert pd.isna(table.loc[0, "gender"]) and pd.isna(table.loc[0, "age"])
    assert {(i.column, i.found) for i in issues} == {("gender", "unknown-ish"), ("age", "sixty")}
    assert all(i.source == "t.csv" and i.patient_id == "A-1" for i in issues)


def test_out_of_range_codes_are_kept_for_the_validator():
    raw = pd.DataFrame({"PatientID": ["A-1"], "Relapse": ["2"], "RFS": ["-5"]})
    table, _ = normalise_clinical(raw)
    assert table.loc[0, "relapse"] == 2 and table.loc[0, "rfs_days"] == -5


def test_merge_takes_first_value_and_reports_conflicts_and_duplicates(tmp_path):
    one, two = tmp_path / "t1.csv", tmp_path / "t2.csv"
    pd.DataFrame({"PatientID": ["A-1", "A-2", "A-2"], "Age": [50, 60, 61]}).to_csv(one, index=False)
    pd.DataFrame({"PatientID": ["A-1"], "Age": [51], "HPV Status": [1]}).to_csv(two, index=False)
    merged = merge_clinical([one, two])
    table = merged.table.set_index("patient_id")
    assert table.loc["A-1", "age"] == 50 and table.loc["A-1", "hpv_status"] == 1
    assert merged.duplicates == {"A-2": [str(one)]}
    assert any(i.patient_id == "A-1" and i.column == "age" for i in merged.issues)


def test_table_without_patient_ids_is_a_clear_error():
    with pytest.raises(InputDataError, match="no patient id column"):
        normalise_clinical(pd.DataFrame({"Age": [1]}), source="bad.csv")
