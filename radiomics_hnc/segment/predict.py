"""Inference: sliding-window prediction of GTVp/GTVn label maps, pasted back onto each
patient's original CT grid and written to ``WORKSPACE/masks/<PID>.nii.gz``."""

from __future__ import annotations

import logging
import pickle
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.inferers import sliding_window_inference
from scipy import ndimage

from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.geometry import Grid
from radiomics_hnc.io import read_image_header, write_image
from radiomics_hnc.locks import locked_stage
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.segment.network import build_network
from radiomics_hnc.segment.preprocess import load_case, paste_back
from radiomics_hnc.segment.spec import InferenceSpec, SegmentationSpec, load_segmenter_spec
from radiomics_hnc.workspace import Workspace, manifest_records, patient_file

log = logging.getLogger(__name__)

SPEC_FILE = "spec.yaml"
BEST_CHECKPOINT = "best.pt"


def pick_device(device: str | None = None) -> torch.device:
    """``device`` when given, else CUDA when present, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_segmenter(model_dir: str | Path, device: str | None = None
                   ) -> tuple[torch.nn.Module, SegmentationSpec]:
    """The segmentation network of a trained model folder (its best checkpoint, in eval mode)
    and its spec; :func:`radiomics_hnc.modeling.load_model` loads a fitted tabular model."""
    model_dir = Path(model_dir)
    checkpoint = model_dir / BEST_CHECKPOINT
    if not checkpoint.is_file():
        raise ConfigError("no trained model in this folder", path=checkpoint,
                          hint="run 'radiomics-hnc segment train' first")
    spec = load_segmenter_spec(model_dir / SPEC_FILE)
    network = build_network(spec.network)
    state = load_checkpoint(checkpoint, "cpu", ("model",))
    network.load_state_dict(state["model"])
    return network.to(pick_device(device)).eval(), spec


def load_checkpoint(path: Path, device: str | torch.device, keys: tuple[str, ...]) -> dict:
    """A checkpoint's dict of tensors and plain values (numbers, strings, lists, dicts).

    Loaded with ``weights_only=True`` only: a checkpoint that needs any other object (a crafted
    file whose unpickling would run code, say) is refused, as is one without ``keys``.
    """
    hint = ("only use model folders written by 'radiomics-hnc segment train'; delete the file "
            "(or choose a new --out folder) to train from scratch")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        found = f" ({unsupported.group(1)})" if unsupported else ""
        raise InputDataError(f"checkpoint refused: it is not a plain file of tensors and "
                             f"values{found}", path=path, hint=hint) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise InputDataError(f"checkpoint could not be read ({exc})", path=path,
                             hint=hint) from exc
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise InputDataError(f"checkpoint lacks {', '.join(missing)}", path=path, hint=hint)
    return state


@torch.no_grad()
def infer_labels(network: torch.nn.Module, image: np.ndarray, spec: SegmentationSpec) -> np.ndarray:
    """Label map (z, y, x, uint8) of a preprocessed (2, z, y, x) image: Gaussian-blended sliding
    windows of the training patch size, then arg-max over the three classes."""
    device = next(network.parameters()).device
    inputs = torch.from_numpy(np.ascontiguousarray(image))[None].to(device)
    with torch.autocast(device.type, enabled=device.type == "cuda"):
        logits = sliding_window_inference(
            inputs, roi_size=spec.training.patch_size, sw_batch_size=spec.inference.sw_batch_size,
            predictor=network, overlap=spec.inference.overlap, mode="gaussian",
        )
    return logits.argmax(dim=1)[0].cpu().numpy().astype(np.uint8)


def remove_small_components(labels: np.ndarray, spacing_mm: float,
                            settings: InferenceSpec) -> np.ndarray:
    """Drop connected components (26-connected) smaller than the plausible minimum volume of
    their label (``min_gtvp_ml``, ``min_gtvn_ml``) from a label map on an isotropic grid."""
    voxel_ml = spacing_mm**3 / 1000.0
    out = labels.copy()
    structure = ndimage.generate_binary_structure(3, 3)
    for value, min_ml in ((1, settings.min_gtvp_ml), (2, settings.min_gtvn_ml)):
        components, count = ndimage.label(labels == value, structure=structure)
        if count == 0:
            continue
        sizes = np.bincount(components.ravel())
        small = np.nonzero(sizes * voxel_ml < min_ml)[0]
        out[np.isin(components, small[small > 0])] = 0
    return out


@lru_cache(maxsize=2)
def _cached_model(model_dir: str, device: str | None) -> tuple[torch.nn.Module, SegmentationSpec]:
    return load_segmenter(model_dir, device)


@dataclass(frozen=True)
class PredictionTask:
    """One patient's inference job (picklable for worker processes)."""

    record: dict
    model_dir: str
    out_path: Path
    device: str | None = None


def predict_patient(task: PredictionTask) -> Path:
    """Segment one patient and write the mask on its CT grid; returns the mask path."""
    network, spec = _cached_model(task.model_dir, task.device)
    case = load_case(task.record, spec.preprocess, with_label=False)
    labels = infer_labels(network, case.image, spec)
    labels = remove_small_components(labels, spec.preprocess.spacing_mm, spec.inference)
    # The CT's geometry from its header: decompressing its voxels again would cost more than
    # the rest of the pasting.
    header = read_image_header(task.record["ct_path"], task.record["patient_id"])
    ct_grid = Grid(*(tuple(header[key]) for key in ("size", "spacing", "origin", "direction")))
    return write_image(paste_back(labels, case.grid, ct_grid), task.out_path)


def _up_to_date(mask: Path, inputs: list[Path]) -> bool:
    """A mask is current when it is newer than the model and the patient's images."""
    return mask.is_file() and all(mask.stat().st_mtime >= p.stat().st_mtime for p in inputs)


@locked_stage("segment-predict")
def predict_cohort(workspace: str | Path, model_dir: str | Path, *, jobs: int = 1,
                   device: str | None = None, force: bool = False,
                   progress: bool = False) -> pd.DataFrame:
    """Predict masks for every eligible patient into ``WORKSPACE/masks``.

    Patients whose mask is newer than the model checkpoint and their CT/PET are skipped
    (resumable) unless ``force``. Returns one row per patient: ``patient_id``, ``status``
    (written, up to date, failed), ``mask_path`` and ``message`` (why it failed).
    """
    ws = Workspace(workspace)
    model_dir = Path(model_dir).resolve()
    load_segmenter(model_dir, "cpu")  # fail early, before any worker starts
    checkpoint = model_dir / BEST_CHECKPOINT
    rows, tasks = [], []
    for record in manifest_records(ws.eligible_manifest()):
        pid = record["patient_id"]
        out = patient_file(ws.masks_dir, pid, ".nii.gz")
        inputs = [checkpoint, *(Path(record[k]) for k in ("ct_path", "pet_path") if record[k])]
        if not force and _up_to_date(out, inputs):
            rows.append({"patient_id": pid, "status": "up to date", "mask_path": str(out),
                         "message": None})
        else:
            tasks.append((pid, PredictionTask(record, str(model_dir), out, device)))
    for pid, result in map_patients(predict_patient, tasks, jobs=jobs, progress=progress,
                                    description="segmenting"):
        if isinstance(result, PatientFailure):
            log.warning("segmentation failed for %s: %s", pid, result.message)
            rows.append({"patient_id": pid, "status": "failed", "mask_path": None,
                         "message": result.message})
        else:
            rows.append({"patient_id": pid, "status": "written", "mask_path": str(result),
                         "message": None})
    return pd.DataFrame(rows, columns=["patient_id", "status", "mask_path", "message"]
                        ).sort_values("patient_id", ignore_index=True)
