"""How much PET features depend on mapping the CT-grid lesion mask onto the PET grid.

radiomics-hnc's lesion masks live on the CT grid; PET features are computed from the mask
mapped onto the PET grid by partial volume (:func:`radiomics_hnc.features.pet.mask_on_grid`).
The ten real FDG PET/CT patients of ``../shared/data/sts_pet_ct/`` (soft-tissue sarcoma, TCIA)
carry the same contour rasterised on each image's own grid, so every PET feature can be
computed twice, from the mapped CT-grid mask and from the PET-native mask, and compared. The
spread per feature class tells users how sensitive PET texture is to mask mapping. All ten
patients take part (STS_007 and STS_009 have no CT image, but their CT-grid mask exists).

Writes ``benchmarks/results/sts_pet_ct.json``; ``docs/ibsi.md`` shows it. About 20 s.

    python -m benchmarks.sts_pet_ct [--data ../shared/data/sts_pet_ct] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from radiomics_hnc.features.configs import load_feature_configs
from radiomics_hnc.features.geometry import LesionMask
from radiomics_hnc.features.pet import mask_on_grid, suv_metrics
from radiomics_hnc.features.pyradiomics_engine import LesionFeatureExtractor
from radiomics_hnc.geometry import Grid
from radiomics_hnc.io import read_image, write_json

REPO = Path(__file__).resolve().parents[1]
STS_DATA = REPO.parent / "shared" / "data" / "sts_pet_ct"
RESULTS = REPO / "benchmarks" / "results"
PATIENTS = tuple(f"STS_{n:03d}" for n in range(1, 11))
#: PET settings compared: the default and the IBSI-aligned one.
PET_CONFIGS = ("pet", "pet_ibsi")
#: Agreement stated for the two masks (measured largest differences: SUVmean 0.78%,
#: volume 1.45%, over the ten patients); tests/test_real_pet_ct.py holds the code to them.
SUVMEAN_TOLERANCE = 0.01
VOLUME_TOLERANCE = 0.02


def relative_difference(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def concordance(a: Sequence[float], b: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient of two paired samples (1: identical)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    denominator = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return 1.0 if denominator == 0 else float(2 * np.cov(x, y, bias=True)[0, 1] / denominator)


def patient_masks(data: Path, patient: str) -> tuple[sitk.Image, LesionMask, LesionMask]:
    """PET image, PET-native mask and the CT-grid mask mapped onto the PET grid."""
    folder = data / patient
    pet = read_image(folder / "PET_image.nii.gz", patient)
    native = LesionMask.from_image(read_image(folder / "PET_mask.nii.gz", patient))
    ct_mask = LesionMask.from_image(read_image(folder / "CT_mask.nii.gz", patient))
    mapped = mask_on_grid(ct_mask, Grid.of(pet))
    if mapped is None:
        raise ValueError(f"{patient}: the CT-grid mask covers no PET voxel by half")
    return pet, native, mapped


def dice(a: LesionMask, b: LesionMask) -> float:
    """Dice overlap of two masks on the same grid."""
    full_a, full_b = (sitk.GetArrayFromImage(m.to_full_image()) > 0 for m in (a, b))
    return float(2 * (full_a & full_b).sum() / (full_a.sum() + full_b.sum()))


def patient_record(data: Path, patient: str,
                   extractors: Mapping[str, LesionFeatureExtractor]) -> dict[str, Any]:
    """One patient: SUV metrics and every PET feature from both masks."""
    pet, native, mapped = patient_masks(data, patient)
    record: dict[str, Any] = {
        "patient_id": patient, "has_ct": (data / patient / "CT_image.nii.gz").is_file(),
        "dice": round(dice(native, mapped), 4),
        "native": suv_metrics(pet, native), "mapped": suv_metrics(pet, mapped),
        "features": {}}
    for name, extractor in extractors.items():
        record["features"][name] = {"native": extractor.extract(pet, native),
                                    "mapped": extractor.extract(pet, mapped)}
    return record


def class_agreement(records: Sequence[Mapping[str, Any]], config: str) -> list[dict[str, Any]]:
    """Per PyRadiomics class: spread of the relative differences and of the concordance."""
    columns = sorted(records[0]["features"][config]["native"])
    by_class: dict[str, list[str]] = {}
    for column in columns:
        by_class.setdefault(column.split("_")[2], []).append(column)
    rows = []
    for cls, names in by_class.items():
        pairs = [(r["features"][config]["native"][c], r["features"][config]["mapped"][c])
                 for c in names for r in records]
        differences = [relative_difference(a, b) for a, b in pairs]
        ccc = [concordance([r["features"][config]["native"][c] for r in records],
                           [r["features"][config]["mapped"][c] for r in records])
               for c in names]
        worst = names[int(np.argmin(ccc))]
        rows.append({"class": cls, "features": len(names),
                     "median_relative_difference": float(np.median(differences)),
                     "p90_relative_difference": float(np.percentile(differences, 90)),
                     "max_relative_difference": float(np.max(differences)),
                     "median_ccc": float(np.median(ccc)), "min_ccc": float(np.min(ccc)),
                     "min_ccc_feature": worst})
    return rows


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """SUV and volume agreement over the patients, against the stated tolerances."""
    suvmean = [relative_difference(r["native"]["SUVmean"], r["mapped"]["SUVmean"])
               for r in records]
    volume = [relative_difference(r["native"]["MTV"], r["mapped"]["MTV"]) for r in records]
    return {"patients": len(records),
            "suvmax_equal": sum(r["native"]["SUVmax"] == r["mapped"]["SUVmax"] for r in records),
            "suvpeak_equal": sum(r["native"]["SUVpeak"] == r["mapped"]["SUVpeak"]
                                 for r in records),
            "suvmean_max_relative_difference": max(suvmean),
            "volume_max_relative_difference": max(volume),
            "suvmean_tolerance": SUVMEAN_TOLERANCE, "volume_tolerance": VOLUME_TOLERANCE,
            "dice_min": min(r["dice"] for r in records)}


def run(data: Path = STS_DATA) -> dict[str, Any]:
    """Every patient under the default and the IBSI-aligned PET settings."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractors = {name: LesionFeatureExtractor(load_feature_configs(pet=name).settings("pet"),
                                               "PT") for name in PET_CONFIGS}
    records = [patient_record(data, patient, extractors) for patient in PATIENTS]
    return {"data": "../shared/data/sts_pet_ct (TCIA Soft-tissue-Sarcoma, as prepared for IBSI)",
            "summary": summarise(records),
            "classes": {name: class_agreement(records, name) for name in PET_CONFIGS},
            "patients": [{k: r[k] for k in ("patient_id", "has_ct", "dice", "native", "mapped")}
                         for r in records]}


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def render_section(results: Mapping[str, Any]) -> list[str]:
    """The docs/ibsi.md section of these results (Markdown lines)."""
    summary = results["summary"]
    lines = [
        "## Real PET/CT: PET features from the CT-grid mask", "",
        f"Data: {results['data']}; {summary['patients']} patients, each contour rasterised on "
        "the CT and on the PET grid. PET features from the CT-grid mask mapped onto the PET "
        "grid (radiomics-hnc's way) against the same features from the PET-native mask "
        "(`python -m benchmarks.sts_pet_ct`).", "",
        f"- SUVmax equal in {summary['suvmax_equal']} of {summary['patients']} patients, "
        f"SUVpeak equal in {summary['suvpeak_equal']}.",
        f"- SUVmean within {_percent(summary['suvmean_max_relative_difference'])} (stated "
        f"tolerance {_percent(summary['suvmean_tolerance'])}); volume (MTV) within "
        f"{_percent(summary['volume_max_relative_difference'])} (stated tolerance "
        f"{_percent(summary['volume_tolerance'])}); Dice of the two PET-grid masks at least "
        f"{summary['dice_min']:.3f}.", "",
        "| patient | CT image | Dice | SUVmax native / mapped | SUVmean native / mapped | "
        "MTV ml native / mapped |", "|---|---|---|---|---|---|"]
    for record in results["patients"]:
        native, mapped = record["native"], record["mapped"]
        lines.append(
            f"| {record['patient_id']} | {'yes' if record['has_ct'] else 'no'} | "
            f"{record['dice']:.3f} | {native['SUVmax']:.3f} / {mapped['SUVmax']:.3f} | "
            f"{native['SUVmean']:.3f} / {mapped['SUVmean']:.3f} | "
            f"{native['MTV']:.1f} / {mapped['MTV']:.1f} |")
    lines += ["", "Agreement per PyRadiomics class (relative differences over every feature "
              "and patient; Lin's concordance per feature over the patients):", "",
              "| settings | class | features | median rel. diff. | 90th pct | max | median CCC |"
              " lowest CCC (feature) |", "|---|---|---|---|---|---|---|---|"]
    for config, rows in results["classes"].items():
        for row in rows:
            lines.append(
                f"| {config}.yaml | {row['class']} | {row['features']} | "
                f"{_percent(row['median_relative_difference'])} | "
                f"{_percent(row['p90_relative_difference'])} | "
                f"{_percent(row['max_relative_difference'])} | {row['median_ccc']:.4f} | "
                f"{row['min_ccc']:.4f} ({row['min_ccc_feature'].split('_', 3)[-1]}) |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=STS_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not (args.data / PATIENTS[0]).is_dir():
        print(f"skipped: real PET/CT data not found in {args.data} (shared real data)",
              file=sys.stderr)
        return 0
    start = time.perf_counter()
    results = run(args.data)
    results["seconds"] = round(time.perf_counter() - start, 1)
    write_json(results, args.out / "sts_pet_ct.json")
    print("\n".join(render_section(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
