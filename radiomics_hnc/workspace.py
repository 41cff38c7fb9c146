"""The workspace: where each stage reads its inputs and writes its outputs (see DESIGN.md).

Stages talk to each other only through these files, so any stage can be rerun, replaced by a
user's own files, or run on another machine. Output file names built from a patient id go
through :func:`patient_file`, which refuses ids that could escape the folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiomics_hnc.errors import InputDataError

#: Image roles of the manifest, in display order: ``<role>_path`` and geometry columns.
IMAGE_ROLES = ("ct", "pet", "label", "planning_ct", "dose")
#: Geometry fields stored per image role as ``<role>_<field>``.
GEOMETRY_FIELDS = ("size", "spacing", "origin", "direction", "orientation")
#: Scopes of the patient-level feature columns ``<scope>_<modality>_...`` (DESIGN.md): the
#: primary, nodal aggregates, the whole disease.
FEATURE_SCOPES = ("GTVp", "GTVn", "GTVall")

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_patient_feature(name: object) -> bool:
    """True for a scoped patient-level feature column (``GTVp_PT_suv_SUVmax``, ...)."""
    text = str(name)
    return text.split("_", 1)[0] in FEATURE_SCOPES and text.count("_") >= 2


def is_safe_patient_id(patient_id: str) -> bool:
    """True when ``patient_id`` can be used as a file name: no separators, no '..', no controls."""
    return bool(_SAFE_ID.match(patient_id)) and ".." not in patient_id and len(patient_id) <= 128


def patient_file(folder: str | Path, patient_id: str, suffix: str) -> Path:
    """``folder/<patient_id><suffix>``, refusing ids that are not safe as file names."""
    if not is_safe_patient_id(patient_id):
        raise InputDataError(
            f"patient id {patient_id!r} is not safe as a file name",
            patient_id=repr(patient_id),
            hint="rename the patient (letters, digits, '-', '_' and '.' only)",
        )
    return Path(folder) / f"{patient_id}{suffix}"


def manifest_records(manifest: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """Manifest rows as dicts with ``None`` (not NaN) for missing values, e.g. absent paths."""
    frame = manifest if columns is None else manifest[columns]
    return [
        {key: (None if _is_missing(value) else value) for key, value in row.items()}
        for row in frame.to_dict("records")
    ]


def _is_missing(value: object) -> bool:
    return value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value))


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace folder."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.parquet"

    @property
    def validation_path(self) -> Path:
        return self.root / "validation.json"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def segmentation_dir(self) -> Path:
        return self.root / "segmentation"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def load_manifest(self) -> pd.DataFrame:
        """The manifest written by ``discover`` (one row per patient)."""
        if not self.manifest_path.is_file():
            raise InputDataError(
                "no manifest in this workspace", path=self.manifest_path,
                hint="run 'radiomics-hnc discover DATA --out WORKSPACE' first",
            )
        return pd.read_parquet(self.manifest_path)

    def load_validation(self) -> dict:
        """The findings written by ``validate`` (empty when validation was not run)."""
        if not self.validation_path.is_file():
            return {"findings": [], "excluded": []}
        return json.loads(self.validation_path.read_text())

    def excluded_patients(self) -> set[str]:
        """Patients with at least one validation error: later stages skip them."""
        return set(self.load_validation().get("excluded", []))

    def eligible_manifest(self) -> pd.DataFrame:
        """Manifest rows of the patients that passed validation (no errors)."""
        manifest = self.load_manifest()
        return manifest[~manifest["patient_id"].isin(self.excluded_patients())].reset_index(
            drop=True
        )
