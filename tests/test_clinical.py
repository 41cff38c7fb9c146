"""Clinical tables under every known spelling normalise to one schema; bad values are reported."""

from __future__ import annotations

import pandas as pd
import pytest

from radiomics_hnc.clinical import (
    canonical_column,
    map_headers,
    merge_clinical,
    normalise_clinical,
    read_clinical_csv,
)
from radiomics_hnc.errors import InputDataError


@pytest.mark.parametrize(("header", "canonical"), [
    ("PatientID", "patient_id"), ("CenterID", "center_id"), ("Tobacco Consumption", "tobacco"),
    ("Tobacco Consumption:", "tobacco"), ("Tobacco", "tobacco"), ("Alcohol Consumption", "alcohol"),
    ("Performance Status", "performance_status"), ("Performance", "performance_status"),
    ("M-stage", "m_stage"), ("HPV Status", "hpv_status"), ("RFS", "rfs_days"),
    ("Relapse", "relapse"), ("T-stage", "t_stage"), ("Gender", "gender"), ("Weight", None),
    # spellings of centres' own exports (issue #13)
    ("Recurrence", "relapse"), ("RFS_event", "relapse"), ("Progression", "relapse"),
    ("Relapse (0/1)", "relapse"), ("RFS_time", "rfs_days"), ("RFS_days", "rfs_days"),
    ("RFS (days)", "rfs_days"), ("Recurrence-free survival", "rfs_days"),
    ("HPV (p16)", "hpv_status"), ("p16", "hpv_status"), ("HPV", "hpv_status"),
    ("HPV status", "hpv_status"), ("HPV_Status", "hpv_status"), ("p16 status", "hpv_status"),
    ("HPV status (0=-, 1=+)", "hpv_status"),
    # generic names depend on the rest of the table (see test_generic_names_...)
    ("Time", None), ("Event", None), ("FollowUp", None), ("Recurrence_flag", None),
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


def _ignored(issues) -> dict[str, str]:
    return {i.column: i.message for i in issues if i.patient_id is None}


def test_generic_names_are_read_only_when_unambiguous():
    renamed, issues = map_headers(["PatientID", "Event", "Time (days)"], "t.csv")
    assert renamed == {"PatientID": "patient_id", "Event": "relapse", "Time (days)": "rfs_days"}
    assert issues == []
    renamed, issues = map_headers(["PatientID", "Event", "Time", "OS_days"], "t.csv")
    assert set(renamed.values()) == {"patient_id"}
    ignored = _ignored(issues)
    assert "ambiguous (the table also has ['OS_days'])" in ignored["Time"]
    assert "rename it Relapse" in ignored["Event"] and "rename it RFS" in ignored["Time"]
    renamed, issues = map_headers(["PatientID", "RFS", "Time", "RFS_days"], "t.csv")
    assert renamed == {"PatientID": "patient_id", "RFS": "rfs_days"}
    ignored = _ignored(issues)
    assert "already has a column for the RFS time" in ignored["Time"]
    assert "another spelling of rfs_days, already read from 'RFS'" in ignored["RFS_days"]


def test_unread_columns_are_named_with_the_reason():
    raw = pd.DataFrame({"PatientID": ["A-1"], "Recurrence_flag": ["1"], "FollowUp": ["300"],
                        "RFS (months)": ["10"], "Censored": ["0"], "Weight": ["70"]})
    table, issues = normalise_clinical(raw, source="centre.csv")
    ignored = {i.column: i for i in issues if i.patient_id is None}
    assert ignored["Recurrence_flag"].message.startswith(
        "column 'Recurrence_flag' was not recognised and is ignored")
    assert "Recurrence" in ignored["Recurrence_flag"].message  # the accepted spellings
    assert "only for patients without a relapse" in ignored["FollowUp"].message
    assert "must be in days" in ignored["RFS (months)"].message
    assert "opposite of an event flag" in ignored["Censored"].message
    assert {i.kind for c, i in ignored.items() if c != "Weight"} == {"outcome_column_ignored"}
    assert ignored["Weight"].kind == "column_ignored" and ignored["Weight"].source == "centre.csv"
    assert table.attrs["columns_read"] == ["patient_id"] and pd.isna(table.loc[0, "relapse"])


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_semicolon_and_tab_separated_tables_are_read(tmp_path, delimiter):
    path = tmp_path / "clinical.csv"
    path.write_text(delimiter.join(["PatientID", "Age", "Recurrence", "RFS_time", "HPV (p16)"])
                    + "\n" + delimiter.join(["A-1", "61", "1", "400", "positive"]) + "\n")
    merged = merge_clinical([path])
    row = merged.table.set_index("patient_id").loc["A-1"]
    assert row["age"] == 61 and row["relapse"] == 1 and row["rfs_days"] == 400
    assert row["hpv_status"] == 1 and merged.issues == []
    assert merged.columns_found == ["age", "hpv_status", "patient_id", "relapse", "rfs_days"]


def test_missing_id_column_says_which_delimiter_and_columns(tmp_path):
    path = tmp_path / "clinical.csv"
    path.write_text("Case;Age\nA-1;61\n")
    with pytest.raises(InputDataError, match=r"no patient id column \(read with delimiter ';'; "
                       r"found columns: 'Case', 'Age'\)"):
        normalise_clinical(read_clinical_csv(path), source=str(path))


def test_every_outcome_spelling_is_listed_in_the_user_guide():
    from pathlib import Path

    from radiomics_hnc.clinical import COLUMN_SPELLINGS, ENDPOINT_COLUMNS, GENERIC_SPELLINGS

    guide = (Path(__file__).parents[1] / "docs" / "user-guide.md").read_text()
    section = guide.split("### The clinical table")[1].split("## 3.")[0]
    for column in ENDPOINT_COLUMNS:
        for spelling in (*COLUMN_SPELLINGS[column], *GENERIC_SPELLINGS.get(column, ())):
            assert f"`{spelling}`" in section, spelling
