"""Generated patients written as a DICOM export: the test bed of ``radiomics-hnc import-dicom``.

Each patient's images (as rendered for the NIfTI dataset, which is their ground truth) become
what a PACS and a planning system export: a CT series (HU, 12-bit unsigned with intercept
-1024), a PET series (Bq/ml or counts, 16-bit with a slope per slice, the radiopharmaceutical
and timing tags a scanner writes), an RTSTRUCT with the label map's contours on the CT (the
primary as one ROI, each node as its own ROI, a PTV that must not be mapped) and, with a plan,
the planning CT and a multi-frame RTDOSE. Nested folders, files with and without extension.

PET header styles (:data:`PET_STYLES`) cover the SUV rules of the QIBA pseudo-code:
``bqml`` (Bq/ml decay-corrected to the series time, the usual case), ``late-series`` (series
time after the acquisitions, as after a re-reconstruction: the start comes from the frame
timing), ``ge-private`` (series time late, GE's private scan time given), ``cnts`` (Philips
counts with the private SUV factor) and ``admin`` (decay-corrected to the injection).
Stored values are computed here from the header values as written (DS text rounded), with the
forward SUV formula, independently of the importer's code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import contourpy
import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds
from scipy import ndimage

from radiomics_hnc.dicom.headers import CT_IMAGE, PET_IMAGE, RTDOSE, RTSTRUCT

F18_HALF_LIFE_S = 6586.2
PET_STYLES = ("bqml", "late-series", "ge-private", "cnts", "admin")
MANUFACTURERS = {"bqml": "GE MEDICAL SYSTEMS", "late-series": "SIEMENS",
                 "ge-private": "GE MEDICAL SYSTEMS", "cnts": "Philips Medical Systems",
                 "admin": "SIEMENS"}
#: ROI name spellings (primary, node pattern) used in turn, all known to the default ROI map.
ROI_SPELLINGS = (("GTVp", "GTVn{}"), ("GTV_P", "GTV_N{}"), ("GTV-T", "GTV LN {}"),
                 ("GTV primary", "GTV_N_{}"), ("GTVt", "GTVln{}"))
#: Slices per PET bed position and seconds per bed.
BED_SLICES, BED_SECONDS = 40, 120.0


def ds_number(value: float) -> float:
    """``value`` as it reads back from a DS (decimal string) attribute."""
    return float(format_number_as_ds(float(value)))


@dataclass(frozen=True)
class PetHeader:
    """What a PET header says about the patient, the injection and the timing (ground truth)."""

    style: str
    weight_kg: float
    height_m: float
    injected_dose_bq: float
    injection: datetime
    scan_start: datetime
    half_life_s: float = F18_HALF_LIFE_S

    @property
    def suv_factor(self) -> float:
        """SUVbw per Bq/ml (per scaled count for ``cnts``, whose counts are Bq/ml / 2)."""
        if self.style == "admin":
            dose = self.injected_dose_bq
        else:
            decay = (self.scan_start - self.injection).total_seconds()
            dose = self.injected_dose_bq * 2.0 ** (-decay / self.half_life_s)
        return self.weight_kg * 1000.0 / dose

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "injection": self.injection.isoformat(),
                "scan_start": self.scan_start.isoformat(), "suv_factor": self.suv_factor}


def pet_header(rng: np.random.Generator, style: str, day: datetime) -> PetHeader:
    """A plausible FDG PET acquisition: 3.5 MBq/kg, about an hour of uptake, whole seconds."""
    weight = ds_number(round(float(rng.normal(76, 13)), 1))
    weight = min(max(weight, 40.0), 140.0)
    injection = day + timedelta(hours=8, seconds=int(rng.integers(0, 6 * 3600)))
    start = injection + timedelta(seconds=int(rng.normal(3600, 600)))
    return PetHeader(style, weight, ds_number(round(float(rng.uniform(1.55, 1.92)), 2)),
                     ds_number(round(3.5e6 * weight, -4)), injection, start)


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _base(sop_class: str, sop_instance: str, patient: dict[str, str], study: dict[str, str],
          series: dict[str, str]) -> Dataset:
    """A dataset with the file meta, patient, study, series and SOP modules filled."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_instance
    for module in (patient, study, series):
        for keyword, value in module.items():
            setattr(ds, keyword, value)
    return ds


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _geometry(image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(direction 3 x 3 with columns x, y, z; spacing; origin) of an image."""
    return (np.array(image.GetDirection()).reshape(3, 3), np.array(image.GetSpacing()),
            np.array(image.GetOrigin()))


def _plane_module(ds: Dataset, image: sitk.Image, k: int) -> None:
    direction, spacing, origin = _geometry(image)
    position = origin + direction[:, 2] * spacing[2] * k
    ds.ImagePositionPatient = [format_number_as_ds(float(v)) for v in position]
    ds.ImageOrientationPatient = [format_number_as_ds(float(v))
                                  for v in (*direction[:, 0], *direction[:, 1])]
    ds.PixelSpacing = [format_number_as_ds(float(spacing[1])),
                       format_number_as_ds(float(spacing[0]))]
    ds.SliceThickness = format_number_as_ds(float(spacing[2]))
    ds.Rows, ds.Columns = image.GetSize()[1], image.GetSize()[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"


def _pixels(ds: Dataset, stored: np.ndarray, bits: int, signed: bool) -> None:
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = stored.astype(f"<{'i' if signed else 'u'}{bits // 8}").tobytes()


def write_ct(folder: Path, image: sitk.Image, modules: dict[str, dict[str, str]],
             series_uid: str, extension: str = "") -> list[str]:
    """A CT series in HU (unsigned, intercept -1024 or lower); returns the SOP instance UIDs."""
    hu = sitk.GetArrayFromImage(image).astype(np.int32)
    intercept = min(-1024, int(hu.min()))
    uids = []
    for k in range(hu.shape[0]):
        uid = _uid(series_uid, k)
        ds = _base(CT_IMAGE, uid, modules["patient"], modules["study"],
                   modules["series"] | {"SeriesInstanceUID": series_uid, "Modality": "CT"})
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = hu.shape[0] - k  # head first: numbering runs against z
        _plane_module(ds, image, k)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = str(intercept), "1", "HU"
        ds.KVP = "120"
        _pixels(ds, hu[k] - intercept, 16, signed=False)
        _save(ds, folder / f"IM{k + 1:05d}{extension}")
        uids.append(uid)
    return uids


def _frame_average(duration_s: float, half_life_s: float) -> float:
    """Time within a frame at which the activity equals its frame average (DICOM PS3.3
    C.8.9.4.1.5), written out again here so that the exports do not depend on the importer."""
    decay = math.log(2) / half_life_s * duration_s
    return math.log(decay / (1 - math.exp(-decay))) / (math.log(2) / half_life_s)


def _dicom_time(moment: datetime) -> tuple[str, str]:
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")


def _pet_timing(ds: Dataset, header: PetHeader, bed: int) -> None:
    """Series, acquisition and frame timing of one slice for the header's style."""
    acquisition = header.scan_start + timedelta(seconds=bed * BED_SECONDS)
    late = header.style in ("late-series", "ge-private")
    series = header.scan_start + timedelta(minutes=25) if late else header.scan_start
    ds.SeriesDate, ds.SeriesTime = _dicom_time(series)
    ds.AcquisitionDate, ds.AcquisitionTime = _dicom_time(acquisition)
    ds.ActualFrameDuration = str(int(BED_SECONDS * 1000))
    reference = bed * BED_SECONDS + _frame_average(BED_SECONDS, header.half_life_s)
    ds.FrameReferenceTime = format_number_as_ds(reference * 1000)
    if header.style == "ge-private":
        block = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
        block.add_new(0x0D, "DT", header.scan_start.strftime("%Y%m%d%H%M%S.%f"))


def _pet_module(ds: Dataset, header: PetHeader) -> None:
    ds.Units = "CNTS" if header.style == "cnts" else "BQML"
    ds.DecayCorrection = "ADMIN" if header.style == "admin" else "START"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
    ds.SeriesType, ds.CountsSource = ["WHOLE BODY", "IMAGE"], "EMISSION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PatientWeight = format_number_as_ds(header.weight_kg)
    ds.PatientSize = format_number_as_ds(header.height_m)
    item = Dataset()
    item.Radiopharmaceutical = "Fluorodeoxyglucose"
    item.RadiopharmaceuticalStartTime = header.injection.strftime("%H%M%S.%f")
    item.RadiopharmaceuticalStartDateTime = header.injection.strftime("%Y%m%d%H%M%S.%f")
    item.RadionuclideTotalDose = format_number_as_ds(header.injected_dose_bq)
    item.RadionuclideHalfLife = format_number_as_ds(header.half_life_s)
    item.RadionuclidePositronFraction = "0.9673"
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])


def write_pet(folder: Path, image: sitk.Image, header: PetHeader,
              modules: dict[str, dict[str, str]], series_uid: str,
              extension: str = ".dcm") -> None:
    """A PET series holding ``image`` (SUVbw) as a scanner stores it (see the module doc)."""
    suv = sitk.GetArrayFromImage(image).astype(np.float64)
    counts_per_bqml = 2.0  # cnts style: one count is half a Bq/ml
    values = suv / header.suv_factor * (counts_per_bqml if header.style == "cnts" else 1.0)
    for k in range(suv.shape[0]):
        ds = _base(PET_IMAGE, _uid(series_uid, k), modules["patient"], modules["study"],
                   modules["series"] | {"SeriesInstanceUID": series_uid, "Modality": "PT"})
        _pet_module(ds, header)
        _pet_timing(ds, header, k // BED_SLICES)
        ds.InstanceNumber, ds.ImageIndex, ds.NumberOfSlices = k + 1, k + 1, suv.shape[0]
        _plane_module(ds, image, k)
        peak = float(np.abs(values[k]).max())
        slope = float(format_number_as_ds(peak / 32000)) if peak > 0 else 1.0
        ds.RescaleIntercept, ds.RescaleSlope = "0", format_number_as_ds(slope)
        if header.style == "cnts":
            block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
            block.add_new(0x00, "DS", format_number_as_ds(header.suv_factor / counts_per_bqml))
            block.add_new(0x09, "DS", format_number_as_ds(1 / counts_per_bqml))
        _pixels(ds, np.round(values[k] / slope), 16, signed=True)
        _save(ds, folder / f"PET{k + 1:04d}{extension}")


def _contours(mask: np.ndarray, image: sitk.Image) -> list[list[str]]:
    """Closed contours (DS text, x y z triples in mm) of a 3-D mask, slice by slice."""
    direction, spacing, origin = _geometry(image)
    found = []
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        padded = np.pad(mask[k].astype(np.float64), 1)
        generator = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate)
        for line in generator.lines(0.5):
            index = np.column_stack([line[:-1] - 1.0, np.full(len(line) - 1, float(k))])
            points = origin + (index * spacing) @ direction.T
            found.append([f"{v:.4f}" for v in points.ravel()])
    return found


def _box(mask: np.ndarray, margin: int) -> np.ndarray:
    """A box around ``mask`` grown by ``margin`` voxels in-plane (a stand-in PTV)."""
    box = np.zeros_like(mask)
    z, y, x = (np.flatnonzero(mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    box[z[0]:z[-1] + 1, max(y[0] - margin, 0):y[-1] + margin + 1,
        max(x[0] - margin, 0):x[-1] + margin + 1] = True
    return box


def write_rtstruct(path: Path, label: sitk.Image, modules: dict[str, dict[str, str]],
                   frame_of_reference: str, ct_series_uid: str, spelling: int) -> list[str]:
    """An RTSTRUCT of a label map on the CT: GTVp, one ROI per node (connected component of
    label 2), and a PTV box that the ROI map must not take. Returns the ROI names."""
    array = sitk.GetArrayFromImage(label)
    primary, node_pattern = ROI_SPELLINGS[spelling % len(ROI_SPELLINGS)]
    components, count = ndimage.label(array == 2)
    rois = [(primary, "GTV", array == 1)] if (array == 1).any() else []
    rois += [(node_pattern.format(n), "GTV", components == n) for n in range(1, count + 1)]
    if array.any():
        rois.append(("PTV_70", "PTV", _box(array > 0, 3)))
    series_uid = _uid(ct_series_uid, "rtstruct")
    ds = _base(RTSTRUCT, _uid(series_uid, 0), modules["patient"], modules["study"],
               modules["series"] | {"SeriesInstanceUID": series_uid, "Modality": "RTSTRUCT",
                                    "SeriesDescription": "contours"})
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "GTV", "20200102", "101010"
    referenced = Dataset()
    referenced.FrameOfReferenceUID = frame_of_reference
    study_item, series_item = Dataset(), Dataset()
    series_item.SeriesInstanceUID = ct_series_uid
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study_item.ReferencedSOPInstanceUID = modules["study"]["StudyInstanceUID"]
    study_item.RTReferencedSeriesSequence = Sequence([series_item])
    referenced.RTReferencedStudySequence = Sequence([study_item])
    ds.ReferencedFrameOfReferenceSequence = Sequence([referenced])
    structures, contours, observations = [], [], []
    for number, (name, kind, mask) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = number, frame_of_reference
        roi.ROIName, roi.ROIGenerationAlgorithm = name, "MANUAL"
        structures.append(roi)
        item = Dataset()
        item.ReferencedROINumber, item.ROIDisplayColor = number, [255, 0, 0]
        items = []
        for points in _contours(mask, label):
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points) // 3
            contour.ContourData = points
            items.append(contour)
        item.ContourSequence = Sequence(items)
        contours.append(item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = kind, ""
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(structures)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    _save(ds, path)
    return [name for name, _, _ in rois]


def write_rtdose(path: Path, dose: sitk.Image, modules: dict[str, dict[str, str]],
                 series_uid: str) -> None:
    """A multi-frame RTDOSE (unsigned 32-bit, relative GridFrameOffsetVector) of a Gy map."""
    gray = sitk.GetArrayFromImage(dose).astype(np.float64)
    ds = _base(RTDOSE, _uid(series_uid, 0), modules["patient"], modules["study"],
               modules["series"] | {"SeriesInstanceUID": series_uid, "Modality": "RTDOSE"})
    _plane_module(ds, dose, 0)
    del ds.SliceThickness
    ds.NumberOfFrames = gray.shape[0]
    ds.FrameIncrementPointer = 0x3004000C
    spacing = dose.GetSpacing()[2]
    ds.GridFrameOffsetVector = [format_number_as_ds(k * spacing) for k in range(gray.shape[0])]
    scaling = ds_number(max(float(gray.max()), 1e-3) / 4.0e9)
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = "GY", "PHYSICAL", "PLAN"
    ds.DoseGridScaling = format_number_as_ds(scaling)
    _pixels(ds, np.round(gray / scaling), 32, signed=False)
    _save(ds, path)


def write_dicom_patient(folder: Path, patient_id: str, images: dict[str, sitk.Image], *,
                        seed: int, style: str, age: int | None = None,
                        sex: str | None = None) -> dict[str, Any]:
    """Write one generated patient as a DICOM export under ``folder/<patient_id>/``.

    Returns the ground truth of the export: the PET header facts (weight, dose, times,
    expected SUV factor), the ROI names, the UIDs.
    """
    if style not in PET_STYLES:
        raise ValueError(f"unknown PET style {style!r}; use one of {PET_STYLES}")
    rng = np.random.default_rng(seed)
    root = Path(folder) / patient_id
    day = datetime(2020, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
    patient = {"PatientID": patient_id, "PatientName": f"SYNTH^{patient_id}",
               "PatientBirthDate": "", "PatientSex": sex or "O"}
    if age is not None:
        patient["PatientAge"] = f"{int(age):03d}Y"
    study_uid = _uid(patient_id, seed, "petct")
    study = {"StudyInstanceUID": study_uid, "StudyDate": day.strftime("%Y%m%d"),
             "StudyTime": "080000", "StudyID": "1", "AccessionNumber": "",
             "ReferringPhysicianName": ""}
    frame = _uid(study_uid, "frame")
    common = {"FrameOfReferenceUID": frame, "PositionReferenceIndicator": "",
              "Manufacturer": MANUFACTURERS[style], "SeriesDate": day.strftime("%Y%m%d"),
              "SeriesTime": "090000"}
    header = pet_header(rng, style, day)
    ct_uid, pet_uid = _uid(study_uid, "ct"), _uid(study_uid, "pet")
    modules = {"patient": patient, "study": study,
               "series": common | {"SeriesNumber": "2", "SeriesDescription": "CT 3mm"}}
    write_ct(root / "petct" / "CT", images["ct"], modules, ct_uid)
    modules["series"] = common | {"SeriesNumber": "3", "SeriesDescription": "PET AC"}
    write_pet(root / "petct" / "PET", images["pt"], header, modules, pet_uid)
    truth: dict[str, Any] = {"patient_id": patient_id, "pet": header.record(),
                             "study_uid": study_uid, "ct_series_uid": ct_uid,
                             "pet_series_uid": pet_uid, "frame_of_reference": frame}
    if "label" in images:
        modules["series"] = common | {"SeriesNumber": "4"}
        truth["roi_names"] = write_rtstruct(root / "petct" / "RTSTRUCT.dcm", images["label"],
                                            modules, frame, ct_uid, seed)
    if "dose" in images:
        rt_study = _uid(patient_id, seed, "rt")
        rt_frame = _uid(rt_study, "frame")
        modules = {"patient": patient,
                   "study": study | {"StudyInstanceUID": rt_study, "StudyID": "2"},
                   "series": common | {"FrameOfReferenceUID": rt_frame, "SeriesNumber": "1",
                                       "SeriesDescription": "planning CT",
                                       "Manufacturer": "SIEMENS"}}
        write_ct(root / "rt" / "CT", images["planning_ct"], modules, _uid(rt_study, "ct"),
                 extension=".dcm")
        modules["series"] = modules["series"] | {"SeriesNumber": "9",
                                                 "SeriesDescription": "plan dose"}
        write_rtdose(root / "rt" / "RTDOSE.dcm", images["dose"], modules,
                     _uid(rt_study, "dose"))
        truth["planning_frame_of_reference"] = rt_frame
    return truth
