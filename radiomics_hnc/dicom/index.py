"""Index of a DICOM export: one row of header facts per file, grouped by patient.

The source is any tree of files (nested folders, several patients per folder, files without
extension); only the file's own header says what it is. Files that are not DICOM, cannot be
read, or carry no PatientID are listed with the reason and belong to no patient.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from radiomics_hnc.dicom.headers import (
    RTSTRUCT,
    quiet_pydicom,
    read_dataset,
    text,
    unreadable_reason,
    values,
)

#: SOP class of a DICOMDIR (an index of a CD or export, not an image).
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class Instance:
    """The header facts of one DICOM file that series selection needs."""

    path: str
    size: int
    mtime_ns: int
    patient: str
    sop_class: str
    sop_instance: str
    modality: str
    study: str
    series: str
    frame_of_reference: str
    series_number: str
    series_description: str
    series_date: str
    series_time: str
    image_type: tuple[str, ...] = ()
    corrected_image: tuple[str, ...] = ()
    frames: int = 1
    roi_names: tuple[str, ...] = ()
    roi_frames: tuple[str, ...] = ()
    dose_summation: str = ""
    content_date: str = ""
    content_time: str = ""


@dataclass
class SourceIndex:
    """Every DICOM file found under a folder, and the files that could not be used."""

    root: Path
    instances: list[Instance] = field(default_factory=list)
    unusable: list[tuple[str, str]] = field(default_factory=list)

    def by_patient(self) -> dict[str, list[Instance]]:
        """Instances grouped by DICOM PatientID (sorted ids, files in path order)."""
        groups: dict[str, list[Instance]] = defaultdict(list)
        for instance in self.instances:
            groups[instance.patient].append(instance)
        return {pid: sorted(groups[pid], key=lambda i: i.path) for pid in sorted(groups)}


def _instance(path: Path, ds: Dataset) -> Instance:
    stat = path.stat()
    sop_class = text(ds, "SOPClassUID")
    extra: dict[str, object] = {}
    if sop_class == RTSTRUCT:
        rois = ds.get("StructureSetROISequence") or []
        extra = {"roi_names": tuple(text(r, "ROIName") for r in rois),
                 "roi_frames": tuple(text(r, "ReferencedFrameOfReferenceUID") for r in rois),
                 "content_date": text(ds, "StructureSetDate"),
                 "content_time": text(ds, "StructureSetTime")}
    else:
        extra = {"content_date": text(ds, "ContentDate"), "content_time": text(ds, "ContentTime"),
                 "dose_summation": text(ds, "DoseSummationType").upper()}
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        frames = 1
    return Instance(
        path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns,
        patient=text(ds, "PatientID"), sop_class=sop_class,
        sop_instance=text(ds, "SOPInstanceUID"), modality=text(ds, "Modality").upper(),
        study=text(ds, "StudyInstanceUID"), series=text(ds, "SeriesInstanceUID"),
        frame_of_reference=text(ds, "FrameOfReferenceUID"),
        series_number=text(ds, "SeriesNumber"), series_description=text(ds, "SeriesDescription"),
        series_date=text(ds, "SeriesDate"), series_time=text(ds, "SeriesTime"),
        image_type=values(ds, "ImageType"), corrected_image=values(ds, "CorrectedImage"),
        frames=frames, **extra)  # type: ignore[arg-type]


def scan_folder(root: str | Path) -> SourceIndex:
    """Read the header of every file under ``root`` (links are not followed; hidden files
    and folders are skipped)."""
    root = Path(root)
    index = SourceIndex(root)
    with quiet_pydicom():
        _scan(root, index)
    return index


def _scan(root: Path, index: SourceIndex) -> None:
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            try:
                ds = read_dataset(path, headers_only=True)
                instance = _instance(path, ds)
            except Exception as exc:  # any file may be anything
                index.unusable.append((str(path), unreadable_reason(exc)))
                continue
            if instance.sop_class == MEDIA_DIRECTORY:
                continue
            if not instance.patient:
                index.unusable.append((str(path), "no PatientID in the header"))
            elif not instance.series or not instance.sop_instance:
                index.unusable.append((str(path), "no SeriesInstanceUID or SOPInstanceUID"))
            else:
                index.instances.append(instance)
