"""Reproducibility of each feature: ICC(2,1) under mask perturbation and between mask sources.

(a) Mask perturbation, after the image perturbation approach of Zwanenburg et al. (2019,
Sci Rep 9:614): a seeded subset of patients is re-extracted with four versions of its label
map, the original, eroded by one voxel, dilated by one voxel (into background only) and a
random boundary (each voxel within one voxel of a lesion's border drawn in or out with
probability one half). Extraction goes through the features engine itself
(:func:`radiomics_hnc.features.extract.extract_patient` and
:func:`radiomics_hnc.features.tables.patients_table`), with the settings, mask source and
smallest lesion volume the analysed folder was extracted with, rebuilt from its tables'
provenance (:func:`recorded_extraction`); other settings would give other columns and values.

(b) Ground truth versus predicted masks, where the workspace has both feature folders: the
ICC of each feature between the two tables over the patients in both.

A feature with ICC(2,1) below :data:`~radiomics_hnc.analysis.icc.UNSTABLE_ICC` in either is
flagged unstable.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from radiomics_hnc.analysis.icc import UNSTABLE_ICC, icc
from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.features.configs import MODALITIES, FeatureConfigs, validate_params
from radiomics_hnc.features.extract import PatientTask, build_tasks, extract_patient
from radiomics_hnc.features.lesions import MIN_LESION_VOLUME_ML
from radiomics_hnc.features.tables import lesions_frame, patients_table
from radiomics_hnc.io import read_image, read_provenance, write_image
from radiomics_hnc.mask_sources import UNKNOWN, MaskSource, folder_source
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.workspace import Workspace, is_patient_feature, patient_file

log = logging.getLogger(__name__)

VARIANTS = ("original", "eroded", "dilated", "random_boundary")
_STRUCTURE = ndimage.generate_binary_structure(3, 1)  # one voxel, face neighbours


def feature_class(name: str) -> str:
    """``<modality> <class>`` of a scoped feature column: ``PT glcm``, ``CT firstorder``,
    ``PT suv``, ``MASK volume``..."""
    parts = str(name).split("_")
    if len(parts) < 3:
        return "other"
    modality, rest = parts[1], parts[2:]
    if len(rest) >= 2 and rest[0] not in ("suv", "dvh", "volume", "count", "voxel", "max"):
        return f"{modality} {rest[1]}"  # <image type>_<class>_<feature>
    return f"{modality} {rest[0]}"


def perturbed_labels(labels: np.ndarray, variant: str, rng: np.random.Generator) -> np.ndarray:
    """A label map (0 background, 1 GTVp, 2 GTVn) with each lesion label perturbed."""
    if variant == "original":
        return labels.copy()
    out = labels.copy()
    for value in (1, 2):
        region = labels == value
        if not region.any():
            continue
        grown = ndimage.binary_dilation(region, _STRUCTURE) & ((labels == 0) | region)
        shrunk = ndimage.binary_erosion(region, _STRUCTURE)
        if variant == "eroded":
            out[region & ~shrunk] = 0
        elif variant == "dilated":
            out[grown & (out == 0)] = value
        else:
            band = grown & ~shrunk
            inside = rng.random(labels.shape) < 0.5
            out[band & ~inside & (out == value)] = 0
            out[band & inside & (out == 0)] = value
    return out


def _perturbed_patient(args: tuple[PatientTask, str, int]) -> dict:
    """Worker: write the patient's perturbed masks and extract each; lesion rows per variant."""
    task, folder, seed = args
    labels = read_image(task.mask_path, task.patient_id)
    array = sitk.GetArrayFromImage(labels)
    rng = np.random.default_rng([seed, zlib.crc32(task.patient_id.encode())])
    rows, start = {}, time.perf_counter()
    for variant in VARIANTS:
        image = sitk.GetImageFromArray(perturbed_labels(array, variant, rng).astype(np.uint8))
        image.CopyInformation(labels)
        path = write_image(image, patient_file(Path(folder) / variant, task.patient_id,
                                               ".nii.gz"))
        table, _, _ = extract_patient(dataclasses.replace(task, mask_path=str(path)))
        rows[variant] = table
    return {"lesions": rows, "seconds": time.perf_counter() - start}


@dataclass(frozen=True)
class RecordedExtraction:
    """How a features folder was extracted, as its tables' provenance records it."""

    source: MaskSource
    configs: FeatureConfigs
    min_lesion_ml: float
    seed: int = 0  # of the dose registration's sampling


def recorded_extraction(features_dir: Path) -> RecordedExtraction:
    """The mask source, feature settings, smallest lesion volume and seed of ``features_dir``.

    Raises :class:`InputDataError` (saying why) when they cannot be recovered: the
    re-extraction must not fall back to other settings, whose features would not be the
    analysed ones.
    """
    table = Path(features_dir) / "patients.parquet"
    hint = f"rerun 'radiomics-hnc extract' to write {Path(features_dir).name} again"
    source = folder_source(features_dir)
    if source is None or source.kind == UNKNOWN:
        raise InputDataError("the mask source of the feature tables is not known", path=table,
                             hint=hint)
    record = read_provenance(table)
    recorded = record.get("config_settings")
    if not isinstance(recorded, dict) or not all(isinstance(recorded.get(m), dict)
                                                 for m in MODALITIES):
        raise InputDataError("the feature settings were not recorded with these feature "
                             "tables (extracted by an earlier radiomics-hnc)", path=table,
                             hint=hint)
    configs = FeatureConfigs(**{m: recorded[m] for m in MODALITIES},
                             sources=dict(record.get("config_sources") or {}))
    try:
        for name in MODALITIES:
            validate_params(configs.settings(name), f"{table} (config_settings.{name})")
    except ConfigError as exc:
        raise InputDataError(f"the recorded feature settings are not valid here: "
                             f"{exc.message}", path=table, hint=hint) from exc
    if record.get("config_sha256") not in (None, configs.content_hash):
        raise InputDataError("the recorded feature settings do not match their recorded "
                             "SHA-256 (config_sha256)", path=table, hint=hint)
    return RecordedExtraction(source, configs,
                              float(record.get("min_lesion_ml", MIN_LESION_VOLUME_ML)),
                              int(record.get("seed", 0)))


def choose_patients(patient_ids: list[str], size: int, seed: int) -> list[str]:
    """A seeded subset of ``size`` patients (all when there are fewer), sorted."""
    if size >= len(patient_ids):
        return sorted(patient_ids)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(sorted(patient_ids), size=size, replace=False).tolist())


def perturbation_icc(workspace: Path, extraction: RecordedExtraction, patient_ids: list[str],
                     size: int, out_dir: Path, *, seed: int = 0, jobs: int = 1,
                     progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """ICC(2,1) of each feature over the mask variants of a seeded subset of the patients,
    re-extracted as the analysed features folder was (``extraction``, see
    :func:`recorded_extraction`).

    Returns the table (feature, icc_perturbation, its 95 % interval ci_low_perturbation and
    ci_high_perturbation, n_perturbation) and a summary (patients
    used and failed, seconds per patient and variant).
    """
    ws = Workspace(workspace)
    chosen = set(choose_patients(patient_ids, size, seed))
    tasks, _ = build_tasks(ws, extraction.configs, extraction.source,
                           extraction.min_lesion_ml, extraction.seed, out_dir=out_dir)
    tasks = [t for t in tasks if t.patient_id in chosen]
    folder = str(out_dir / "perturbed_masks")
    lesions = {variant: [] for variant in VARIANTS}
    done, failed, seconds = [], [], []
    for pid, result in map_patients(_perturbed_patient, [(t.patient_id, (t, folder, seed))
                                                         for t in tasks],
                                    jobs=jobs, description="perturb", progress=progress):
        if isinstance(result, PatientFailure):
            log.warning("patient %s: mask perturbation failed: %s", pid, result.message)
            failed.append(pid)
            continue
        done.append(pid)
        seconds.append(result["seconds"])
        for variant, frame in result["lesions"].items():
            lesions[variant].append(frame)
    summary = {"patients": sorted(done), "failed": sorted(failed),
               "seconds_per_patient": float(np.mean(seconds)) if seconds else None,
               "variants": list(VARIANTS)}
    if len(done) < 2:
        return pd.DataFrame(columns=["feature", "icc_perturbation", "ci_low_perturbation",
                                     "ci_high_perturbation", "n_perturbation"]), summary
    manifest = ws.eligible_manifest()
    tables = [patients_table(lesions_frame(lesions[v]), manifest, done).set_index("patient_id")
              for v in VARIANTS]
    return _icc_table(tables, "perturbation"), summary


def mask_source_icc(ground_truth: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """ICC(2,1) of each feature between the ground-truth and predicted-mask tables."""
    tables = [t.set_index("patient_id") for t in (ground_truth, predicted)]
    return _icc_table(tables, "masks")


def _icc_table(tables: list[pd.DataFrame], name: str) -> pd.DataFrame:
    """ICC over tables indexed by patient (one per rater), on their shared feature columns."""
    shared = sorted(set.intersection(*(set(t.index) for t in tables)))
    columns = [c for c in tables[0].columns if is_patient_feature(c)
               and all(c in t.columns for t in tables)]
    ratings = np.stack([t.loc[shared, columns].apply(pd.to_numeric, errors="coerce")
                        .to_numpy(dtype=float) for t in tables], axis=1)
    result = icc(ratings)
    return pd.DataFrame({"feature": columns, f"icc_{name}": result["icc2"],
                         f"ci_low_{name}": result["icc2_low"],
                         f"ci_high_{name}": result["icc2_high"], f"n_{name}": result["n"]})


def reproducibility_table(features: list[str], parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per feature: its class, each ICC available and whether it is unstable."""
    frame = pd.DataFrame({"feature": features,
                          "feature_class": [feature_class(f) for f in features]})
    for part in parts:
        frame = frame.merge(part, on="feature", how="left")
    iccs = frame[[c for c in frame.columns if c.startswith("icc_")]]
    frame["unstable"] = (iccs < UNSTABLE_ICC).any(axis=1)
    return frame
