"""Domain exceptions: each expected failure says what was found, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path


class RadiomicsHNCError(Exception):
    """A failure caused by the user's input or settings (CLI exit code 1, no traceback).

    Parameters
    ----------
    message
        What went wrong, in one sentence.
    patient_id
        The patient concerned, when there is one.
    path
        The file concerned, when there is one.
    hint
        What the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        patient_id: str | None = None,
        path: str | Path | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.patient_id = patient_id
        self.path = None if path is None else str(path)
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.patient_id:
            where.append(f"patient {self.patient_id}")
        if self.path:
            where.append(f"file {self.path}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text = text.rstrip(".") + f". Fix: {self.hint}"
        return text


class InputDataError(RadiomicsHNCError):
    """A data file or table is missing, unreadable or inconsistent."""


class ConfigError(RadiomicsHNCError):
    """A configuration or model specification file is invalid."""


class WorkspaceBusyError(RadiomicsHNCError):
    """Another run holds the lock of the outputs this run would write."""
