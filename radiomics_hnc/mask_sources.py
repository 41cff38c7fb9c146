"""Mask sources and their features folders: tables from different masks never replace each other.

Each features folder holds the tables of one mask source, recorded in their provenance
(``mask_source`` and, for a folder of the user's label maps, ``masks_path``). By default:

- ``ground-truth`` (the dataset's label maps) -> ``WORKSPACE/features``
- ``predicted`` (``WORKSPACE/masks``) -> ``WORKSPACE/features_predicted``
- a folder of ``<PID>.nii.gz`` label maps -> ``WORKSPACE/features_<folder name>``

Extracting one source into a folder that holds another's tables is refused unless forced.
Model runs on a folder other than ``features`` get the folder's suffix in their default name
(``<spec>_<cv>_predicted``), so their runs do not replace each other either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiomics_hnc.errors import ConfigError
from radiomics_hnc.io import read_provenance
from radiomics_hnc.workspace import Workspace, patient_file

GROUND_TRUTH, PREDICTED, FOLDER, UNKNOWN = "ground-truth", "predicted", "folder", "unknown"
#: The mask sources named by a keyword (anything else is a folder of label maps).
MASK_SOURCES = (GROUND_TRUTH, PREDICTED)
#: The default features folder (in the workspace) of each named source.
DEFAULT_FOLDERS = {GROUND_TRUTH: "features", PREDICTED: "features_predicted"}
FEATURE_TABLES = ("lesions", "patients", "errors")


@dataclass(frozen=True)
class MaskSource:
    """Where the label maps of an extraction came from.

    ``kind`` is ``ground-truth``, ``predicted``, ``folder`` (``path`` is the resolved folder)
    or ``unknown`` (tables whose source cannot be read). ``recorded`` is False for tables
    written before the source was recorded, whose source is inferred (see :func:`folder_source`).
    """

    kind: str
    path: Path | None = None
    recorded: bool = field(default=True, compare=False)

    @classmethod
    def parse(cls, masks: str | Path) -> MaskSource:
        """``ground-truth``, ``predicted`` or an existing folder of label maps."""
        if str(masks) in MASK_SOURCES:
            return cls(str(masks))
        folder = Path(masks).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"mask source {str(masks)!r} is neither {' nor '.join(MASK_SOURCES)}"
                              " nor a folder", hint="pass ground-truth, predicted or a folder "
                              "of <PID>.nii.gz label maps")
        return cls(FOLDER, folder.resolve())

    def mask_path(self, workspace: Workspace, record: dict[str, Any]) -> str | None:
        """The patient's label map under this source (None when the manifest has none)."""
        if self.kind == GROUND_TRUTH:
            return record.get("label_path")
        folder = workspace.masks_dir if self.kind == PREDICTED else self.path
        return str(patient_file(folder, record["patient_id"], ".nii.gz"))

    def default_features_dir(self, workspace: Workspace) -> Path:
        """``features``, ``features_predicted`` or ``features_<folder name>``."""
        if self.kind in DEFAULT_FOLDERS:
            return workspace.root / DEFAULT_FOLDERS[self.kind]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.name if self.path else "").strip("._")
        return workspace.root / f"features_{name or 'masks'}"

    def record(self) -> dict[str, Any]:
        """The provenance entries of this source."""
        return {"mask_source": self.kind, "masks_path": str(self.path) if self.path else None}

    def describe(self) -> str:
        """A phrase for messages and the report's methods."""
        text = {GROUND_TRUTH: "ground-truth masks (the dataset's label maps)",
                PREDICTED: "predicted masks (WORKSPACE/masks)",
                FOLDER: f"the label maps in {self.path}",
                UNKNOWN: "masks of unknown origin"}[self.kind]
        return text if self.recorded else f"{text}, assumed: the tables do not record it"


def features_folder(workspace: str | Path, name: str) -> Path:
    """``WORKSPACE/<name>``, refusing names that are not a single safe folder name."""
    ws = Workspace(workspace)
    return ws.child(ws.root, name, "features folder")


def run_suffix(features_dir: str | Path) -> str:
    """Suffix of default run names fitted on ``features_dir``: '' for ``features``,
    ``_predicted`` for ``features_predicted``, ``_<name>`` for any other folder."""
    name = Path(features_dir).name
    if name == "features":
        return ""
    return "_" + (name.removeprefix("features_") or name)


def folder_source(folder: str | Path) -> MaskSource | None:
    """The mask source of the tables in ``folder``; None when it holds none.

    Tables written before the source was recorded are inferred: ``features_predicted`` held
    predicted masks; ``features`` held the source the pipeline's last extract stage recorded
    (``WORKSPACE/pipeline/extract.json``), else ground truth, the default.
    """
    folder = Path(folder)
    tables = [folder / f"{name}.parquet" for name in FEATURE_TABLES]
    table = next((path for path in tables if path.is_file()), None)
    if table is None:
        return None
    try:
        record = read_provenance(table)
    except (OSError, ValueError):  # pyarrow's errors are ValueError / OSError subclasses
        return MaskSource(UNKNOWN)
    if record.get("mask_source") in (*MASK_SOURCES, FOLDER):
        path = record.get("masks_path")
        return MaskSource(record["mask_source"], Path(path) if path else None)
    return MaskSource(_legacy_kind(folder), recorded=False)


def _legacy_kind(folder: Path) -> str:
    if folder.name == DEFAULT_FOLDERS[PREDICTED]:
        return PREDICTED
    if folder.name != DEFAULT_FOLDERS[GROUND_TRUTH]:
        return UNKNOWN
    try:
        stage = json.loads((folder.parent / "pipeline" / "extract.json").read_text())
        masks = stage["settings"]["masks"]
    except (OSError, ValueError, KeyError, TypeError):
        return GROUND_TRUTH
    return masks if masks in MASK_SOURCES else GROUND_TRUTH


def check_features_folder(folder: str | Path, source: MaskSource, force: bool) -> None:
    """Refuse to write ``source``'s tables over another source's tables in ``folder``."""
    found = folder_source(folder)
    if found is None or found == source or force:
        return
    raise ConfigError(
        f"the features folder {folder} holds features from {found.describe()}; this run "
        f"extracts from {source.describe()} and would replace them",
        hint="leave the features folder option unset to write to the source's own folder "
        f"({DEFAULT_FOLDERS[GROUND_TRUTH]}, {DEFAULT_FOLDERS[PREDICTED]} or features_<name>), "
        "choose another with --features, or pass --force to replace them",
    )
