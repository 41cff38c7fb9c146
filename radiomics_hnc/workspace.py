"""The workspace: where each stage reads its inputs and writes its outputs (see docs/design.md).

Stages talk to each other only through these files, so any stage can be rerun, replaced by a
user's own files, or run on another machine. Output file names built from a patient id go
through :func:`patient_file`, and folders named by the user (run names) through
:meth:`Workspace.child`: both apply :func:`unsafe_name_reason`, so no name can escape its folder.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from radiomics_hnc.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from radiomics_hnc.validate import ValidationRecord

#: Image roles of the manifest, in display order: ``<role>_path`` and geometry columns.
IMAGE_ROLES = ("ct", "pet", "label", "planning_ct", "dose")
#: Geometry fields stored per image role as ``<role>_<field>``.
GEOMETRY_FIELDS = ("size", "spacing", "origin", "direction", "orientation")
#: Scopes of the patient-level feature columns ``<scope>_<modality>_...`` (docs/design.md): the
#: primary, nodal aggregates, the whole disease.
FEATURE_SCOPES = ("GTVp", "GTVn", "GTVall")

#: Longest patient id or run name accepted as a file or folder name.
MAX_NAME_LENGTH = 128
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_.-")
_NAME_RULE = "letters, digits, '-', '_' and '.' only, starting with a letter or digit"


def is_patient_feature(name: object) -> bool:
    """True for a scoped patient-level feature column (``GTVp_PT_suv_SUVmax``, ...)."""
    text = str(name)
    return text.split("_", 1)[0] in FEATURE_SCOPES and text.count("_") >= 2


def unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` cannot be a file or folder name in the workspace, or None when it can.

    One rule for patient ids and run names: ASCII letters, digits, '_', '.' and '-', starting
    with a letter or digit, no '..', at most :data:`MAX_NAME_LENGTH` characters. So a name can
    never hold a path separator, climb out of its folder, hide as a dot file or differ between
    file systems. The reason completes the sentence "the name ...", e.g. "contains a space at
    position 5".
    """
    if not name:
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters ({len(name)})"
    for position, char in enumerate(name, start=1):
        if char not in _NAME_CHARACTERS:
            return f"contains {_describe_character(char)} at position {position}"
    if not name[0].isalnum():
        return f"starts with {name[0]!r}"
    if ".." in name:
        return "contains '..'"
    return None


def _describe_character(char: str) -> str:
    if char == " ":
        return "a space"
    if char in "/\\":
        return f"{char!r} (a path separator)"
    if not char.isprintable():
        return f"a control character (U+{ord(char):04X})"
    return repr(char)


def patient_file(folder: str | Path, patient_id: str, suffix: str) -> Path:
    """``folder/<patient_id><suffix>``, refusing ids that are not safe as file names."""
    reason = unsafe_name_reason(patient_id)
    if reason is not None:
        raise InputDataError(
            f"patient id {patient_id!r} is not safe as a file name: it {reason}",
            patient_id=repr(patient_id), hint=f"rename the patient ({_NAME_RULE})",
        )
    return Path(folder) / f"{patient_id}{suffix}"


def check_writable(folder: str | Path, what: str = "workspace") -> None:
    """Refuse, before any work starts, an output folder that is a file or is read-only.

    A folder that does not exist yet is checked at its nearest existing parent, where it will
    be created. Commands that write call this first, so that a read-only workspace does not
    compute every patient and then fail to write.
    """
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    subject = f"the {what}" if existing == path else f"a parent of the {what} {folder}"
    if not existing.is_dir():
        raise InputDataError(f"{subject} is a file, not a folder", path=existing,
                             hint=f"choose a folder for the {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputDataError(f"{subject} is read-only (no permission to write here)",
                             path=existing,
                             hint=f"choose a writable {what} or fix the folder's permissions")


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
    def segmenter_dir(self) -> Path:
        """Where ``run --segment`` trains the segmenter (its default model folder)."""
        return self.root / "segmenter"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def child(self, folder: Path, name: str, what: str) -> Path:
        """``folder/name`` for a name the user chose (a run name, say), refusing one that is not
        safe as a folder name or that would leave the workspace.

        The containment check is lexical (no link is resolved), so a workspace whose ``runs/``
        is a link to a larger disk keeps working.
        """
        reason = unsafe_name_reason(name)
        if reason is not None:
            raise ConfigError(f"{what} {name!r} cannot be used as a folder name: it {reason}",
                              hint=f"choose another name ({_NAME_RULE})")
        root = Path(os.path.normpath(self.root.absolute()))
        path = Path(os.path.normpath((Path(folder) / name).absolute()))
        if root not in path.parents:
            raise ConfigError(f"{what} {name!r} would put {path} outside the workspace {root}")
        return Path(folder) / name

    def load_manifest(self) -> pd.DataFrame:
        """The manifest written by ``discover`` (one row per patient)."""
        if not self.manifest_path.is_file():
            raise InputDataError(
                "no manifest in this workspace", path=self.manifest_path,
                hint="run 'radiomics-hnc discover DATA --out WORKSPACE' first",
            )
        return pd.read_parquet(self.manifest_path)

    def load_validation(self) -> ValidationRecord | None:
        """The findings written by ``validate`` (None when validation was not run)."""
        from radiomics_hnc.validate import ValidationRecord  # validate imports this module

        if not self.validation_path.is_file():
            return None
        return ValidationRecord.read(self.validation_path)

    def excluded_patients(self) -> set[str]:
        """Patients with at least one validation error: later stages skip them."""
        validation = self.load_validation()
        return set(validation.excluded) if validation is not None else set()

    def eligible_manifest(self) -> pd.DataFrame:
        """Manifest rows of the patients that passed validation (no errors)."""
        manifest = self.load_manifest()
        return manifest[~manifest["patient_id"].isin(self.excluded_patients())].reset_index(
            drop=True
        )
