"""Clinical tables: read the HECKTOR CSVs under any known spelling and normalise them.

The organisers' tables changed spelling between editions (``Tobacco``, ``Tobacco Consumption``,
``Tobacco Consumption:``; Gender ``M``/``F`` or ``0``/``1``). Everything downstream sees one
schema, :data:`CLINICAL_COLUMNS`, with the encodings documented there. Values that cannot be
read are set to missing and reported as :class:`ClinicalIssue` rows, never silently dropped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
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

#: Header spellings read as each column. Case, spaces and punctuation do not matter
#: (``HPV (p16)``, ``hpv_p16`` and ``HPV-p16`` are one spelling). From the HECKTOR tables of
#: every edition, the organisers' code and centres' own exports; the user guide lists them.
COLUMN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "patient_id": ("PatientID", "Patient ID", "Patient", "PID"),
    "center_id": ("CenterID", "Center ID", "CentreID", "Centre ID"),
    "age": ("Age", "Age at diagnosis"),
    "gender": ("Gender", "Sex"),
    "tobacco": ("Tobacco", "Tobacco Consumption", "Smoking"),
    "alcohol": ("Alcohol", "Alcohol Consumption"),
    "performance_status": ("Performance Status", "Performance", "Zubrod", "ECOG"),
    "treatment": ("Treatment",),
    "surgery": ("Surgery",),
    "t_stage": ("T-stage", "TStage"),
    "n_stage": ("N-stage", "NStage"),
    "m_stage": ("M-stage", "MStage"),
    "hpv_status": ("HPV Status", "HPV", "HPV status (0=-, 1=+)", "HPV (p16)", "HPV/p16",
                   "HPV p16 status", "p16", "p16 status", "p16/HPV", "p16 IHC"),
    "relapse": ("Relapse", "Relapse (0/1)", "Relapse status", "Recurrence", "Recurrence status",
                "Recurrence event", "RFS event", "RFS status", "Progression"),
    "rfs_days": ("RFS", "RFS (days)", "RFS days", "RFS_d", "RFS time", "RFS time (days)",
                 "Recurrence-free survival", "Recurrence-free survival (days)",
                 "Relapse-free survival", "Relapse-free survival (days)", "Time to recurrence",
                 "Time to relapse"),
}
#: Generic names read as an outcome only when the table leaves no doubt: one such column, no
#: specific spelling of the same outcome, and no column of another endpoint (OS, DFS, PFS...).
GENERIC_SPELLINGS: dict[str, tuple[str, ...]] = {
    "relapse": ("Event", "Event (0/1)"),
    "rfs_days": ("Time", "Time (days)"),
}


def _header_key(name: str) -> str:
    """Spelling-free key of a header: 'Tobacco Consumption:' -> 'tobacco_consumption'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


_ALIASES = {_header_key(s): c for c, spellings in COLUMN_SPELLINGS.items() for s in spellings}
_GENERIC = {_header_key(s): c for c, spellings in GENERIC_SPELLINGS.items() for s in spellings}
_OUTCOME_WORDS = re.compile(r"recur|relaps|rfs|event|progress|hpv|p16|surviv|follow|censor|"
                            r"time|day|month|year|death|dead|status")
_OTHER_ENDPOINT = re.compile(r"(^|_)(os|dfs|pfs|dss|lrc|dmfs|overall|death|dead|died|vital|"
                             r"alive|mortality)(_|$)|disease_free|progression_free")
_OUTCOME_NAMES = {"relapse": "relapse (event)", "rfs_days": "RFS time",
                  "hpv_status": "HPV status"}


def accepted_spellings(column: str) -> str:
    """The header spellings read as ``column``, for messages (generic ones marked)."""
    generic = [f"{s} (if unambiguous)" for s in GENERIC_SPELLINGS.get(column, ())]
    return ", ".join([*COLUMN_SPELLINGS[column], *generic])


_TRUE_WORDS = {"1", "yes", "y", "true", "positive", "pos", "+", "current", "former"}
_FALSE_WORDS = {"0", "no", "n", "false", "negative", "neg", "-", "never"}
_MALE_WORDS = {"1", "m", "male", "man"}
_FEMALE_WORDS = {"0", "f", "female", "woman"}
_MISSING_WORDS = {"", "nan", "na", "n/a", "none", "null", "unknown", "missing", "?", "x"}


@dataclass(frozen=True)
class ClinicalIssue:
    """A clinical value that could not be read, a conflict between tables, or a column that
    is not read (``patient_id`` None).

    ``kind`` is one of ``unreadable``, ``conflict``, ``column_ignored`` and
    ``outcome_column_ignored`` (an ignored column that looks like an outcome).
    """

    patient_id: str | None
    column: str
    found: str
    message: str
    source: str
    kind: str = "unreadable"


def canonical_column(name: str) -> str | None:
    """The normalised name of a clinical header, or None when it is not a known column.

    Generic names (:data:`GENERIC_SPELLINGS`) are not included: whether ``Time`` is the RFS
    time depends on the other columns of the table, see :func:`map_headers`.
    """
    return _ALIASES.get(_header_key(name))


def map_headers(columns: Iterable[str], source: str) -> tuple[dict[str, str], list[ClinicalIssue]]:
    """Which header is read as which column, and an issue for every header that is not read."""
    columns = [str(c) for c in columns]
    renamed: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for column in columns:
        canonical = canonical_column(column)
        if canonical is None:
            continue
        first = next((c for c, name in renamed.items() if name == canonical), None)
        if first is None:
            renamed[column] = canonical
        else:
            reasons[column] = f"another spelling of {canonical}, already read from '{first}'"
    others = [c for c in columns if c not in renamed and _OTHER_ENDPOINT.search(_header_key(c))]
    for canonical in GENERIC_SPELLINGS:
        candidates = [c for c in columns if _GENERIC.get(_header_key(c)) == canonical]
        if canonical in renamed.values():
            reasons.update({c: f"the table already has a column for the "
                               f"{_OUTCOME_NAMES[canonical]}" for c in candidates})
        elif len(candidates) == 1 and not others:
            renamed[candidates[0]] = canonical
        elif candidates:
            doubt = f"the table also has {others}" if others else f"so do {candidates}"
            reasons.update({c: f"ambiguous ({doubt}): rename it {COLUMN_SPELLINGS[canonical][0]}"
                            f" if it is the {_OUTCOME_NAMES[canonical]}" for c in candidates})
    issues = []
    for column in columns:
        if column in renamed:
            continue
        key = _header_key(column)
        outcome = bool(_OUTCOME_WORDS.search(key))
        reason = reasons.get(column) or (_outcome_reason(key) if outcome else
                                         "not a column the package reads")
        issues.append(ClinicalIssue(
            None, column, column, f"column '{column}' was not recognised and is ignored: "
            f"{reason}", source, "outcome_column_ignored" if outcome else "column_ignored"))
    return renamed, issues


def _outcome_reason(key: str) -> str:
    """Why an outcome-looking header is not read, and what to call it instead."""
    if "follow" in key:
        return ("follow-up time is the RFS time only for patients without a relapse; if this "
                "column is the time to relapse or to last follow-up, rename it RFS (days)")
    if "month" in key or "year" in key:
        return "times must be in days: convert them and name the column RFS (days)"
    if _OTHER_ENDPOINT.search(key):
        return "an endpoint other than recurrence-free survival, not used by the models"
    if "censor" in key:
        return ("a censoring flag is the opposite of an event flag: provide Relapse "
                "(1 relapse, 0 censored)")
    likely = ("hpv_status" if re.search("hpv|p16", key) else
              "rfs_days" if re.search("time|day|surviv|rfs", key) else "relapse")
    return (f"if it is the {_OUTCOME_NAMES[likely]}, use one of the accepted spellings: "
            f"{accepted_spellings(likely)}")


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
        missing; ``table.attrs["columns_read"]`` names the ones the file has); ``issues``
        lists the columns not read and the values that could not be read.
    """
    renamed, issues = map_headers(raw.columns, source)
    if "patient_id" not in renamed.values():
        delimiter = raw.attrs.get("delimiter")
        read_as = f"read with delimiter {delimiter!r}; " if delimiter else ""
        raise InputDataError(
            f"no patient id column ({read_as}found columns: "
            f"{', '.join(repr(str(c)) for c in raw.columns)})", path=source,
            hint=f"the table needs a patient id column ({accepted_spellings('patient_id')}), "
            "and columns separated by ',', ';' or tabs",
        )
    table = raw[list(renamed)].rename(columns=renamed)
    ids = table["patient_id"].astype("string").str.strip()
    out = pd.DataFrame({"patient_id": ids})
    for column in CLINICAL_COLUMNS:
        if column in table.columns:
            out[column] = _normalise_column(column, table[column], ids, source, issues)
        else:
            out[column] = pd.Series(pd.NA, index=table.index, dtype=_missing_dtype(column))
    out = out[out["patient_id"].notna() & (out["patient_id"] != "")].reset_index(drop=True)
    out.attrs["columns_read"] = sorted(set(renamed.values()))
    return out, issues


def _missing_dtype(column: str) -> str:
    if column in _INTEGER_COLUMNS:
        return "Int64"
    if column in _NUMERIC_COLUMNS:
        return "Float64"
    return "string"


#: Column delimiters of clinical tables: spreadsheet exports in many locales use ';'.
CSV_DELIMITERS = ",;\t"


def read_clinical_csv(path: str | Path) -> pd.DataFrame:
    """Read one clinical CSV as text, so that :func:`normalise_clinical` judges every encoding.

    The delimiter (',', ';' or tab) is detected from the start of the file with
    :class:`csv.Sniffer` and kept in ``frame.attrs["delimiter"]`` for error messages.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            sample = handle.read(64 * 1024)
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
        except csv.Error:  # one column, or nothing to tell the delimiters apart
            delimiter = ","
        frame = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False,
                            skipinitialspace=True, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(
            f"clinical table could not be read ({exc})", path=path,
            hint="save it as UTF-8 text with a header row, columns separated by ',', ';' or "
            "tabs",
        ) from exc
    frame.attrs["delimiter"] = delimiter
    return frame


@dataclass
class MergedClinical:
    """The union of several clinical tables: one row per patient plus what went wrong."""

    table: pd.DataFrame
    issues: list[ClinicalIssue]
    duplicates: dict[str, list[str]]  # patient id -> sources where it appeared more than once
    columns_found: list[str] = field(default_factory=list)  # normalised columns in any table


def merge_clinical(paths: Iterable[str | Path]) -> MergedClinical:
    """Read, normalise and merge the per-task clinical tables into one row per patient.

    A patient listed in several tables (Task 1 and Task 2 both list most patients) takes the
    first non-missing value of each column; disagreeing values are reported. A patient listed
    twice in the same table is a duplicate.
    """
    frames: list[pd.DataFrame] = []
    issues: list[ClinicalIssue] = []
    duplicates: dict[str, list[str]] = {}
    found: set[str] = set()
    for path in paths:
        table, table_issues = normalise_clinical(read_clinical_csv(path), source=str(path))
        found.update(table.attrs["columns_read"])
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
        return MergedClinical(empty, issues, duplicates, [])
    combined = pd.concat(frames, ignore_index=True)
    issues.extend(_conflicts(combined))
    merged = combined.drop(columns="_source").groupby("patient_id", sort=True).first()
    merged = merged.reset_index()
    return MergedClinical(merged, issues, duplicates, sorted(found))


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
                    ", ".join(rows["_source"].unique()), "conflict",
                ))
    return issues
