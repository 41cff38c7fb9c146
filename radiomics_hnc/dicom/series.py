"""Which series of a patient's export become the CT, the PET, the label map and the dose.

Rules (each choice among several is logged with the candidates left out):

- PET: PET Image Storage series that are volumes of original, attenuation-corrected images.
  Skipped, with the reason logged: localizers, projections (MIP), secondary captures,
  secondary images, PET without ATTN in CorrectedImage (NAC), enhanced multi-frame images,
  single images, series whose description matches ``--skip-series``. DERIVED/PRIMARY series
  (some scanners mark their AC reconstruction so) are used only when no original qualifies.
  Among several: the one with a CT in the same study and frame of reference, original before
  derived, the earliest (the baseline scan), the most images, the lowest series number.
- CT: from the PET's study (or, when the archive filed them apart, the PET's frame of
  reference), preferring the PET's frame of reference (a PET/CT's CT shares it), original
  before derived, the most images, the lowest series number.
- RTSTRUCT: one whose ROIs are in the CT's frame of reference, with the most ROIs the ROI map
  recognises, the latest structure set date. An RTSTRUCT in another frame of reference (the
  planning CT's) is reported, not used.
- RTDOSE: whole-treatment doses only (DoseSummationType MULTI_PLAN before PLAN; per-beam or
  per-fraction doses are skipped), the latest; with the CT series of its frame of reference
  as the planning CT (the PET/CT's own CT when the plan was made on it).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from radiomics_hnc.dicom.headers import (
    CT_IMAGE,
    ENHANCED_IMAGES,
    PET_IMAGE,
    RTDOSE,
    RTSTRUCT,
    SECONDARY_CAPTURE_ROOT,
)
from radiomics_hnc.dicom.index import Instance
from radiomics_hnc.dicom.problems import Problem
from radiomics_hnc.dicom.rtdose import WHOLE_PLAN_TYPES
from radiomics_hnc.dicom.rtstruct import RoiMap


def _stamp(day: str, clock: str) -> float:
    """A sortable number from DICOM date and time text (0 when unreadable)."""
    try:
        return int(day[:8] or 0) * 1e6 + float((clock or "0").replace(":", "")[:13])
    except ValueError:
        return 0.0


def _series_number(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        return 1 << 30


@dataclass
class Series:
    """The instances of one SeriesInstanceUID (duplicate copies of a file counted once)."""

    uid: str
    instances: list[Instance]

    @property
    def first(self) -> Instance:
        return self.instances[0]

    @property
    def images(self) -> int:
        return len({i.sop_instance for i in self.instances})

    @property
    def derived(self) -> bool:
        return bool(self.first.image_type) and self.first.image_type[0] == "DERIVED"

    @property
    def started(self) -> float:
        return _stamp(self.first.series_date, self.first.series_time) or float("inf")

    def label(self) -> str:
        """'PT series 3 "PET AC WB" (250 images, 2019-05-02)' for messages."""
        day = self.first.series_date
        when = f", {day[:4]}-{day[4:6]}-{day[6:8]}" if len(day) >= 8 else ""
        return (f"{self.first.modality} series {self.first.series_number or '?'} "
                f"{self.first.series_description!r} ({self.images} images{when})")

    def summary(self) -> dict[str, Any]:
        """What the import log records about a series used."""
        first = self.first
        return {"series_uid": self.uid, "study_uid": first.study,
                "frame_of_reference_uid": first.frame_of_reference,
                "modality": first.modality, "series_number": first.series_number,
                "description": first.series_description, "series_date": first.series_date,
                "series_time": first.series_time, "images": self.images,
                "image_type": list(first.image_type)}


def instance_summary(instance: Instance) -> dict[str, Any]:
    """What the import log records about an RTSTRUCT or RTDOSE file used."""
    return {"sop_instance_uid": instance.sop_instance, "series_uid": instance.series,
            "study_uid": instance.study, "frame_of_reference_uid": instance.frame_of_reference,
            "description": instance.series_description, "content_date": instance.content_date,
            "content_time": instance.content_time, "file": instance.path}


def group_series(instances: Sequence[Instance]) -> list[Series]:
    """Series of the instances, in time order (study, date, time, number, UID)."""
    groups: dict[str, list[Instance]] = defaultdict(list)
    for instance in instances:
        groups[instance.series].append(instance)
    series = [Series(uid, sorted(items, key=lambda i: i.path)) for uid, items in groups.items()]
    return sorted(series, key=lambda s: (s.first.study, s.started,
                                         _series_number(s.first.series_number), s.uid))


def exclusion(series: Series, skip: re.Pattern[str] | None = None) -> str | None:
    """Why an image series cannot be the patient's CT or PET volume (None when it can)."""
    first = series.first
    types = {t for i in series.instances for t in i.image_type}
    if skip is not None and skip.search(first.series_description):
        return f"its description matches --skip-series {skip.pattern!r}"
    if first.sop_class in ENHANCED_IMAGES:
        return (f"{ENHANCED_IMAGES[first.sop_class]} multi-frame images are not supported "
                "(export the classic single-frame images)")
    if first.sop_class.startswith(SECONDARY_CAPTURE_ROOT):
        return "secondary capture (a picture of an image, not its values)"
    if "LOCALIZER" in types:
        return "localizer (scout) images"
    if any("MIP" in t or "PROJECTION" in t for t in types) or any(
            "REPROJECTION" in t for t in types):
        return "projection images (MIP)"
    if any(len(i.image_type) > 1 and i.image_type[1] == "SECONDARY" for i in series.instances):
        return "secondary images (ImageType SECONDARY: reformats, fusions, screenshots)"
    if first.modality == "PT" and not all("ATTN" in i.corrected_image for i in series.instances):
        return "not attenuation-corrected (CorrectedImage lacks ATTN: a NAC reconstruction)"
    if any(i.frames > 1 for i in series.instances):
        return "multi-frame images are not supported (export single-frame images)"
    if series.images < 2:
        return "a single image, not a volume"
    return None


@dataclass
class Selection:
    """The series and files chosen for one patient, and what was found on the way."""

    pet: Series | None = None
    ct: Series | None = None
    rtstruct: Instance | None = None
    dose: Instance | None = None
    planning_ct: Series | None = None
    problems: list[Problem] = field(default_factory=list)


def _choose(candidates: list[Any], key: Callable[[Any], tuple], what: str, rule: str,
            describe: Callable[[Any], str], problems: list[Problem]) -> Any:
    """The first candidate by ``key``; a warning naming the others when there are several."""
    ranked = sorted(candidates, key=key)
    if len(ranked) > 1:
        problems.append(Problem(
            "warning", f"{len(ranked)} {what} qualify: used {describe(ranked[0])} (rule: "
            f"{rule}); not used: {'; '.join(describe(c) for c in ranked[1:])}"))
    return ranked[0]


def _usable_images(series: list[Series], problems: list[Problem],
                   skip: re.Pattern[str] | None) -> tuple[list[Series], list[Series]]:
    """The CT and PET series that can be volumes; an info problem for each one skipped."""
    cts, pets = [], []
    for item in series:
        modality = item.first.modality
        if item.first.sop_class not in (CT_IMAGE, PET_IMAGE) and modality not in ("CT", "PT"):
            continue
        reason = exclusion(item, skip)
        if reason is not None:
            problems.append(Problem("info", f"{item.label()} skipped: {reason}",
                                    item.first.path))
        elif modality == "PT":
            pets.append(item)
        elif modality == "CT":
            cts.append(item)
    return cts, pets


def _pet_and_ct(cts: list[Series], pets: list[Series], selection: Selection) -> None:
    problems = selection.problems
    partner = {(c.first.study, c.first.frame_of_reference) for c in cts}
    if not any(not p.derived for p in pets):
        for pet in pets:
            problems.append(Problem("warning", f"{pet.label()} is DERIVED (ImageType "
                                    f"{'/'.join(pet.first.image_type)}); used as no original "
                                    "attenuation-corrected PET was found", pet.first.path))
    pet = _choose(
        [p for p in pets if not p.derived] or pets,
        lambda p: ((p.first.study, p.first.frame_of_reference) not in partner, p.started,
                   -p.images, _series_number(p.first.series_number), p.uid),
        "attenuation-corrected PET series",
        "a CT in the same study and frame of reference, earliest, most images, lowest number",
        Series.label, problems)
    selection.pet = pet
    # Some archives file the PET and the CT of one PET/CT under two studies: the shared frame
    # of reference (one scanner session) still pairs them.
    candidates = ([c for c in cts if c.first.study == pet.first.study]
                  or [c for c in cts if c.first.frame_of_reference == pet.first.frame_of_reference])
    if not candidates:
        return
    ct = _choose(
        candidates,
        lambda c: (c.first.frame_of_reference != pet.first.frame_of_reference, c.derived,
                   -c.images, _series_number(c.first.series_number), c.uid),
        "CT series in the PET's study",
        "the PET's frame of reference, original before derived, most images, lowest number",
        Series.label, problems)
    if ct.first.frame_of_reference != pet.first.frame_of_reference:
        problems.append(Problem("warning", f"the CT ({ct.label()}) and the PET do not share a "
                                "frame of reference: their alignment is not guaranteed by the "
                                "scanner; check it (validate reports the overlap)"))
    selection.ct = ct


def _rtstruct(instances: list[Instance], ct: Series, roi_map: RoiMap,
              selection: Selection) -> None:
    structures = [i for i in instances if i.sop_class == RTSTRUCT]
    frame = ct.first.frame_of_reference
    on_ct = [s for s in structures if frame in s.roi_frames]
    if not structures:
        selection.problems.append(Problem("warning", "no RTSTRUCT in the export: no label map "
                                          "written (radiomics-hnc segment can draw one)"))
        return
    if not on_ct:
        frames = sorted({f for s in structures for f in s.roi_frames})
        selection.problems.append(Problem(
            "error", f"{len(structures)} RTSTRUCT found, none in the PET/CT's frame of "
            f"reference {frame} (their ROIs refer to {frames}: the planning CT?); no label "
            "map written. Fix: contour on the PET/CT, or register the contours to it and "
            "export them", structures[0].path))
        return

    def mapped(structure: Instance) -> int:
        return sum(roi_map.classify(name)[0] is not None
                   for name, roi_frame in zip(structure.roi_names, structure.roi_frames,
                                              strict=False) if roi_frame in ("", frame))

    selection.rtstruct = _choose(
        on_ct, lambda s: (-mapped(s), -_stamp(s.content_date, s.content_time), s.sop_instance),
        "RTSTRUCT in the CT's frame of reference",
        "most ROIs recognised by the ROI map, latest structure set",
        lambda s: f"{s.series_description!r} ({mapped(s)} ROIs recognised, {s.path})",
        selection.problems)


def _dose(instances: list[Instance], cts: list[Series], selection: Selection) -> None:
    doses = [i for i in instances if i.sop_class == RTDOSE]
    whole = [d for d in doses if d.dose_summation in WHOLE_PLAN_TYPES]
    for skipped in sorted(set(d.dose_summation or "?" for d in doses) - set(WHOLE_PLAN_TYPES)):
        count = sum((d.dose_summation or "?") == skipped for d in doses)
        selection.problems.append(Problem("info", f"{count} RTDOSE with DoseSummationType "
                                          f"{skipped} skipped (not a whole-treatment dose)"))
    if not whole:
        if doses:
            selection.problems.append(Problem("error", "no RTDOSE of a whole plan "
                                              "(DoseSummationType PLAN or MULTI_PLAN); no dose "
                                              "imported. Fix: export the plan dose",
                                              doses[0].path))
        return
    dose = _choose(
        whole, lambda d: (WHOLE_PLAN_TYPES.index(d.dose_summation),
                          -_stamp(d.content_date, d.content_time), d.sop_instance),
        "plan doses", "MULTI_PLAN before PLAN, latest (doses of several plans are not summed)",
        lambda d: f"{d.dose_summation} dose {d.series_description!r} ({d.path})",
        selection.problems)
    planning = [c for c in cts if c.first.frame_of_reference == dose.frame_of_reference]
    if not dose.frame_of_reference or not planning:
        selection.problems.append(Problem(
            "error", f"no CT series in the RTDOSE's frame of reference "
            f"{dose.frame_of_reference or '(none)'}: the dose cannot be placed on its planning "
            "CT and was not imported. Fix: export the planning CT with the dose", dose.path))
        return
    selection.dose = dose
    selection.planning_ct = _choose(
        planning, lambda c: (c.derived, -c.images, _series_number(c.first.series_number), c.uid),
        "CT series in the dose's frame of reference", "original, most images, lowest number",
        Series.label, selection.problems)


def select_series(instances: Sequence[Instance], roi_map: RoiMap,
                  skip: re.Pattern[str] | None = None) -> Selection:
    """Choose the PET, CT, RTSTRUCT, RTDOSE and planning CT of one patient's instances.

    A patient without a usable PET or CT gets ``pet``/``ct`` None; the problems say what was
    found and skipped.
    """
    selection = Selection()
    series = group_series(instances)
    cts, pets = _usable_images(series, selection.problems, skip)
    others = Counter(s.first.modality or "?" for s in series
                     if s.first.modality not in ("CT", "PT", "RTSTRUCT", "RTDOSE"))
    if others:
        selection.problems.append(Problem("info", "other objects ignored: " + ", ".join(
            f"{modality} ({count} series)" for modality, count in sorted(others.items()))))
    if pets:
        _pet_and_ct(cts, pets, selection)
    if selection.ct is not None:
        _rtstruct(list(instances), selection.ct, roi_map, selection)
        _dose(list(instances), cts, selection)
    return selection
