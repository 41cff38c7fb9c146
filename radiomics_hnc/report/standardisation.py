"""The extracted features in IBSI terms, for the Methods and the reporting checklist.

``extract`` records every modality's merged settings in the feature tables' provenance
(``config_settings``); the verdicts per feature are :mod:`radiomics_hnc.features.ibsi`'s, whose
evidence is the IBSI phantom benchmark (docs/ibsi.md). Only the features actually in the
patients table are counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiomics_hnc.features import ibsi
from radiomics_hnc.workspace import FEATURE_SCOPES

#: Patient-table modality token -> (settings name, label, unit, lesion column prefixes).
MODALITIES = {
    "CT": ("ct", "CT", "HU", ("CT_", "MASK_")),
    "PT": ("pet", "PET", "SUV", ("PT_",)),
    "RTDOSE": ("dose", "dose", "Gy", ("RTDOSE_",)),
}
_PRIMARY = FEATURE_SCOPES[0]
#: Patient-table columns that are counts, not lesion features.
_COUNTS = ("MASK_count",)


@dataclass(frozen=True)
class ModalityCompliance:
    """One modality: its settings file, the settings in IBSI terms and a verdict per feature."""

    label: str
    source: str
    settings: dict[str, str]
    verdicts: list[ibsi.FeatureVerdict]

    def count(self, status: str) -> int:
        return sum(v.status == status for v in self.verdicts)

    def summary(self) -> str:
        """"N of M extracted <label> features are IBSI-compliant; ..." in one sentence."""
        parts = []
        if self.count(ibsi.NO_COUNTERPART):
            parts.append(f"{self.count(ibsi.NO_COUNTERPART)} without an IBSI counterpart")
        if self.count(ibsi.OUTSIDE_IBSI1):
            parts.append(f"{self.count(ibsi.OUTSIDE_IBSI1)} from filtered images, outside "
                         "IBSI 1")
        by_reason: dict[str, list[str]] = {}
        for verdict in self.verdicts:
            if verdict.status == ibsi.DEVIATES:
                by_reason.setdefault(verdict.reason.split(". ")[0],
                                     []).append(verdict.column.split("_")[-1])
        for reason, names in by_reason.items():
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3
                                            else "")
            parts.append(f"{len(names)} deviating ({shown}: {reason})")
        rest = "; ".join(parts)
        return (f"{self.count(ibsi.COMPLIANT)} of {len(self.verdicts)} extracted {self.label} "
                f"features are IBSI-compliant{'; ' + rest if rest else ''}.")


def lesion_columns(patient_columns: Iterable[str]) -> list[str]:
    """The lesion feature columns behind a patients table (its primary-tumour scope)."""
    prefix = f"{_PRIMARY}_"
    return [c[len(prefix):] for c in map(str, patient_columns)
            if c.startswith(prefix) and c[len(prefix):] not in _COUNTS]


def _column_verdict(column: str, settings: Mapping[str, Any]) -> ibsi.FeatureVerdict:
    own = ibsi.own_feature_verdicts([column])
    return own[0] if own else ibsi.verdict(column, settings)


def modality_compliance(provenance: Mapping[str, Any],
                        patient_columns: Iterable[str]) -> list[ModalityCompliance] | None:
    """Per modality in the patients table, its settings and verdicts; ``None`` when the tables
    were extracted before the settings were recorded."""
    recorded = provenance.get("config_settings")
    if not isinstance(recorded, Mapping):
        return None
    columns = lesion_columns(patient_columns)
    sources = provenance.get("config_sources") or {}
    result = []
    for name, label, unit, prefixes in MODALITIES.values():
        settings = recorded.get(name)
        mine = [c for c in columns if c.startswith(prefixes)]
        if not mine or not isinstance(settings, Mapping):
            continue
        source = Path(str(sources.get(name, "")).split(":")[-1]).name or "not recorded"
        result.append(ModalityCompliance(
            label, source, ibsi.describe(settings, unit),
            [_column_verdict(c, settings) for c in mine]))
    return result


def ibsi_paragraphs(provenance: Mapping[str, Any], patient_columns: Iterable[str]) -> list[str]:
    """The Methods' paragraphs: per modality, the settings in IBSI terms and the compliance.

    ``patient_columns``: the patients table's columns that hold values (a modality without
    data, such as dose in a cohort without plans, has only empty columns and is left out).
    """
    modalities = modality_compliance(provenance, patient_columns)
    if modalities is None:
        return ["The feature settings were not recorded with these feature tables (extracted "
                "by an earlier radiomics-hnc): rerun extract to have them stated in IBSI terms "
                "with the number of IBSI-compliant features."]
    paragraphs = []
    for modality in modalities:
        terms = "; ".join(f"{key}: {text}" for key, text in modality.settings.items())
        paragraphs.append(
            f"{modality.label} image processing in IBSI terms (Zwanenburg et al., Radiology "
            f"2020), settings {modality.source}: {terms}. {modality.summary()} Compliance was "
            "verified on the IBSI digital and CT phantoms (radiomics-hnc docs/ibsi.md).")
    return paragraphs
