"""RTSTRUCT ROIs mapped to GTVp / GTVn by name and rasterised on the CT grid.

The rasteriser is our own (about 40 lines, numpy and matplotlib's point-in-polygon test, both
already dependencies) rather than rt-utils or dicompyler-core: rt-utils needs OpenCV and a
folder of the CT series, fills each contour with OpenCV's own pixel rule and does not treat a
contour inside another as a hole; dicompyler-core rasterises on dose grids for DVHs. The rules
here are the standard's and are tested on the IBSI CT phantom:

- a contour belongs to the CT slice whose plane it lies in (within
  :data:`~radiomics_hnc.geometry.GRID_TOLERANCE_VOXELS` of a slice, else it is reported);
- a voxel is inside a contour when its centre is inside the polygon;
- several contours of one ROI on one slice combine by exclusive or, so a contour inside
  another is a hole (the standard's reading of CLOSED_PLANAR, explicit in CLOSEDPLANAR_XOR);
- an ROI whose ReferencedFrameOfReferenceUID is not the CT's is refused: its coordinates
  belong to another scan (the planning CT) and need a registration this import does not do.

Labels follow the HECKTOR convention: 1 for the primary (GTVp), 2 for every node (GTVn); the
node split into lesions stays the extraction stage's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import yaml
from matplotlib.path import Path as Polygon
from pydicom.dataset import Dataset

from radiomics_hnc.dicom.headers import source_path, text
from radiomics_hnc.dicom.problems import Problem
from radiomics_hnc.errors import ConfigError
from radiomics_hnc.geometry import GRID_TOLERANCE_VOXELS
from radiomics_hnc.io import text_sha256

#: Label value of each target in the HECKTOR label maps.
LABELS = {"GTVp": 1, "GTVn": 2}
#: The default ROI name rules (documented in the file itself and the user guide).
DEFAULT_ROI_MAP = Path(__file__).with_name("roi_map.yaml")
CLOSED_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")


@dataclass(frozen=True)
class RoiMap:
    """Regular expressions (whole name, any case) naming the ROIs of each label."""

    rules: dict[str, tuple[re.Pattern[str], ...]]
    exclude: tuple[re.Pattern[str], ...]
    source: str
    sha256: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> RoiMap:
        """Read a ROI map YAML (default: the packaged ``roi_map.yaml``).

        Raises
        ------
        ConfigError
            The file is not a mapping of ``GTVp``/``GTVn``/``exclude`` to lists of valid
            regular expressions.
        """
        path = Path(path) if path is not None else DEFAULT_ROI_MAP
        try:
            raw_text = path.read_text()
            data = yaml.safe_load(raw_text)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"ROI map cannot be read ({exc})", path=path,
                              hint="pass a YAML file like the packaged roi_map.yaml") from exc
        keys = (*LABELS, "exclude")
        if not isinstance(data, dict) or set(data) - set(keys) or not set(data) & set(LABELS):
            raise ConfigError(f"ROI map must map {', '.join(keys)} to lists of patterns, found "
                              f"{sorted(data) if isinstance(data, dict) else type(data).__name__}",
                              path=path, hint="see the packaged roi_map.yaml")
        compiled = {key: _compile(data.get(key) or [], key, path) for key in keys}
        return cls({label: compiled[label] for label in LABELS}, compiled["exclude"],
                   str(path), text_sha256(raw_text))

    def classify(self, name: str) -> tuple[str | None, str]:
        """The label an ROI name maps to (None when none) and why, in words."""
        stripped = name.strip()
        for pattern in self.exclude:
            if pattern.fullmatch(stripped):
                return None, f"excluded by {pattern.pattern!r}"
        hits = [label for label, patterns in self.rules.items()
                if any(p.fullmatch(stripped) for p in patterns)]
        if len(hits) > 1:
            return None, f"ambiguous: matches the rules of {' and '.join(hits)}"
        if not hits:
            return None, "matches no rule"
        return hits[0], "matched"


def _compile(patterns: Any, key: str, path: Path) -> tuple[re.Pattern[str], ...]:
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f"ROI map entry {key!r} must be a list of quoted patterns",
                          path=path, hint="write each pattern as a quoted YAML string")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(f"ROI map entry {key!r}: {pattern!r} is not a valid regular "
                              f"expression ({exc})", path=path, hint="fix the pattern") from exc
    return tuple(compiled)


@dataclass
class Roi:
    """One ROI of a structure set: its number, name, frame of reference and contours."""

    number: str
    name: str
    frame_of_reference: str
    contours: list[tuple[str, np.ndarray]] = field(default_factory=list)


def _contour_points(item: Dataset) -> np.ndarray:
    """(n, 3) points of a contour, parsed from the raw text (pydicom's DS objects are slow)."""
    raw = item.get_item("ContourData")
    value = raw.value if raw is not None else b""
    if isinstance(value, bytes):
        numbers = np.array(value.split(b"\\"), dtype=float) if value.strip() else np.empty(0)
    else:
        numbers = np.array([float(v) for v in (value or [])], dtype=float)
    return numbers[: numbers.size - numbers.size % 3].reshape(-1, 3)


def read_rois(ds: Dataset) -> list[Roi]:
    """The ROIs of an RTSTRUCT with their contours, in the structure set's order."""
    rois = {str(item.get("ROINumber", "")): Roi(str(item.get("ROINumber", "")),
                                                text(item, "ROIName"),
                                                text(item, "ReferencedFrameOfReferenceUID"))
            for item in ds.get("StructureSetROISequence") or []}
    for item in ds.get("ROIContourSequence") or []:
        roi = rois.get(str(item.get("ReferencedROINumber", "")))
        if roi is None:
            continue
        for contour in item.get("ContourSequence") or []:
            roi.contours.append((text(contour, "ContourGeometricType").upper(),
                                 _contour_points(contour)))
    return list(rois.values())


def rasterise(contours: list[np.ndarray], reference: sitk.Image) -> tuple[np.ndarray, dict]:
    """Voxels (z, y, x boolean) of ``reference`` inside planar contours (physical mm, LPS).

    Returns the mask and counts for the log: contours used, outside the image, not in a slice
    plane, and the largest distance of a used contour from its slice (in slice steps).
    """
    size = reference.GetSize()
    mask = np.zeros(size[::-1], dtype=bool)
    dimension = reference.GetDimension()
    matrix = (np.array(reference.GetDirection()).reshape(dimension, dimension)
              * np.array(reference.GetSpacing()))
    origin = np.array(reference.GetOrigin())
    stats = {"contours": 0, "outside_image": 0, "not_in_a_slice": 0, "degenerate": 0,
             "max_off_slice": 0.0}
    for points in contours:
        if len(points) < 3:
            stats["degenerate"] += 1
            continue
        index = np.linalg.solve(matrix, (points - origin).T).T
        level = float(index[:, 2].mean())
        if np.abs(index[:, 2] - level).max() > GRID_TOLERANCE_VOXELS:
            stats["not_in_a_slice"] += 1
            continue
        k = round(level)
        low = np.maximum(np.floor(index[:, :2].min(axis=0)), 0).astype(int)
        high = np.minimum(np.ceil(index[:, :2].max(axis=0)), np.array(size[:2]) - 1).astype(int)
        if not 0 <= k < size[2] or np.any(high < low):
            stats["outside_image"] += 1
            continue
        stats["contours"] += 1
        stats["max_off_slice"] = max(stats["max_off_slice"], abs(level - k))
        columns, rows = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1))
        centres = np.column_stack([columns.ravel(), rows.ravel()])
        inside = Polygon(index[:, :2]).contains_points(centres).reshape(columns.shape)
        mask[k, low[1]:high[1] + 1, low[0]:high[0] + 1] ^= inside
    return mask, stats


@dataclass
class LabelResult:
    """The label map (None when no ROI could be used), the ROI rows and the problems."""

    image: sitk.Image | None
    rois: list[dict[str, Any]]
    problems: list[Problem]


def _roi_mask(roi: Roi, ct: sitk.Image, ct_frame: str, path: str | None,
              row: dict[str, Any], problems: list[Problem]) -> np.ndarray | None:
    """The rasterised mask of a mapped ROI, or None (with a problem) when it is refused."""
    name = repr(roi.name)
    if roi.frame_of_reference and roi.frame_of_reference != ct_frame:
        problems.append(Problem("error", f"ROI {name} ({row['label']}) refers to frame of "
                                f"reference {roi.frame_of_reference}, not the CT's {ct_frame}: "
                                "its contours belong to another scan (the planning CT?) and "
                                "were not used. Fix: contour on the PET/CT, or register and "
                                "export the contours on it", path))
        row["refused"] = "other frame of reference"
        return None
    closed = [points for kind, points in roi.contours if kind in CLOSED_TYPES]
    if len(closed) < len(roi.contours):
        kinds = sorted({kind or "?" for kind, _ in roi.contours} - set(CLOSED_TYPES))
        problems.append(Problem("warning", f"ROI {name}: {len(roi.contours) - len(closed)} "
                                f"contours of type {', '.join(kinds)} ignored (only closed "
                                "planar contours outline a volume)", path))
    mask, stats = rasterise(closed, ct)
    row.update(stats)
    row["voxels"] = int(mask.sum())
    if stats["not_in_a_slice"] or stats["outside_image"]:
        problems.append(Problem("warning", f"ROI {name}: {stats['not_in_a_slice']} contours "
                                f"not in a CT slice plane and {stats['outside_image']} outside "
                                "the CT were ignored", path))
    if stats["max_off_slice"] > GRID_TOLERANCE_VOXELS:
        problems.append(Problem("warning", f"ROI {name}: contours lie up to "
                                f"{stats['max_off_slice']:.2f} slice steps from the CT slices "
                                "(drawn on another grid?); each was put on its nearest slice",
                                path))
    if not row["voxels"]:
        problems.append(Problem("error", f"ROI {name} ({row['label']}) covers no CT voxel "
                                "and was not used", path))
        row["refused"] = "no voxels"
        return None
    return mask


def label_image(rtstruct: Dataset, ct: sitk.Image, ct_frame: str,
                roi_map: RoiMap) -> LabelResult:
    """The HECKTOR label map of an RTSTRUCT on the CT grid (uint8: 0, 1 GTVp, 2 GTVn)."""
    path = source_path(rtstruct)
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    masks: dict[str, list[tuple[str, np.ndarray]]] = {label: [] for label in LABELS}
    for roi in read_rois(rtstruct):
        label, reason = roi_map.classify(roi.name)
        row: dict[str, Any] = {"number": roi.number, "name": roi.name, "label": label,
                               "rule": reason}
        rows.append(row)
        if label is None:
            continue
        mask = _roi_mask(roi, ct, ct_frame, path, row, problems)
        if mask is not None:
            masks[label].append((roi.name, mask))
    unmapped = [r["name"] for r in rows if r["label"] is None]
    if unmapped:
        problems.append(Problem("info", f"unmapped ROIs: {unmapped!r}", path))
    if not any(masks.values()):
        problems.append(Problem("error", "no ROI could be used as GTVp or GTVn (ROI names: "
                                f"{[r['name'] for r in rows]!r}); no label map written. Fix: "
                                "add the names to a ROI map (--roi-map)", path))
        return LabelResult(None, rows, problems)
    return LabelResult(_combine(masks, ct, path, problems), rows, problems)


def _combine(masks: dict[str, list[tuple[str, np.ndarray]]], ct: sitk.Image, path: str | None,
             problems: list[Problem]) -> sitk.Image:
    """One label array: nodes (2) first, the primary (1) over them where they overlap."""
    if len(masks["GTVp"]) > 1:
        problems.append(Problem("warning", "several ROIs map to GTVp "
                                f"({[n for n, _ in masks['GTVp']]!r}): their union is label 1",
                                path))
    label = np.zeros(ct.GetSize()[::-1], np.uint8)
    for name in ("GTVn", "GTVp"):
        union = np.logical_or.reduce([m for _, m in masks[name]]) if masks[name] else None
        if union is None:
            continue
        if name == "GTVp" and (overlap := int(np.count_nonzero(union & (label > 0)))):
            problems.append(Problem("warning", f"GTVp and GTVn overlap in {overlap} voxels: "
                                    "they were given to GTVp", path))
        label[union] = LABELS[name]
    image = sitk.GetImageFromArray(label)
    image.CopyInformation(ct)
    return image
