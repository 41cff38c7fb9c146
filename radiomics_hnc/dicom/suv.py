"""PET values to SUV, following the QIBA vendor-neutral pseudo-code (Kinahan et al.).

One factor per series multiplies the modality values (stored value x RescaleSlope +
RescaleIntercept, slice by slice: GE and Siemens vary the slope per slice):

- ``Units`` BQML (Bq/ml), ``DecayCorrection`` START: the values are decay-corrected to the
  scan start, so the injected dose is decayed from the injection to the scan start:
  ``SUVbw = value x weight[g] / (dose[Bq] x 2^(-(scan - injection) / half-life))``.
  The scan start is the series date-time when it is not after the earliest acquisition
  date-time of the series (the usual case). Otherwise the series was made later (a
  re-reconstruction, a post-processed copy) and the start is taken, as in the pseudo-code,
  from GE's private scan date-time (0009,100D) or computed back from the earliest frame:
  ``acquisition + T_avg - FrameReferenceTime``, with ``T_avg`` the time within a frame of
  ``ActualFrameDuration`` at which the activity equals its frame average (DICOM PS3.3
  C.8.9.4.1.5). Without either the import
  refuses: the start is not guessed.
- BQML with ``DecayCorrection`` ADMIN: the values are already corrected to the injection, so
  the dose is not decayed.
- ``Units`` CNTS (Philips): the private SUV scale factor (7053,1000) gives SUVbw directly;
  without it, the activity-concentration factor (7053,1009) scales the values to Bq/ml and
  the BQML rules apply.
- ``Units`` GML: the values are SUVbw already.

Weight, dose, half-life and times come only from the headers: a missing or zero value is a
per-patient error naming the attribute, never a default. Lean body mass (SUL, Janmahasatian
2005, as recommended for PERCIST by Tahari et al. 2014) and body surface area (Du Bois, in
cm^2 as in the pseudo-code) replace the weight on request and need PatientSize (and
PatientSex for SUL).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from radiomics_hnc.choices import SUVNormalisation
from radiomics_hnc.dicom.headers import (
    Moment,
    datetime_moment,
    moment,
    number,
    optional_number,
    source_path,
    tag_text,
    text,
    values,
)
from radiomics_hnc.errors import InputDataError

#: SUV normalisations: body weight, lean body mass (SUL), body surface area.
NORMALISATIONS = tuple(SUVNormalisation.values())
#: A series date-time up to this many seconds after the first acquisition is "not after" it
#: (headers round times differently: 123034.000000 against 123033.999990).
SERIES_TIME_TOLERANCE_S = 1.0
#: A scan may start up to this many seconds before the injection (dynamic acquisitions).
EARLY_SCAN_S = 300.0
#: Philips PET private block and GE PET private block (creator names as the vendors write them).
PHILIPS_CREATOR, GE_CREATOR = "Philips PET Private Group", "GEMS_PETD_01"
PHILIPS_SUV_FACTOR, PHILIPS_ACTIVITY_FACTOR, GE_SCAN_DATETIME = 0x00, 0x09, 0x0D


@dataclass(frozen=True)
class SUVConversion:
    """The factor that turns a PET series' modality values into SUV, and how it was found."""

    factor: float
    record: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _error(ds: Dataset, patient_id: str | None, message: str, hint: str) -> InputDataError:
    return InputDataError(message, patient_id=patient_id, path=source_path(ds), hint=hint)


def _private(ds: Dataset, group: int, creator: str, element: int) -> Any:
    """A vendor private value (None when absent or empty), found through its creator name so
    that a block moved by an anonymiser is still read and another vendor's tag never is."""
    try:
        value = ds.private_block(group, creator)[element].value
    except (KeyError, ValueError):
        return None
    if isinstance(value, bytes):  # a private tag read without its dictionary (VR UN)
        value = value.decode("ascii", "ignore").strip("\x00 ")
    return None if value is None or str(value).strip() == "" else value


def _radiopharmaceutical(ds: Dataset, patient_id: str | None) -> Dataset:
    sequence = ds.get("RadiopharmaceuticalInformationSequence")
    if not sequence:
        raise _error(ds, patient_id, f"{tag_text('RadiopharmaceuticalInformationSequence')} "
                     "is missing: no injected dose, half-life or injection time",
                     "export the PET with its radiopharmaceutical information")
    return sequence[0]


def _injection(item: Dataset, ds: Dataset, patient_id: str | None) -> Moment:
    when = datetime_moment(item.get("RadiopharmaceuticalStartDateTime"),
                           "RadiopharmaceuticalStartDateTime")
    clock = moment(item, None, "RadiopharmaceuticalStartTime")
    if when is None and clock is None:
        raise _error(ds, patient_id, f"{tag_text('RadiopharmaceuticalStartTime')} and "
                     f"{tag_text('RadiopharmaceuticalStartDateTime')} are missing or unreadable: "
                     "the injection time is unknown",
                     "export the PET with the injection time (Radiopharmaceutical Information)")
    return when or clock  # type: ignore[return-value]


def _acquisitions(headers: Sequence[Dataset]) -> list[tuple[Moment, Dataset]]:
    found = []
    for ds in headers:
        when = (datetime_moment(ds.get("AcquisitionDateTime"), "AcquisitionDateTime")
                or moment(ds, "AcquisitionDate", "AcquisitionTime"))
        if when is not None:
            found.append((when, ds))
    return found


def frame_average_time(duration_s: float, half_life_s: float) -> float:
    """Seconds after a frame's start at which the decaying activity equals its average over a
    frame of ``duration_s``: ``T_avg = ln(lambda T / (1 - exp(-lambda T))) / lambda`` (DICOM
    PS3.3 C.8.9.4.1.5), a little before mid-frame."""
    decay = math.log(2) / half_life_s * duration_s
    if decay < 1e-9:
        return duration_s / 2
    return math.log(decay / (1 - math.exp(-decay))) / (math.log(2) / half_life_s)


def scan_start(headers: Sequence[Dataset], half_life_s: float,
               patient_id: str | None) -> Moment:
    """The time the values are decay-corrected to (DecayCorrection START), per the QIBA
    pseudo-code; see the module docstring. ``Moment.source`` says which rule gave it."""
    first = headers[0]
    series = moment(first, "SeriesDate", "SeriesTime")
    if series is None:
        raise _error(first, patient_id, f"{tag_text('SeriesTime')} is missing or unreadable",
                     "export the PET series with its series date and time")
    acquisitions = _acquisitions(headers)
    if not acquisitions:
        return series
    earliest, earliest_ds = min(acquisitions, key=lambda pair: pair[0].seconds_since(series))
    if series.seconds_since(earliest) <= SERIES_TIME_TOLERANCE_S:
        return series
    ge = _private(first, 0x0009, GE_CREATOR, GE_SCAN_DATETIME)
    ge_moment = datetime_moment(ge, "GE private scan date-time (0009,100D)") if ge else None
    if ge_moment is not None:
        return ge_moment
    reference = optional_number(earliest_ds, "FrameReferenceTime")
    duration = optional_number(earliest_ds, "ActualFrameDuration")
    if reference is not None and duration is not None and duration > 0:
        offset = frame_average_time(duration / 1000, half_life_s) - reference / 1000
        rule = (f"{earliest.source} + T_avg({tag_text('ActualFrameDuration')}) - "
                f"{tag_text('FrameReferenceTime')}")
        return earliest.shifted(offset, rule)
    raise _error(earliest_ds, patient_id,
                 f"the series time {series.iso()} is after the first acquisition time "
                 f"{earliest.iso()} (a re-reconstructed or post-processed series), and neither "
                 "GE's private scan time (0009,100D) nor FrameReferenceTime and "
                 "ActualFrameDuration are present to find the scan start",
                 "export the original reconstruction of the PET")


def decay_seconds(scan: Moment, injection: Moment, ds: Dataset,
                  patient_id: str | None) -> tuple[float, list[str]]:
    """Seconds from injection to scan start, and warnings about the dates used.

    With both dates known and an interval under 24 h, the whole interval is used (a scan after
    midnight is handled). Dates that disagree by more (anonymisation shifts them) fall back to
    the times of day, with a warning. A scan may start shortly before the injection (a dynamic
    acquisition started at injection: the dose is then "decayed" backwards); a scan starting
    more than :data:`EARLY_SCAN_S` before the injection is refused as an error in the times.
    """
    notes: list[str] = []
    interval = scan.seconds_since(injection)
    if (scan.day is not None and injection.day is not None
            and not -EARLY_SCAN_S <= interval < 86400):
        notes.append(f"the injection date ({injection.source} {injection.iso()}) and the scan "
                     f"date ({scan.source} {scan.iso()}) are {interval / 86400:.1f} days "
                     "apart (dates shifted by anonymisation?): the times of day were used")
        interval = scan.seconds - injection.seconds
    if interval < -EARLY_SCAN_S:
        raise _error(ds, patient_id,
                     f"the injection ({injection.source} {injection.iso()}) is after the scan "
                     f"start ({scan.source} {scan.iso()})",
                     "check the injection time; if the scan crossed midnight, the "
                     "RadiopharmaceuticalStartDateTime must give the injection date")
    if interval < -SERIES_TIME_TOLERANCE_S:
        notes.append(f"the scan started {-interval:.0f} s before the injection (a dynamic "
                     "acquisition?): the dose was decayed back to the scan start")
    return interval, notes


def _body(ds: Dataset, normalisation: str, patient_id: str | None) -> tuple[float, dict]:
    """The normaliser (g for bw and sul, cm^2 for bsa) and its inputs for the log."""
    hint = "the PET header needs the patient's weight (and height/sex for SUL and BSA)"
    weight = number(ds, "PatientWeight", patient_id, positive=True, what="(kg)", hint=hint)
    record: dict[str, Any] = {"weight_kg": weight, "normalisation": normalisation}
    if normalisation == "bw":
        return weight * 1000.0, record | {"normaliser": "body weight [g]"}
    height = number(ds, "PatientSize", patient_id, positive=True, what="(m)", hint=hint)
    record["height_m"] = height
    if normalisation == "bsa":
        bsa_m2 = 0.007184 * weight ** 0.425 * (height * 100) ** 0.725
        return bsa_m2 * 1e4, record | {"normaliser": "body surface area, Du Bois [cm2]",
                                       "bsa_m2": bsa_m2}
    sex = text(ds, "PatientSex").upper()
    if sex not in ("M", "F"):
        raise _error(ds, patient_id, f"{tag_text('PatientSex')} is {sex or 'empty'!r}: SUL "
                     "(lean body mass) needs M or F", hint)
    bmi = weight / height ** 2
    lbm = 9270 * weight / ((6680 + 216 * bmi) if sex == "M" else (8780 + 244 * bmi))
    return lbm * 1000.0, record | {"normaliser": "lean body mass, Janmahasatian [g]",
                                   "sex": sex, "lean_body_mass_kg": lbm}


def _decayed_dose(headers: Sequence[Dataset], patient_id: str | None,
                  record: dict[str, Any]) -> tuple[float, list[str]]:
    """The injected dose at the time the values refer to (Bq), for BQML values."""
    first = headers[0]
    decay = text(first, "DecayCorrection").upper()
    corrected = values(first, "CorrectedImage")
    if "DECY" not in corrected:
        raise _error(first, patient_id, f"{tag_text('CorrectedImage')} {list(corrected)} lacks "
                     "DECY: the values are not decay-corrected",
                     "export the decay-corrected reconstruction of the PET")
    item = _radiopharmaceutical(first, patient_id)
    dose = number(item, "RadionuclideTotalDose", patient_id, positive=True, what="(Bq)",
                  hint="export the PET with the injected dose", path=source_path(first))
    half_life = number(item, "RadionuclideHalfLife", patient_id, positive=True, what="(s)",
                       hint="export the PET with the radionuclide half-life",
                       path=source_path(first))
    record.update({"decay_correction": decay, "injected_dose_bq": dose,
                   "half_life_s": half_life})
    if decay == "ADMIN":
        record.update({"decay_factor": 1.0, "decayed_dose_bq": dose})
        return dose, []
    if decay != "START":
        raise _error(first, patient_id, f"{tag_text('DecayCorrection')} is {decay or 'empty'!r}: "
                     "SUV needs values decay-corrected to the scan start (START) or the "
                     "injection (ADMIN)", "export the decay-corrected reconstruction")
    start = scan_start(headers, half_life, patient_id)
    injection = _injection(item, first, patient_id)
    seconds, notes = decay_seconds(start, injection, first, patient_id)
    factor = 2.0 ** (-seconds / half_life)
    record.update({"scan_start": start.iso(), "scan_start_source": start.source,
                   "injection": injection.iso(), "injection_source": injection.source,
                   "decay_time_s": seconds, "decay_factor": factor,
                   "decayed_dose_bq": dose * factor})
    return dose * factor, notes


def _constant(headers: Sequence[Dataset], element: int, patient_id: str | None) -> float | None:
    """A Philips private factor, required to be the same on every slice."""
    found = [_private(ds, 0x7053, PHILIPS_CREATOR, element) for ds in headers]
    if found[0] is None:
        return None
    numbers = {float(v) if v is not None else None for v in found}
    if len(numbers) > 1:
        raise _error(headers[0], patient_id, f"the Philips private factor (7053,10{element:02X}) "
                     f"differs between slices ({sorted(map(str, numbers))})",
                     "export the series again from the scanner")
    return float(found[0])


def suv_conversion(headers: Sequence[Dataset], normalisation: str = "bw",
                   patient_id: str | None = None) -> SUVConversion:
    """The SUV factor of a PET series from its headers (one per slice, any order).

    Raises
    ------
    InputDataError
        The headers do not allow an SUV (the message names the missing or invalid
        attribute and the file).
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown SUV normalisation {normalisation!r}")
    first = headers[0]
    units = text(first, "Units").upper()
    if "ATTN" not in values(first, "CorrectedImage"):
        raise _error(first, patient_id, f"{tag_text('CorrectedImage')} lacks ATTN: the PET is "
                     "not attenuation-corrected, its values are not quantitative",
                     "export the attenuation-corrected (AC) PET series")
    body, record = _body(first, normalisation, patient_id)
    record.update({"units": units, "manufacturer": text(first, "Manufacturer")})
    notes: list[str] = []
    if units == "GML":
        factor = body / (record["weight_kg"] * 1000.0)
        record["rule"] = "Units GML: values are SUVbw already"
    elif units == "CNTS" and (scale := _constant(headers, PHILIPS_SUV_FACTOR, patient_id)):
        factor = scale * body / (record["weight_kg"] * 1000.0)
        record.update({"rule": "Units CNTS: Philips SUV scale factor (7053,1000)",
                       "philips_suv_scale_factor": scale})
    elif units == "CNTS" and (activity := _constant(headers, PHILIPS_ACTIVITY_FACTOR,
                                                    patient_id)):
        dose, notes = _decayed_dose(headers, patient_id, record)
        factor = activity * body / dose
        record.update({"rule": "Units CNTS: Philips activity concentration factor (7053,1009) "
                               "to Bq/ml, then the BQML rules",
                       "philips_activity_scale_factor": activity})
    elif units == "BQML":
        dose, notes = _decayed_dose(headers, patient_id, record)
        factor = body / dose
        record["rule"] = f"Units BQML, DecayCorrection {record['decay_correction']}"
    elif units == "CNTS":
        raise _error(first, patient_id, "Units CNTS (scanner counts) without a usable Philips "
                     "SUV scale factor (7053,1000) or activity concentration factor (7053,1009)",
                     "export the PET in Bq/ml (BQML), or with the Philips private SUV factors")
    else:
        raise _error(first, patient_id, f"{tag_text('Units')} is {units or 'empty'!r}: only BQML "
                     "(Bq/ml), CNTS with the Philips SUV factor, and GML (SUV) can be "
                     "converted to SUV", "export the PET in Bq/ml (BQML)")
    if not (math.isfinite(factor) and factor > 0):
        raise _error(first, patient_id, f"the SUV factor computed from the headers is {factor}",
                     "check the weight, dose and times in the PET header")
    record["suv_factor"] = factor
    return SUVConversion(factor, record, tuple(notes))
