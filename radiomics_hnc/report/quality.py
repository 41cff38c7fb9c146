"""Data quality section: validation findings per check and centre, exclusions, extraction errors."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from radiomics_hnc.report.content import Section, Table, Text
from radiomics_hnc.validate import CheckMeaning, ValidationRecord

#: Longer finding lists are only written as CSV.
MAX_DISPLAYED_FINDINGS = 100
_FINDING_COLUMNS = ["patient_id", "check", "severity", "message", "file", "expected", "found",
                    "center"]


def quality_section(validation: ValidationRecord | None,
                    extraction_errors: pd.DataFrame | None,
                    n_patients: int | None) -> Section | None:
    """The validation summary and the patients left out of later stages, with reasons."""
    if validation is None and extraction_errors is None:
        return None
    section = Section("quality", "Data quality")
    if validation is not None:
        findings = pd.DataFrame([asdict(f) for f in validation.findings],
                                columns=_FINDING_COLUMNS)
        excluded = validation.excluded
        total = f" of {n_patients}" if n_patients is not None else ""
        section.blocks.append(Text(
            f"Every patient was checked (files, geometry, label values, SUV/HU/Gy ranges, "
            f"clinical values). {len(excluded)}{total} patients had at least one error and were "
            "excluded from segmentation, extraction and modelling; warnings do not exclude."))
        section.blocks.append(Table("validation_summary", "Validation findings per check and "
                                    "centre (number of findings).",
                                    findings_by_check(findings, validation.checks)))
        if excluded:
            section.blocks.append(Table("excluded_patients", "Patients excluded and why.",
                                        excluded_reasons(findings, excluded)))
        listed = findings[findings["severity"].isin(["error", "warning"])]
        if not listed.empty:
            section.blocks.append(Table(
                "validation_findings", "Every error and warning (patient, check, message, "
                "expected and found values).", findings_list(listed),
                display=len(listed) <= MAX_DISPLAYED_FINDINGS))
    if extraction_errors is not None and not extraction_errors.empty:
        section.blocks.append(Table(
            "extraction_errors", "Feature extraction failures (the patient or lesion has no "
            "features; the rest of the cohort is unaffected).", extraction_errors_table(
                extraction_errors)))
    return section


def findings_by_check(findings: pd.DataFrame, checks: dict[str, CheckMeaning]) -> pd.DataFrame:
    """Counts of findings by check (rows) and centre (columns), with severity and meaning."""
    if findings.empty:
        return pd.DataFrame({"Check": [], "Severity": [], "Meaning": [], "Total": []})
    centre = findings["center"].fillna("(cohort)").astype(str)
    counts = pd.crosstab([findings["check"], findings["severity"]], centre)
    counts["Total"] = counts.sum(axis=1)
    counts = counts.reset_index().rename(columns={"check": "Check", "severity": "Severity"})
    counts.insert(2, "Meaning", [checks[c].meaning if c in checks else "" for c in
                                 counts["Check"]])
    counts["_rank"] = counts["Severity"].map({"error": 0, "warning": 1, "info": 2}).fillna(3)
    counts = counts.sort_values(["_rank", "Total"], ascending=[True, False])
    return counts.drop(columns="_rank").reset_index(drop=True)


def excluded_reasons(findings: pd.DataFrame, excluded: list[str]) -> pd.DataFrame:
    """One row per excluded patient: centre, failing checks and their messages."""
    errors = findings[(findings["severity"] == "error") & findings["patient_id"].isin(excluded)]
    rows = []
    for pid in excluded:
        own = errors[errors["patient_id"] == pid]
        rows.append({
            "Patient": pid,
            "Centre": own["center"].dropna().iloc[0] if own["center"].notna().any() else "",
            "Checks failed": "; ".join(sorted(own["check"].astype(str).unique())),
            "Details": "; ".join(_detail(row) for row in own.itertuples()),
        })
    return pd.DataFrame(rows)


def _detail(row: Any) -> str:
    parts = [str(row.message)]
    if isinstance(row.expected, str) and row.expected:
        parts.append(f"expected {row.expected}")
    if isinstance(row.found, str) and row.found:
        parts.append(f"found {row.found}")
    return ", ".join(parts)


def extraction_errors_table(errors: pd.DataFrame) -> pd.DataFrame:
    """The extraction errors table with readable headers."""
    columns = {"patient_id": "Patient", "lesion_id": "Lesion", "stage": "Stage",
               "error_type": "Error", "message": "Message"}
    present = [c for c in columns if c in errors.columns]
    return errors[present].rename(columns=columns).reset_index(drop=True)


def findings_list(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with readable headers and file names without their folders."""
    table = findings.assign(file=findings["file"].map(
        lambda f: Path(f).name if isinstance(f, str) and f else ""))
    headers = {"patient_id": "Patient", "center": "Centre", "check": "Check",
               "severity": "Severity", "message": "Message", "file": "File",
               "expected": "Expected", "found": "Found"}
    return table[list(headers)].rename(columns=headers).reset_index(drop=True)
