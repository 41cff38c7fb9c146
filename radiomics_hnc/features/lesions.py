"""Lesions of a label map: the primary tumour (GTVp) and each involved node (GTVn_k).

Label 1 is the primary, taken whole even if it is split in pieces (it is one tumour); label 2
holds all nodes, separated as connected components with 26-connectivity (voxels touching by a
face, edge or corner belong to the same node) and numbered by decreasing volume: ``GTVn_1`` is
the largest. Ties in volume are broken by position (the component whose first voxel comes first
in z, y, x order), so numbering is stable between runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomics_hnc.features.geometry import LesionMask, Region
from radiomics_hnc.geometry import Grid

PRIMARY_LABEL = 1
NODAL_LABEL = 2
#: Below this volume a lesion keeps its row, with shape and volume only, and ``too_small`` set:
#: 0.5 ml is ~8 PET voxels of 4 mm, too few for any intensity histogram or texture matrix to mean
#: anything (and the 1 ml SUVpeak sphere would be mostly outside the lesion).
MIN_LESION_VOLUME_ML = 0.5
#: More lymph-node components than this is not anatomy but a broken mask (a failed
#: segmentation gives hundreds of specks); such a patient fails with a clear message instead
#: of spending minutes on features of noise. Real HECKTOR labels have at most about 15 nodes.
MAX_NODE_COMPONENTS = 50
_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class Lesion:
    """One lesion: its id (``GTVp``, ``GTVn_1``, ...), label value and mask on the CT grid."""

    lesion_id: str
    label: int
    mask: LesionMask
    too_small: bool


def _index_map(labels: np.ndarray) -> np.ndarray:
    """1 where the primary is, 1 + k on the k-th largest node (26-connected), 0 elsewhere."""
    components, count = ndimage.label(labels == NODAL_LABEL, structure=_CONNECTIVITY_26)
    sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
    # Stable sort: equal volumes keep ndimage's scan (z, y, x) order.
    order = np.argsort(-sizes, kind="stable")
    # 8 bits when the values fit (any plausible mask): the patient's full-grid copy of this
    # map is half the size, which matters for the memory per worker.
    dtype = np.uint8 if count + 1 <= np.iinfo(np.uint8).max else np.uint16
    rank_of_component = np.zeros(count + 1, dtype=dtype)
    rank_of_component[order + 1] = np.arange(2, count + 2, dtype=dtype)
    index_map = rank_of_component[components]
    index_map[labels == PRIMARY_LABEL] = 1
    return index_map


def find_lesions(
    label_map: sitk.Image, min_volume_ml: float = MIN_LESION_VOLUME_ML
) -> list[Lesion]:
    """The lesions of a label map (0 background, 1 GTVp, 2 GTVn), primary first.

    Parameters
    ----------
    label_map
        Integer label map on the CT grid.
    min_volume_ml
        Lesions smaller than this (ml) are flagged ``too_small`` (shape and volume only).
    """
    grid = Grid.of(label_map)
    labels = sitk.GetArrayViewFromImage(label_map)
    occupied = LesionMask.from_array(labels != 0, grid)
    if occupied is None:
        return []
    # Connected components only inside the box that holds all labels (a few % of a full CT).
    offset = np.array(occupied.region.lower)
    local = _index_map(labels[occupied.region.slices()])
    # One index map for the patient: 1 = GTVp, 1 + k = GTVn_k. Lesion masks point into it so
    # that resampling reads the full grid without building one full-size image per lesion.
    index_map = np.zeros(labels.shape, dtype=local.dtype)
    index_map[occupied.region.slices()] = local
    source = sitk.GetImageFromArray(index_map)
    source.CopyInformation(label_map)
    lesions = []
    for value, box in enumerate(ndimage.find_objects(local), start=1):
        if box is None:
            continue
        lower = offset + [s.start for s in box[::-1]]
        upper = offset + [s.stop - 1 for s in box[::-1]]
        region = Region(tuple(int(v) for v in lower), tuple(int(v) for v in upper))
        mask = LesionMask(grid, region, local[box] == value, source, value)
        lesion_id = "GTVp" if value == 1 else f"GTVn_{value - 1}"
        label = PRIMARY_LABEL if value == 1 else NODAL_LABEL
        lesions.append(Lesion(lesion_id, label, mask, mask.volume_ml() < min_volume_ml))
    return lesions
