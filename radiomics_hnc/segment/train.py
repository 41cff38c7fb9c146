"""Training of the light segmenter: balanced patches, augmentation, Dice+CE, AdamW with a cosine
schedule, validation on held-out centres, best and last checkpoints, resumable.

A model folder holds ``spec.yaml`` (everything needed to rebuild the network and its
preprocessing), ``best.pt`` (weights of the epoch with the best validation DSCagg),
``last.pt`` (weights, optimiser, schedule and counters to resume), ``training_log.csv`` (one
row per epoch: loss, validation DSCagg per label, learning rate, seconds) and ``model.json``
(patients used, best epoch, provenance).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.data import DataLoader, Dataset
from monai.losses import DiceCELoss
from monai.transforms import (
    Compose,
    DeleteItemsd,
    RandAffined,
    RandCropByLabelClassesd,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    SpatialPadd,
)
from monai.utils import set_determinism
from scipy import ndimage
from torch.utils.data import RandomSampler

from radiomics_hnc.errors import ConfigError, InputDataError
from radiomics_hnc.io import atomic_path, provenance, text_sha256, write_csv, write_json
from radiomics_hnc.parallel import PatientFailure, map_patients
from radiomics_hnc.segment.network import build_network, patch_multiple
from radiomics_hnc.segment.predict import (
    BEST_CHECKPOINT,
    SPEC_FILE,
    infer_labels,
    load_checkpoint,
    pick_device,
    remove_small_components,
)
from radiomics_hnc.segment.preprocess import PreprocessedCase, cached_case
from radiomics_hnc.segment.spec import SegmentationSpec, TrainingSpec, load_segmenter_spec
from radiomics_hnc.segment.summary import SegmenterTraining, validation_stabilised
from radiomics_hnc.workspace import Workspace, manifest_records

log = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
LOG_FILE = "training_log.csv"
#: The model folder's record of the run: spec, training and validation patients, best epoch.
MODEL_INFO_FILE = "model.json"
KEYS = ("image", "label")
#: What ``last.pt`` holds: tensors (weights, optimiser moments) and plain values only, so that
#: it loads with ``torch.load(weights_only=True)``. Randomness needs no state: each epoch
#: reseeds from the spec's seed and the epoch number.
_RESUME_KEYS = ("model", "optimizer", "scaler", "epoch", "best_epoch", "best_score", "rows",
                "resume_key")


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced."""

    model_dir: Path
    best_epoch: int
    best_score: float
    epochs_run: int
    log: pd.DataFrame
    train_patients: list[str]
    validation_patients: list[str]


def split_by_center(manifest: pd.DataFrame, spec: SegmentationSpec) -> tuple[list[str], list[str]]:
    """Training and validation patient ids, validation being whole centres.

    The spec's ``validation_centers`` when given; otherwise the smallest centres (ties by name)
    until they hold ``validation_fraction`` of the patients (at least one centre, never all), so
    that a dominant centre stays in training. A single-centre cohort falls back to a seeded
    random patient split.
    """
    chosen = list(spec.training.validation_centers)
    centres = sorted(manifest["center"].unique())
    if chosen:
        unknown = sorted(set(chosen) - set(centres))
        if unknown:
            raise ConfigError(f"validation centres {unknown} are not in the cohort {centres}")
    elif len(centres) > 1:
        counts = manifest["center"].value_counts()
        target = spec.training.validation_fraction * len(manifest)
        for centre in sorted(centres, key=lambda c: (counts[c], c))[:-1]:
            chosen.append(centre)
            if counts[chosen].sum() >= target:
                break
    else:
        log.warning("one centre only: validating on a random %.0f%% of patients",
                    100 * spec.training.validation_fraction)
        rng = np.random.default_rng(spec.training.seed)
        ids = [str(p) for p in rng.permutation(manifest["patient_id"].to_numpy())]
        n_val = max(1, round(spec.training.validation_fraction * len(ids)))
        return sorted(ids[n_val:]), sorted(ids[:n_val])
    is_val = manifest["center"].isin(chosen)
    return (sorted(manifest.loc[~is_val, "patient_id"]), sorted(manifest.loc[is_val, "patient_id"]))


#: Candidate patch centres kept per class and volume (a seeded subset), so that those of a whole
#: cohort fit in memory.
_MAX_CENTRES_PER_CLASS = 4096
#: Hot background is PET outside the lesions at least this percentile of the lesions' own PET
#: (uptake a lesion could have; a percentile of the whole crop would pick the brain alone), or
#: above the 99th percentile of the crop in a patient without lesions.
_LESION_PET_PERCENTILE = 25.0
_HOT_PET_PERCENTILE = 99.0
#: Hot-background centres kept per connected hot region, so that tonsils, glands and brown fat
#: are sampled as often as the much larger brain.
_CENTRES_PER_HOT_REGION = 64
CENTRES_KEY = "centres"


def crop_centres(image: np.ndarray, label: np.ndarray, seed: int) -> list[np.ndarray]:
    """Flat voxel indices of candidate patch centres of one volume, per sampled class:
    background, GTVp, GTVn, hot background (PET outside the lesions as hot as the lesions' 25th
    percentile, up to 64 per connected region). Computed once per training rather than for
    every patch."""
    rng = np.random.default_rng(seed)
    flat = label[0].ravel()
    centres = [rng.permutation(np.flatnonzero(flat == value))[:_MAX_CENTRES_PER_CLASS]
               for value in (0, 1, 2)]
    pet, outside = image[1], label[0] == 0
    lesion_pet = pet[~outside]
    threshold = (np.percentile(lesion_pet, _LESION_PET_PERCENTILE) if lesion_pet.size
                 else np.percentile(pet, _HOT_PET_PERCENTILE))
    hot = outside & (pet >= threshold)
    regions, _ = ndimage.label(hot)
    hot_idx = rng.permutation(np.flatnonzero(hot))
    region_of = regions.ravel()[hot_idx]
    order = np.argsort(region_of, kind="stable")
    hot_idx, region_of = hot_idx[order], region_of[order]
    rank = np.arange(len(region_of)) - np.searchsorted(region_of, region_of)
    centres.append(hot_idx[rank < _CENTRES_PER_HOT_REGION])
    return [np.sort(c) for c in centres]


def training_items(cases: list[PreprocessedCase], spec: SegmentationSpec) -> list[dict]:
    """The training volumes padded to at least a patch, with their candidate patch centres
    (:func:`crop_centres`), prepared once so that epochs only crop and augment."""
    pad = SpatialPadd(keys=KEYS, spatial_size=spec.training.patch_size)
    items = []
    for number, case in enumerate(cases):
        item = pad({"image": case.image, "label": case.label})
        item = {key: np.asarray(value) for key, value in item.items()}
        item[CENTRES_KEY] = crop_centres(item["image"], item["label"],
                                         spec.training.seed + number)
        items.append(item)
    return items


def training_transforms(spec: SegmentationSpec) -> Compose:
    """Patches centred on background, GTVp, GTVn and hot-background voxels in the spec's ratios
    (so that small nodes are seen as often as primaries, and physiological uptake as a
    negative), flips, small affine, intensity."""
    t = spec.training
    return Compose([
        RandCropByLabelClassesd(
            keys=KEYS, label_key="label", spatial_size=t.patch_size,
            ratios=[*t.class_ratios, t.hot_background_ratio], indices_key=CENTRES_KEY,
            num_samples=t.patches_per_volume,
            warn=False,  # patients without nodes simply get no node-centred patches
        ),
        RandFlipd(keys=KEYS, prob=0.5, spatial_axis=2),  # numpy axis 2 = x, left-right
        RandAffined(
            keys=KEYS, prob=0.3, rotate_range=(0.15,) * 3, scale_range=(0.1,) * 3,
            mode=("bilinear", "nearest"), padding_mode="border",
        ),
        RandScaleIntensityd(keys="image", factors=0.1, prob=0.5),
        RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
        DeleteItemsd(keys=CENTRES_KEY),
    ])


def _cache_one(args: tuple[dict, SegmentationSpec, Path]) -> PreprocessedCase:
    record, spec, cache_dir = args
    return cached_case(record, spec.preprocess, cache_dir, with_label=True)


def load_cases(records: list[dict], spec: SegmentationSpec, cache_dir: Path, jobs: int,
               progress: bool) -> dict[str, PreprocessedCase]:
    """Preprocessed cases by patient id (from the cache when possible); failures are logged
    and skipped."""
    tasks = [(r["patient_id"], (r, spec, cache_dir)) for r in records]
    cases = {}
    for pid, result in map_patients(_cache_one, tasks, jobs=jobs, progress=progress,
                                    description="preprocessing"):
        if isinstance(result, PatientFailure):
            log.warning("skipping %s: %s", pid, result.message)
        else:
            cases[pid] = result
    return cases


def validation_dsc(network: torch.nn.Module, cases: list[PreprocessedCase],
                   spec: SegmentationSpec) -> dict[str, float]:
    """DSCagg per label (and their mean) of the post-processed prediction on the common grid."""
    sums = np.zeros((2, 2))  # rows GTVp, GTVn; columns 2*TP, |GT|+|Pred|
    network.eval()
    for case in cases:
        pred = remove_small_components(infer_labels(network, case.image, spec),
                                       spec.preprocess.spacing_mm, spec.inference)
        truth = case.label[0]
        for row, value in enumerate((1, 2)):
            t, p = truth == value, pred == value
            sums[row] += (2 * np.logical_and(t, p).sum(), t.sum() + p.sum())
    scores = [float(s[0] / s[1]) if s[1] else math.nan for s in sums]
    return {"val_dsc_agg_gtvp": scores[0], "val_dsc_agg_gtvn": scores[1],
            "val_dsc_agg_mean": float(np.nanmean(scores)) if not all(map(math.isnan, scores))
            else math.nan}


def validation_subset(cases: list[PreprocessedCase], spec: SegmentationSpec
                      ) -> list[PreprocessedCase]:
    """The validation cases scored after each epoch: all, or a fixed seeded subset of
    ``validation_max_patients`` (validation is sliding-window inference over whole volumes, the
    dearest part of an epoch)."""
    cap = spec.training.validation_max_patients
    if cap is None or cap >= len(cases):
        return cases
    chosen = np.random.default_rng(spec.training.seed).choice(len(cases), cap, replace=False)
    return [cases[i] for i in sorted(chosen)]


def _resume_key(spec: SegmentationSpec) -> str:
    """Fingerprint of what a resumed run must share (all but epochs and time limit)."""
    data = spec.model_dump(mode="json")
    data["training"].pop("epochs")
    data["training"].pop("time_limit_minutes")
    return text_sha256(json.dumps(data, sort_keys=True))


def cosine_factor(fraction_done: float) -> float:
    """Learning-rate multiplier: cosine from 1 down to 0.01 as training goes from 0 to 1 done."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(fraction_done, 0.0), 1.0))) * 0.99 + 0.01


def segmentation_loss(training: TrainingSpec, device: torch.device) -> DiceCELoss:
    """Dice + cross-entropy on the softmax of the logits, with the spec's class weights and
    Dice per patch or over the batch (``dice_over_batch``)."""
    return DiceCELoss(to_onehot_y=True, softmax=True, batch=training.dice_over_batch,
                      weight=torch.tensor(training.loss_class_weights, device=device))


class _Trainer:
    """The state of one training run (network, optimiser, scaler, counters)."""

    def __init__(self, spec: SegmentationSpec, out_dir: Path, device: torch.device) -> None:
        self.spec, self.out_dir, self.device = spec, out_dir, device
        self.network = build_network(spec.network).to(device)
        self.optimizer = torch.optim.AdamW(self.network.parameters(),
                                           lr=spec.training.learning_rate,
                                           weight_decay=spec.training.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
        self.loss = segmentation_loss(spec.training, device)
        self.epoch, self.best_epoch, self.best_score = 0, 0, -math.inf
        self.rows: list[dict] = []

    def resume(self) -> None:
        """Continue from ``last.pt`` when it exists (same spec apart from epochs)."""
        path = self.out_dir / LAST_CHECKPOINT
        if not path.is_file():
            return
        state = load_checkpoint(path, self.device, _RESUME_KEYS)
        if state["resume_key"] != _resume_key(self.spec):
            raise ConfigError("the model folder holds a run with another spec", path=path,
                              hint="use a new --out folder or the same spec")
        self.network.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.best_epoch = state["epoch"], state["best_epoch"]
        self.best_score, self.rows = state["best_score"], state["rows"]
        log.info("resuming after epoch %d", self.epoch)

    def train_epoch(self, loader: DataLoader, fraction_done: float) -> float:
        """One pass over the training patches at the learning rate for the fraction of training
        done (0..1); returns the mean loss."""
        self.network.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.spec.training.learning_rate * cosine_factor(fraction_done)
        losses = []
        for batch in loader:
            images = batch["image"].to(self.device)
            labels = batch["label"].to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                loss = self.loss(self.network(images), labels)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            losses.append(float(loss.detach()))
        return float(np.mean(losses))

    def save(self, validated: dict[str, float] | None) -> None:
        """Record the epoch, keep the best weights, write ``last.pt`` and the log."""
        score = validated["val_dsc_agg_mean"] if validated is not None else math.nan
        if validated is not None and (self.best_epoch == 0 or score > self.best_score):
            self.best_score, self.best_epoch = validated["val_dsc_agg_mean"], self.epoch
            with atomic_path(self.out_dir / BEST_CHECKPOINT) as tmp:
                torch.save({"model": self.network.state_dict(), "epoch": self.epoch,
                            "score": self.best_score}, tmp)
        state = {"model": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                 "best_epoch": self.best_epoch, "best_score": self.best_score,
                 "rows": self.rows, "resume_key": _resume_key(self.spec)}
        with atomic_path(self.out_dir / LAST_CHECKPOINT) as tmp:
            torch.save(state, tmp)
        write_csv(pd.DataFrame(self.rows), self.out_dir / LOG_FILE)


def _check_patch(spec: SegmentationSpec) -> None:
    multiple = patch_multiple(spec.network)
    if any(side % multiple for side in spec.training.patch_size):
        raise ConfigError(f"patch size {spec.training.patch_size} must be a multiple of "
                          f"{multiple} for this network")


def train_segmenter(
    workspace: str | Path,
    spec: SegmentationSpec | str | Path | None,
    out_dir: str | Path,
    *,
    epochs: int | None = None,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> TrainingResult:
    """Train a segmenter on the workspace's eligible patients with ground-truth labels.

    Parameters
    ----------
    spec
        A spec, a spec file, or None for the shipped light UNet.
    out_dir
        Model folder; when it holds ``last.pt`` of the same spec, training resumes.
    epochs
        Overrides the spec's number of epochs (e.g. to extend a finished run).
    cache_dir
        Preprocessed volumes (default ``WORKSPACE/segmentation/cache``).
    """
    spec = spec if isinstance(spec, SegmentationSpec) else load_segmenter_spec(spec)
    if epochs is not None:
        spec = spec.model_copy(update={"training": spec.training.model_copy(
            update={"epochs": epochs})})
    _check_patch(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_determinism(seed=spec.training.seed)
    trainer = _Trainer(spec, out_dir, pick_device(device))
    trainer.resume()  # a crafted or foreign last.pt is refused before any preprocessing
    ws = Workspace(workspace)
    manifest = ws.eligible_manifest()
    manifest = manifest[manifest["label_path"].notna()].reset_index(drop=True)
    if manifest.empty:
        raise InputDataError("no eligible patient has a ground-truth label", path=ws.root)
    train_ids, val_ids = split_by_center(manifest, spec)
    cache = Path(cache_dir) if cache_dir else ws.segmentation_dir / "cache"
    cases = load_cases(manifest_records(manifest), spec, cache, jobs, progress)
    train_ids = [p for p in train_ids if p in cases]
    val_ids = [p for p in val_ids if p in cases]
    if not train_ids or not val_ids:
        raise InputDataError("too few readable patients to train and validate", path=ws.root)

    (out_dir / SPEC_FILE).write_text(spec.to_yaml())
    transforms = training_transforms(spec)
    dataset = Dataset(training_items([cases[p] for p in train_ids], spec), transform=transforms)
    val_cases = validation_subset([cases[p] for p in val_ids], spec)
    started = time.monotonic()
    limit = spec.training.time_limit_minutes
    while trainer.epoch < spec.training.epochs:
        tick = time.monotonic()
        transforms.set_random_state(seed=spec.training.seed + trainer.epoch)
        generator = torch.Generator().manual_seed(spec.training.seed + trainer.epoch)
        sampler = RandomSampler(dataset, num_samples=spec.training.volumes_per_epoch,
                                generator=generator)
        loader = DataLoader(dataset, batch_size=spec.training.batch_size, sampler=sampler,
                            num_workers=0)
        # With a time limit the schedule follows whichever runs out first: epochs or minutes.
        fraction_done = trainer.epoch / spec.training.epochs
        if limit:
            fraction_done = max(fraction_done, (tick - started) / 60 / limit)
        loss = trainer.train_epoch(loader, fraction_done)
        trainer.epoch += 1
        last = trainer.epoch == spec.training.epochs
        validated = None
        if trainer.epoch % spec.training.validation_interval == 0 or last:
            validated = validation_dsc(trainer.network, val_cases, spec)
        trainer.rows.append({"epoch": trainer.epoch, "train_loss": loss, **(validated or {}),
                             "learning_rate": trainer.optimizer.param_groups[0]["lr"],
                             "seconds": time.monotonic() - tick})
        trainer.save(validated)
        log.info("epoch %d: loss %.4f %s", trainer.epoch, loss, validated or "")
        elapsed = (time.monotonic() - started) / 60
        if limit and elapsed + (time.monotonic() - tick) / 60 > limit and not last:
            log.warning("time limit of %.1f min reached after epoch %d", limit, trainer.epoch)
            if validated is None:
                validated = validation_dsc(trainer.network, val_cases, spec)
                trainer.rows[-1].update(validated)
                trainer.save(validated)
            break
    scored = [r for r in trainer.rows if not math.isnan(r.get("val_dsc_agg_mean", math.nan))]
    means = [r["val_dsc_agg_mean"] for r in scored]
    last_by_label = [scored[-1][f"val_dsc_agg_{label}"] for label in ("gtvp", "gtvn")
                     ] if scored else []
    training = SegmenterTraining(
        epochs_run=trainer.epoch, minutes=round(sum(r["seconds"] for r in trainer.rows) / 60, 2),
        validation_stabilised=validation_stabilised(means, last_by_label))
    if training.under_trained:
        log.warning("%s (the validation score had not stabilised)", training.text())
    write_json({"spec": spec.model_dump(mode="json"), "train_patients": train_ids,
                "validation_patients": val_ids, "best_epoch": trainer.best_epoch,
                "best_val_dsc_agg_mean": trainer.best_score, "epochs_run": trainer.epoch,
                "training": training.model_dump(mode="json"),
                "provenance": provenance(text_sha256(spec.to_yaml()))},
               out_dir / MODEL_INFO_FILE)
    return TrainingResult(out_dir, trainer.best_epoch, trainer.best_score, trainer.epoch,
                          pd.DataFrame(trainer.rows), train_ids, val_ids)


def segmenter_training(model_dir: str | Path) -> SegmenterTraining | None:
    """How the training run of a model folder ended (its ``model.json``), or None for a folder
    without one or written before it was recorded."""
    path = Path(model_dir) / MODEL_INFO_FILE
    try:
        recorded = json.loads(path.read_text()).get("training")
        return None if recorded is None else SegmenterTraining.model_validate(recorded)
    except (OSError, ValueError, AttributeError) as exc:  # pydantic's error is a ValueError
        raise InputDataError(f"model.json has no readable training record ({exc})", path=path,
                             hint="retrain with 'radiomics-hnc segment train'") from exc


def trained_patients(model_dir: str | Path) -> set[str]:
    """The patient ids a trained model folder's segmenter was trained on (its ``model.json``)."""
    path = Path(model_dir) / MODEL_INFO_FILE
    hint = ("pass the folder written by 'radiomics-hnc segment train' (a run that finished "
            "writes model.json)")
    if not path.is_file():
        raise ConfigError("no model.json in the segmenter's model folder", path=path, hint=hint)
    try:
        ids = json.loads(path.read_text()).get("train_patients")
    except (ValueError, AttributeError) as exc:
        raise InputDataError(f"model.json is not a JSON object ({exc})", path=path,
                             hint=hint) from exc
    if not isinstance(ids, list) or not all(isinstance(pid, str) for pid in ids):
        raise InputDataError("model.json has no list of training patient ids "
                             "(train_patients)", path=path, hint=hint)
    return set(ids)
