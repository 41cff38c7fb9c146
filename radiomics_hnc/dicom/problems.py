"""What went wrong or needs a look during an import, as rows of the import log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from radiomics_hnc.errors import RadiomicsHNCError

#: ``error``: something was not imported (the patient, or one of its images or ROIs);
#: ``warning``: imported, but a choice was made or something looks wrong;
#: ``info``: what was skipped and why (localizers, NAC PET, other series).
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Problem:
    """One finding about a patient's DICOM data (the file is the one concerned, if any)."""

    severity: str
    message: str
    file: str | None = None

    @classmethod
    def from_error(cls, exc: RadiomicsHNCError, severity: str = "error") -> Problem:
        """A problem from an import error, keeping its message and fix without the patient
        (the log row names it)."""
        text = exc.message if not exc.hint else f"{exc.message.rstrip('.')}. Fix: {exc.hint}"
        return cls(severity, text, exc.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
