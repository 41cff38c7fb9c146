"""Clinical tables: read the HECKTOR CSVs under any known spelling and normalise them.

The organisers' tables changed spelling between editions (``Tobacco``, ``Tobacco Consumption``,
``Tobacco Consumption:``; Gender ``M``/``F`` or ``0``/``1``). Everything downstream sees one
schema, :data:`CLINICAL_COLUMNS`, with the encodings documented there. Values that cannot be
read are set to missing and reported as :class:`ClinicalIssue` rows, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiomics_hnc.errors import InputDataError

#: Normalised clinical columns and their meaning (units in brackets).
CLINICAL_COLUMNS: dict[str, str] = {
    "center_id": "centre code from the table (integer, as published)",
    "age": "age at diagnosis [years]",
    "gender": "1 male, 0 female",
    "tobacco": "tobacco consumption, 1 yes, 0 no",
    "alcohol": "alcohol consumption, 1 yes, 0 no",
    "performance_status": "Zubrod/ECOG performance status, 0-4",
    "treatment": "0 radiotherapy only, 1 chemoradiotherapy, 2 includes surgery",
    "surgery": "1 surgery performed, 0 not (only in some editions)",
    "t_stage": "T stage as written (e.g. T2)",
    "n_stage": "N stage as written (e.g. N1)",
    "m_stage": "M0, M1 or Mx",
    "hpv_status": "1 HPV positive, 0 negative, missing when unknown",
    "relapse": "1 relapse observed (event), 0 censored",
    "rfs_days": "recurrence-free survival time from end of radiotherapy [days]",
}

#: Endpoint columns (a subset of the clinical columns).
ENDPOINT_COLUMNS = ("relapse", "rfs_days", "hpv_status")

# Header spellings seen in HECKTOR tables and the organisers' code, after _header_key().
_ALIASES: dict[str, str] = {
    "patientid": "patient_id",
    "patient_id": "patient_id",
    "patient": "patient_id",
    "pid": "patient_id",
    "centerid": "center_id",
    "center_id": "center_id",
    "centreid": "center_id",
    "centre_id": "center_id",
    "age": "age",
    "age_at_diagnosis": "age",
    "gender": "gender",
    "sex": "gender",
    "tobacco": "tobacco",
    "tobacco_consumption": "tobacco",
    "smoking": "tobacco",
    "alcohol": "alcohol",
    "alcohol_consumption": "alcohol",
    "performance": "performance_status",
    "performance_status": "performance_status",
    "zubrod": "performance_status",
    "ecog": "performance_status",
    "treatment": "treatment",
    "surgery": "surgery",
    "t_stage": "t_stage",
    "tstage": "t_stage",
    "n_stage": "n_stage",
    "nstage": "n_stage",
    "m_stage": "m_stage",
    "mstage": "m_stage",
    "hpv_status": "hpv_status",
    "hpv": "hpv_status",
    "hpv_status_0_1": "hpv_status",
    "relapse": "relapse",
    "event": "relapse",
    "progression": "relapse",
    "rfs": "rfs_days",
    "rfs_days": "rfs_days",
    "recurrence_free_survival": "rfs_days",
}

_TRUE_WORDS = {"1", "yes", "y", "true", "positive", "pos", "+", "current", "former"}
_FALSE_WORDS = {"0", "no", "n", "false", "negative", "neg", "-", "never"}
_MALE_WORDS = {"1", "m", "male", "man"}
_FEMALE_WORDS = {"0", "f", "female", "woman"}
_MISSING_WORDS = {"", "nan", "na", "n/a", "none", "null", "unknown", "missing", "?", "x"}


@dataclass(frozen=True)
class ClinicalIssue:
    """A clinical value that could not be read, or a conflict between tables."""

    patient_id: str
    column: str
    found: str
    message: str
    source: str


def _header_key(name: str) -> str:
    """Spelling-free key of a header: 'Tobacco Consumption:' -> 'tobacco_consumption'."""
    key = re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
    return key


def canonical_column(name: str) -> str | None:
    """The normalised name of a clinical header, or None when it is not a known column."""
    return _ALIASES.get(_header_key(name))


def header_spellings(column: str) -> list[str]:
    """The clinical-table headers read as ``column`` (case, spaces and punctuation ignored)."""
    return sorted(key for key, name in _ALIASES.items() if name == column)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip().lower()
    if re.fullmatch(r"-?\d+\.0+", text):  # CSV readers turn 1 into 1.0 when a column has NaNs
        text = text.split(".")[0]
    return text


def _parse_binary(value: object, true_words: set[str], false_words: set[str]) -> float | None:
    """1.0 / 0.0 / NaN, or None when the value is present but unreadable."""
    text = _text(value)
    if text in _MISSING_WORDS:
        return np.nan
    if text in true_words:
        return 1.0
    if text in false_words:
        return 0.0
    try:
        return float(text)  # kept as found (e.g. 2) so that validation can flag it
    except ValueError:
        return None


def _parse_number(value: object) -> float | None:
    text = _text(value)
    if text in _MISSING_WORDS:
        return np.nan
    try:
        return float(text)
    except ValueError:
        return None


def _parse_m_stage(value: object) -> object:
    text = _text(value)
    if text in _MISSING_WORDS - {"x"}:
        return np.nan
    match = re.fullmatch(r"(?:c|p)?m?\s*([01x])[a-c]?", text)
    return {"0": "M0", "1": "M1", "x": "Mx"}[match.group(1)] if match else None


def _parse_stage(value: object, letter: str) -> object:
    """T/N stage as written, with the c/p prefix dropped: 'cT2' -> 'T2', '4a' -> 'T4a'."""
    text = _text(value)
    if text in _MISSING_WORDS - {"x"}:
        return np.nan
    text = re.sub(r"^[cp]", "", text).replace(" ", "")
    text = text[1:] if text.startswith(letter.lower()) else text
    return letter + text if re.fullmatch(r"[0-4x](is|[a-c])?", text) else None


_BINARY_COLUMNS = {
    "tobacco": (_TRUE_WORDS, _FALSE_WORDS),
    "alcohol": (_TRUE_WORDS, _FALSE_WORDS),
    "hpv_status": (_TRUE_WORDS, _FALSE_WORDS),
    "relapse": (_TRUE_WORDS, _FALSE_WORDS),
    "surgery": (_TRUE_WORDS, _FALSE_WORDS),
    "gender": (_MALE_WORDS, _FEMALE_WORDS),
}
_NUMERIC_COLUMNS = ("center_id", "age", "performance_status", "treatment", "rfs_days")
_INTEGER_COLUMNS = (
    "center_id", "gender", "tobacco", "alcohol", "performance_status", "treatment", "surgery",
    "hpv_status", "relapse",
)


def _normalise_column(
    column: str, values: pd.Series, ids: pd.Series, source: str, issues: list[ClinicalIssue]
) -> pd.Series:
    parsed: list[object] = []
    for pid, value in zip(ids, values, strict=True):
        if column in _BINARY_COLUMNS:
            result: object = _parse_binary(value, *_BINARY_COLUMNS[column])
        elif column in _NUMERIC_COLUMNS:
            result = _parse_number(value)
        elif column == "m_stage":
            result = _parse_m_stage(value)
        else:
            result = _parse_stage(value, column[0].upper())
        if result is None:
            issues.append(ClinicalIssue(pid, column, str(value), "value could not be read", source))
            result = np.nan
        parsed.append(result)
    series = pd.Series(parsed, index=values.index)
    if column in _INTEGER_COLUMNS:
        numeric = pd.to_numeric(series, errors="coerce")
        whole = numeric.dropna()
        if (whole == whole.round()).all():
            return numeric.astype("Int64")
        return numeric.astype("Float64")
    if column in _NUMERIC_COLUMNS:
        return pd.to_numeric(series, errors="coerce").astype("Float64")
    return series.astype("string")


def normalise_clinical(
    raw: pd.DataFrame, source: str = "clinical table"
) -> tuple[pd.DataFrame, list[ClinicalIssue]]:
    """Rename and re-encode one clinical table into :data:`CLINICAL_COLUMNS`.

    Parameters
    ----------
    raw
        The table as read from CSV (any known header spelling).
    source
        Name of the file, used in issue messages.

    Returns
    -------
    (table, issues)
        ``table`` has ``patient_id`` plus the clinical columns found (others are added as
        missing); ``issues`` lists unreadable values.
    """
    renamed: dict[str, str] = {}
    for column in raw.columns:
        canonical = canonical_column(column)
        if canonical and canonical not in renamed.values():
            renamed[column] = canonical
    if "patient_id" not in renamed.values():
        raise InputDataError(
            f"no patient id column (found columns: {', '.join(map(str, raw.columns))})",
            path=source, hint="the table needs a 'PatientID' column",
        )
    table = raw[list(renamed)].rename(columns=renamed)
    ids = table["patient_id"].astype("string").str.strip()
    issues: list[ClinicalIssue] = []
    out = pd.DataFrame({"patient_id": ids})
    for column in CLINICAL_COLUMNS:
        if column in table.columns:
            out[column] = _normalise_column(column, table[column], ids, source, issues)
        else:
            out[column] = pd.Series(pd.NA, index=table.index, dtype=_missing_dtype(column))
    out = out[out["patient_id"].notna() & (out["patient_id"] != "")]
    return out.reset_index(drop=True), issues


def _missing_dtype(column: str) -> str:
    if column in _INTEGER_COLUMNS:
        return "Int64"
    if column in _NUMERIC_COLUMNS:
        return "Float64"
    return "string"


def read_clinical_csv(path: str | Path) -> pd.DataFrame:
    """Read one clinical CSV as text, so that :func:`normalise_clinical` judges every encoding."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(
            f"clinical table could not be read ({exc})", path=path,
            hint="save it as comma-separated UTF-8 text with a header row",
        ) from exc


@dataclass
class MergedClinical:
    """The union of several clinical tables: one row per patient plus what went wrong."""

    table: pd.DataFrame
    issues: list[ClinicalIssue]
    duplicates: dict[str, list[str]]  # patient id -> sources where it appeared more than once


def merge_clinical(paths: Iterable[str | Path]) -> MergedClinical:
    """Read, normalise and merge the per-task clinical tables into one row per patient.

    A patient listed in several tables (Task 1 and Task 2 both list most patients) takes the
    first non-missing value of each column; disagreeing values are reported. A patient listed
    twice in the same table is a duplicate.
    """
    frames: list[pd.DataFrame] = []
    issues: list[ClinicalIssue] = []
    duplicates: dict[str, list[str]] = {}
    for path in paths:
        table, table_issues = normalise_clinical(read_clinical_csv(path), source=str(path))
        issues.extend(table_issues)
        repeated = table["patient_id"][table["patient_id"].duplicated()]
        for pid in repeated.unique():
            duplicates.setdefault(str(pid), []).append(str(path))
        table["_source"] = str(path)
        frames.append(table)
    if not frames:
        empty = pd.DataFrame({"patient_id": pd.Series(dtype="string")})
        for column in CLINICAL_COLUMNS:
            empty[column] = pd.Series(dtype=_missing_dtype(column))
        return MergedClinical(empty, issues, duplicates)
    combined = pd.concat(frames, ignore_index=True)
    issues.extend(_conflicts(combined))
    merged = combined.drop(columns="_source").groupby("patient_id", sort=True).first()
    merged = merged.reset_index()
    return MergedClinical(merged, issues, duplicates)


def _conflicts(combined: pd.DataFrame) -> list[ClinicalIssue]:
    """Values that differ between the tables listing the same patient."""
    issues = []
    for pid, rows in combined.groupby("patient_id"):
        if rows["_source"].nunique() < 2:
            continue
        for column in CLINICAL_COLUMNS:
            values = rows[column].dropna().astype(str).unique()
            if len(values) > 1:
                issues.append(ClinicalIssue(
                    str(pid), column, " vs ".join(values),
                    "tables disagree; the first table's value is used",
                    ", ".join(rows["_source"].unique()),
                ))
    return issues
