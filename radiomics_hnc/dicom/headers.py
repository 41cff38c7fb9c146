"""DICOM header values read with errors that name the attribute, its tag, the file and the patient.

pydicom gives header values as text or its own value classes; a missing, empty or malformed
value (``PatientWeight`` of 0, a ``SeriesDate`` of ``00000000``) must never become a number that
flows into an SUV. Every reader here returns a checked value or raises
:class:`~radiomics_hnc.errors.InputDataError` saying which attribute of which file is wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, TM

from radiomics_hnc.errors import InputDataError

#: SOP classes this import reads or recognises (DICOM PS3.4 B.5).
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_IMAGE = "1.2.840.10008.5.1.4.1.1.128"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RTDOSE = "1.2.840.10008.5.1.4.1.1.481.2"
ENHANCED_IMAGES = {"1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
                   "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET",
                   "1.2.840.10008.5.1.4.1.1.128.1": "Legacy Converted Enhanced PET",
                   "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT"}
#: Secondary Capture image SOP classes all start with this root.
SECONDARY_CAPTURE_ROOT = "1.2.840.10008.5.1.4.1.1.7"


def tag_text(keyword: str) -> str:
    """``PatientWeight (0010,1030)``: the keyword with its tag, as messages name attributes."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def source_path(ds: Dataset) -> str | None:
    """The file a dataset was read from (None for one built in memory)."""
    name = getattr(ds, "filename", None)
    return str(name) if isinstance(name, (str, Path)) else None


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings about values that break their VR's rules (a 17-character
    SH, a UID with letters), which real scanners write all the time; the values are still
    read, and pydicom converts them lazily, so the whole use of a dataset is wrapped."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\.")
        yield


def read_dataset(path: str | Path, headers_only: bool = False) -> Dataset:
    """Read a DICOM file (the Part 10 format, with its 'DICM' preamble)."""
    with quiet_pydicom():
        return pydicom.dcmread(str(path), stop_before_pixels=headers_only)


def unreadable_reason(exc: Exception) -> str:
    """Why a file could not be read as DICOM, in words."""
    if isinstance(exc, InvalidDicomError):
        return "not a DICOM file (no DICM preamble)"
    return f"unreadable or truncated DICOM file ({type(exc).__name__}: {exc})"


def text(ds: Dataset, keyword: str, default: str = "") -> str:
    """A header value as stripped text ('' when absent or empty)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def values(ds: Dataset, keyword: str) -> tuple[str, ...]:
    """A multi-valued text attribute (ImageType, CorrectedImage) as upper-case strings."""
    value = ds.get(keyword)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip().upper() for v in value.split("\\"))
    return tuple(str(v).strip().upper() for v in value)


def number(ds: Dataset, keyword: str, patient_id: str | None, *, positive: bool = False,
           what: str = "", hint: str | None = None, path: str | None = None) -> float:
    """A required numeric attribute, refused when missing, empty, not a number or (with
    ``positive``) zero or negative. ``path`` names the file for an item of a sequence."""
    value = ds.get(keyword)
    described = f"{tag_text(keyword)}{' ' + what if what else ''}"
    path = path or source_path(ds)
    if value is None or value == "":
        raise InputDataError(f"{described} is missing or empty", patient_id=patient_id,
                             path=path, hint=hint)
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InputDataError(f"{described} is not a number ({value!r})", patient_id=patient_id,
                             path=path, hint=hint) from None
    if positive and not result > 0:
        raise InputDataError(f"{described} is {value} (must be positive)",
                             patient_id=patient_id, path=path, hint=hint)
    return result


def optional_number(ds: Dataset, keyword: str) -> float | None:
    """A numeric attribute, or None when it is absent, empty or not a number."""
    value = ds.get(keyword)
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def vector(ds: Dataset, keyword: str, length: int, patient_id: str | None) -> tuple[float, ...]:
    """A required multi-valued numeric attribute (ImagePositionPatient, PixelSpacing...)."""
    value = ds.get(keyword)
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != length:
        raise InputDataError(f"{tag_text(keyword)} is missing or malformed ({value!r})",
                             patient_id=patient_id, path=source_path(ds),
                             hint="the image cannot be placed in space; re-export the series")
    return numbers


@dataclass(frozen=True)
class Moment:
    """A time point from DICOM date and time attributes: the time of day always, the date when
    the header gives a valid one (anonymisation often blanks or shifts dates)."""

    day: date | None
    seconds: float
    source: str

    def seconds_since(self, earlier: Moment) -> float:
        """Seconds from ``earlier`` to this moment: with both dates known, the whole interval;
        otherwise the difference of the times of day."""
        if self.day is not None and earlier.day is not None:
            return (self.day - earlier.day).days * 86400.0 + self.seconds - earlier.seconds
        return self.seconds - earlier.seconds

    def shifted(self, seconds: float, source: str) -> Moment:
        """This moment moved by ``seconds`` (across midnight when the date is known)."""
        total = self.seconds + seconds
        if self.day is None:
            return Moment(None, total, source)
        days, rest = divmod(total, 86400.0)
        return Moment(self.day + timedelta(days=int(days)), rest, source)

    def iso(self) -> str:
        """ISO text for the import log (time only when the date is unknown)."""
        clock = (datetime.min + timedelta(seconds=self.seconds)).time().isoformat()
        return f"{self.day.isoformat()}T{clock}" if self.day else clock


def _seconds_of_day(value: Any) -> float:
    return value.hour * 3600.0 + value.minute * 60.0 + value.second + value.microsecond / 1e6


def _parse(kind: type, raw: Any) -> Any:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return kind(str(raw).strip())
    except (TypeError, ValueError, OverflowError):
        return None


def moment(ds: Dataset, date_keyword: str | None, time_keyword: str) -> Moment | None:
    """A :class:`Moment` from a date and a time attribute (None when the time is unreadable)."""
    clock = _parse(TM, ds.get(time_keyword))
    if clock is None:
        return None
    day = _parse(DA, ds.get(date_keyword)) if date_keyword else None
    label = f"{date_keyword}/{time_keyword}" if date_keyword else time_keyword
    return Moment(day if isinstance(day, date) else None, _seconds_of_day(clock), label)


def datetime_moment(raw: Any, source: str) -> Moment | None:
    """A :class:`Moment` from a DT value (``YYYYMMDDHHMMSS.FFFFFF``); None when unreadable or
    without a time of day."""
    value = _parse(DT, raw)
    if value is None or len(str(raw).strip()) < 10:
        return None
    return Moment(value.date(), _seconds_of_day(value), source)
