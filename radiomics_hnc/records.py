"""Typed records of the workspace's JSON files: one class per file, defined beside the stage
that writes it, used by that stage to write and by every reader to read.

A record carries a ``schema_version``. :meth:`WorkspaceRecord.read` turns a missing or
unreadable file, one written by an earlier or later version of the package (no or another
``schema_version``) and one whose layout does not match into an :class:`InputDataError`
naming the file and the command that rewrites it, so that no reader meets a ``KeyError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import write_json


class RecordModel(BaseModel):
    """A part of a record: every key is declared, unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class WorkspaceRecord(RecordModel):
    """One JSON file of the workspace.

    Subclasses set :attr:`DESCRIPTION` (what the file is, for messages) and override
    :meth:`rewrite_hint` (the command that writes the file again). Raise ``schema_version``'s
    default when the layout changes.
    """

    DESCRIPTION: ClassVar[str] = "workspace record"
    schema_version: int = 1

    @model_validator(mode="before")
    @classmethod
    def _stamp_version(cls, data: Any) -> Any:
        # Written with the version always present, so that a dump never leaves it out.
        if isinstance(data, dict) and "schema_version" not in data:
            return {"schema_version": cls.current_version(), **data}
        return data

    @classmethod
    def current_version(cls) -> int:
        return int(cls.model_fields["schema_version"].default)

    @classmethod
    def rewrite_hint(cls, path: Path, raw: Any) -> str:
        """How to write the file again (``raw``: what could be read of it, or None)."""
        return "rerun the stage that wrote it"

    def write(self, path: str | Path) -> Path:
        """Write the record atomically as indented JSON (undefined numbers as ``NaN`` or
        ``null`` as the record's fields say)."""
        return write_json(self.model_dump(mode="json", exclude_unset=True), path)

    @classmethod
    def read(cls, path: str | Path):
        """The record in ``path``, or an :class:`InputDataError` saying why not and how to
        write it again."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputDataError(f"no {cls.DESCRIPTION}", path=path,
                                 hint=cls.rewrite_hint(path, None)) from None
        except (OSError, ValueError) as exc:
            raise InputDataError(f"the {cls.DESCRIPTION} could not be read ({exc})", path=path,
                                 hint=cls.rewrite_hint(path, None)) from exc
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if version != cls.current_version():
            hint = cls.rewrite_hint(path, raw if isinstance(raw, dict) else None)
            if _is_later(version, cls.current_version()):
                hint = f"upgrade radiomics-hnc, or {hint}"
            raise InputDataError(_version_problem(cls, version), path=path, hint=hint)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
                                 for e in exc.errors()[:5])
            raise InputDataError(f"the {cls.DESCRIPTION} does not have the expected layout "
                                 f"({problems})", path=path,
                                 hint=cls.rewrite_hint(path, raw)) from exc

    @classmethod
    def problem(cls, path: str | Path) -> str | None:
        """Why ``path`` does not hold a current record, or None when it does."""
        try:
            cls.read(path)
        except InputDataError as exc:
            return exc.message
        return None


def _is_later(version: Any, current: int) -> bool:
    return isinstance(version, int) and not isinstance(version, bool) and version > current


def _version_problem(cls: type[WorkspaceRecord], version: Any) -> str:
    current = cls.current_version()
    if version is None:
        return (f"the {cls.DESCRIPTION} was written by an earlier version of radiomics-hnc "
                f"(it has no schema_version; this version reads schema_version {current})")
    if _is_later(version, current):
        return (f"the {cls.DESCRIPTION} was written by a later version of radiomics-hnc "
                f"(schema_version {version}; this version reads {current})")
    return (f"the {cls.DESCRIPTION} has schema_version {version!r}; this version of "
            f"radiomics-hnc reads {current}")
