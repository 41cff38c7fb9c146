"""IBSI 1 compliance of the extraction engine, feature by feature, on the IBSI phantoms.

Runs radiomics-hnc's engine (:class:`radiomics_hnc.features.pyradiomics_engine.
LesionFeatureExtractor`) with the IBSI-aligned CT settings (``feature_configs/ct_ibsi.yaml``)
under each IBSI 1 configuration: the digital phantom (no image processing; 3D and 2.5D
aggregation) and the CT phantom configurations A-E, as far as PyRadiomics settings express them.
Every IBSI feature with a reference value is compared with the consensus value and tolerance
of ``../shared/data/ibsi1/reference_values/``. Each configuration runs twice: with IBSI's
interpolation grid (``resampling: {grid: ibsi}``, as in ct_ibsi.yaml) and with PyRadiomics' own
resampling, so the effect of the one setting PyRadiomics lacks is measured, not asserted.

Writes ``benchmarks/results/ibsi.json`` and renders ``docs/ibsi.md`` from it (with the real
PET/CT mask-mapping results of ``benchmarks/sts_pet_ct.py`` when present). Well under a minute.

    python -m benchmarks.ibsi [--data ../shared/data/ibsi1] [--out benchmarks/results]
    python -m benchmarks.ibsi --render     # docs/ibsi.md from the JSON files only (make docs)
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from radiomics_hnc.features import ibsi
from radiomics_hnc.features.configs import load_feature_configs, validate_params
from radiomics_hnc.features.geometry import LesionMask
from radiomics_hnc.features.pet import suv_metrics
from radiomics_hnc.features.pyradiomics_engine import LesionFeatureExtractor
from radiomics_hnc.io import atomic_path, read_image

REPO = Path(__file__).resolve().parents[1]
#: The project's shared real data, read in place (never copied into the repository).
SHARED_DATA = REPO.parent / "shared" / "data"
IBSI_DATA = SHARED_DATA / "ibsi1"
RESULTS = REPO / "benchmarks" / "results"
DOCS_PAGE = REPO / "docs" / "ibsi.md"
PREFIX = "CT"
#: Image-processing settings each configuration sets (the rest come from ct_ibsi.yaml).
PROCESSING_KEYS = ("binWidth", "binCount", "resampledPixelSpacing", "interpolator",
                   "resegmentRange", "resegmentMode", "force2D")
#: The two ways of resampling compared: IBSI's grid (ct_ibsi.yaml) and PyRadiomics' own.
VARIANTS = {
    "ibsi": {"grid": "ibsi", "round_intensities": True},
    "pyradiomics": {"grid": "pyradiomics", "round_intensities": False},
}
_DIAGNOSTIC = re.compile(r"_(init|interp|reseg)_(img|roi)$")
_TAG = re.compile(r"^(?P<stem>.+?)(?:_(?P<aggregation>2D|2_5D|3D)(?:_(?:avg|comb))?)?$")


@dataclass(frozen=True)
class Configuration:
    """One IBSI 1 configuration: its phantom, reference file and PyRadiomics settings."""

    name: str
    phantom: str  # "digital" or "ct"
    reference: str
    settings: dict[str, Any]
    ibsi: str  # the configuration in IBSI's words
    not_expressed: str = ""  # what PyRadiomics settings cannot express

    @property
    def two_d(self) -> bool:
        return bool(self.settings.get("force2D"))


_INTERPOLATED = {"resampledPixelSpacing": [2.0, 2.0, 2.0], "interpolator": "sitkLinear"}
CONFIGURATIONS = (
    Configuration("digital phantom (3D)", "digital", "ibsi_1_dig_phantom.csv",
                  {"binWidth": 1}, "no interpolation, re-segmentation or discretisation; 3D"),
    Configuration("digital phantom (2.5D)", "digital", "ibsi_1_dig_phantom.csv",
                  {"binWidth": 1, "force2D": True},
                  "no interpolation, re-segmentation or discretisation; 2.5D"),
    Configuration("A", "ct", "ibsi_1_chest_config_a.csv",
                  {"force2D": True, "resegmentRange": [-500, 400], "binWidth": 25},
                  "2D, no interpolation, range [-500, 400] HU, fixed bin size 25 HU"),
    Configuration("B", "ct", "ibsi_1_chest_config_b.csv",
                  {**_INTERPOLATED, "resampledPixelSpacing": [2.0, 2.0, 0], "force2D": True,
                   "resegmentRange": [-500, 400], "binCount": 32},
                  "2D, bilinear to 2 x 2 mm in plane, range [-500, 400] HU, fixed bin number 32"),
    Configuration("C", "ct", "ibsi_1_chest_config_c.csv",
                  {**_INTERPOLATED, "resegmentRange": [-1000, 400], "binWidth": 25},
                  "3D, trilinear to 2 x 2 x 2 mm, range [-1000, 400] HU, fixed bin size 25 HU"),
    Configuration("D", "ct", "ibsi_1_chest_config_d.csv",
                  {**_INTERPOLATED, "resegmentMode": "sigma", "resegmentRange": [-3, 3],
                   "binCount": 32},
                  "3D, trilinear to 2 x 2 x 2 mm, outlier filtering (3 sigma), fixed bin "
                  "number 32"),
    Configuration("E", "ct", "ibsi_1_chest_config_e.csv",
                  {**_INTERPOLATED, "interpolator": "sitkBSpline", "resegmentMode": "sigma",
                   "resegmentRange": [-3, 3], "binCount": 32},
                  "3D, tricubic spline to 2 x 2 x 2 mm, range [-1000, 400] HU and outlier "
                  "filtering (3 sigma), fixed bin number 32",
                  "IBSI re-segments by the range [-1000, 400] HU and by 3 sigma; PyRadiomics "
                  "applies one re-segmentation (resegmentMode), so only the 3 sigma filter is "
                  "applied and bright voxels above 400 HU stay in the intensity mask"),
)


@dataclass
class Reference:
    """One row of an IBSI reference table."""

    tag: str
    value: float | None
    tolerance: float | None

    @property
    def stem(self) -> str:
        return _TAG.match(self.tag).group("stem")  # type: ignore[union-attr]


def read_reference(path: Path) -> list[Reference]:
    """An IBSI reference CSV (``reference value;tolerance;tag``; empty where no consensus)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    return [Reference(row["tag"], float(row["reference value"]) if row["reference value"]
                      else None, float(row["tolerance"]) if row["tolerance"] else None)
            for row in rows]


def within_tolerance(value: float, reference: float, tolerance: float) -> bool:
    """IBSI's criterion: within the tolerance, or equal once rounded to the 3 significant
    digits the reference is given with (the digital phantom's tolerances are 0)."""
    if not math.isfinite(value):
        return False
    return abs(value - reference) <= tolerance or float(f"{value:.3g}") == reference


def configuration_settings(base: Mapping[str, Any], configuration: Configuration,
                           variant: str) -> dict[str, Any]:
    """ct_ibsi.yaml's settings with the configuration's image processing and the variant's
    resampling, validated like any parameter file."""
    settings = json.loads(json.dumps(base))
    for key in PROCESSING_KEYS:
        settings["setting"].pop(key, None)
    settings["setting"].update(configuration.settings)
    settings["resampling"] = dict(VARIANTS[variant])
    validate_params(settings, f"IBSI configuration {configuration.name}")
    return settings


def load_phantom(data: Path, phantom: str) -> tuple[sitk.Image, LesionMask]:
    """Image and ROI of a phantom; the CT phantom as 32-bit floats, as IBSI asks."""
    folder = data / ("digital_phantom" if phantom == "digital" else "ct_phantom/nifti")
    image = read_image(folder / "image.nii.gz")
    if phantom == "ct":
        image = sitk.Cast(image, sitk.sitkFloat32)
    return image, LesionMask.from_image(read_image(folder / "mask.nii.gz"))


def own_features(image: sitk.Image, mask: LesionMask) -> dict[str, float]:
    """radiomics-hnc's own features (SUV metrics, mask volume) on an un-resampled image."""
    values = {f"PT_suv_{k}": v for k, v in
              suv_metrics(sitk.Cast(image, sitk.sitkFloat64), mask).items()}
    values["MASK_volume_ml"] = mask.volume_ml()
    return values


def interpolation_diagnostics(extractor: LesionFeatureExtractor, image: sitk.Image,
                              mask: LesionMask) -> dict[str, float]:
    """IBSI's diagnostic features of the interpolated ROI (before re-segmentation)."""
    resampled, inside = extractor.resampled(image, mask)
    roi = sitk.GetArrayViewFromImage(resampled)[sitk.GetArrayViewFromImage(inside) > 0]
    return {"int_mask_vox_count_interp_roi": float(roi.size),
            "int_mask_mean_int_interp_roi": float(roi.mean()),
            "int_mask_min_int_interp_roi": float(roi.min()),
            "int_mask_max_int_interp_roi": float(roi.max())}


def _counterparts() -> dict[str, list[str]]:
    """IBSI tag stem -> our column names (without the prefix for PyRadiomics features)."""
    found: dict[str, list[str]] = {}
    for (cls, name), stem in ibsi.PYRADIOMICS_FEATURES.items():
        found.setdefault(stem, []).append(f"{PREFIX}_original_{cls}_{name}")
    for stem, (cls, name) in ibsi.EQUAL_BY_DEFINITION.items():
        found.setdefault(stem, []).append(f"{PREFIX}_original_{cls}_{name}")
    for column, (stem, _) in ibsi.OWN_FEATURES.items():
        found.setdefault(stem, []).append(column)
    return found


#: Why an IBSI reference value has no counterpart among our columns.
AGGREGATION_MISSING = ("an aggregation PyRadiomics does not compute (2D slice by slice, or "
                       "matrices merged over directions)")
OWN_ONLY_ON_DIGITAL = ("radiomics-hnc's own PET feature (SUVpeak, TLG), compared on the "
                       "digital phantom only")
DEPRECATED = "deprecated in PyRadiomics 3 (a function of Sphericity, which is compared)"
NO_FEATURE = "PyRadiomics has no such feature"


def _missing_reason(stem: str) -> str:
    pyradiomics = set(ibsi.PYRADIOMICS_FEATURES.values()) | set(ibsi.EQUAL_BY_DEFINITION)
    if stem in pyradiomics:
        return AGGREGATION_MISSING
    if stem in {own for own, _ in ibsi.OWN_FEATURES.values()}:
        return OWN_ONLY_ON_DIGITAL
    if stem in ("morph_comp_1", "morph_comp_2", "morph_sph_dispr"):
        return DEPRECATED
    return NO_FEATURE


@dataclass
class Comparison:
    """The rows of one configuration and variant, and their counts."""

    configuration: str
    variant: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def count(kind: str | None, status: str) -> int:
            return sum(1 for r in self.rows if r["status"] == status
                       and (kind is None or r["source"] == kind))
        pyradiomics = [count("pyradiomics", s) for s in ("compliant", "not compliant")]
        own = [count("radiomics-hnc", s) for s in ("compliant", "not compliant")]
        compared = sum(pyradiomics)
        return {"configuration": self.configuration, "variant": self.variant,
                "reference_values": len({r["tag"] for r in self.rows}),
                "no_counterpart": count(None, "no PyRadiomics counterpart"),
                "pyradiomics_compared": compared, "pyradiomics_compliant": pyradiomics[0],
                "pyradiomics_compliant_fraction": round(pyradiomics[0] / compared, 4)
                if compared else None,
                "own_compared": sum(own), "own_compliant": own[0]}


def _row(reference: Reference, column: str | None, value: float | None) -> dict[str, Any]:
    stem = reference.stem
    row = {"tag": reference.tag, "stem": stem, "ibsi_name": ibsi.ibsi_name(stem),
           "column": column, "value": value, "reference": reference.value,
           "tolerance": reference.tolerance,
           "source": None if column is None else
           ("radiomics-hnc" if column in ibsi.OWN_FEATURES else "pyradiomics")}
    if column is None or value is None:
        return {**row, "status": "no PyRadiomics counterpart", "cause": _missing_reason(stem)}
    ok = within_tolerance(value, reference.value, reference.tolerance)  # type: ignore[arg-type]
    return {**row, "status": "compliant" if ok else "not compliant", "cause": ""}


def compare(references: list[Reference], values: Mapping[str, float],
            configuration: Configuration, variant: str) -> Comparison:
    """Every reference feature (diagnostics aside) against our values."""
    comparison = Comparison(configuration.name, variant)
    counterparts = _counterparts()
    for reference in references:
        if reference.value is None or _DIAGNOSTIC.search(reference.tag):
            continue
        stem = reference.stem
        ours = ibsi.ibsi_tag(stem, configuration.two_d) == reference.tag
        columns = counterparts.get(stem, []) if ours else []
        columns = [c for c in columns if c in values]
        if not columns:
            comparison.rows.append(_row(reference, None, None))
        for column in columns:
            scale = ibsi.OWN_FEATURES.get(column, (stem, 1.0))[1]
            comparison.rows.append(_row(reference, column, values[column] * scale))
    return comparison


def explain(row: dict[str, Any], configuration: Configuration,
            settings: Mapping[str, Any]) -> str:
    """Why a feature is outside the tolerance: the first known cause that applies."""
    column = row["column"]
    if column in ibsi.OWN_FEATURES:
        cause = ibsi.DEFINITION_DEVIATIONS.get(column)
    else:
        cls, name = column.removeprefix(f"{PREFIX}_original_").split("_", 1)
        cause = ibsi.deviation(settings, cls, name)
    return cause or configuration.not_expressed or "unexplained"


def run_configuration(data: Path, base: Mapping[str, Any], configuration: Configuration,
                      variant: str) -> tuple[Comparison, dict[str, float]]:
    """Our values under one configuration and variant, compared with IBSI's."""
    settings = configuration_settings(base, configuration, variant)
    image, mask = load_phantom(data, configuration.phantom)
    extractor = LesionFeatureExtractor(settings, PREFIX)
    values = extractor.extract(image, mask)
    if configuration.phantom == "digital":
        values.update(own_features(image, mask))
    references = read_reference(data / "reference_values" / configuration.reference)
    comparison = compare(references, values, configuration, variant)
    for row in comparison.rows:
        if row["status"] == "not compliant":
            row["cause"] = explain(row, configuration, settings)
    diagnostics = interpolation_diagnostics(extractor, image, mask)
    known = {r.tag: r for r in references if r.value is not None}
    return comparison, {tag: {"value": value, "reference": known[tag].value,
                              "tolerance": known[tag].tolerance,
                              "compliant": within_tolerance(value, known[tag].value,
                                                            known[tag].tolerance)}
                        for tag, value in diagnostics.items() if tag in known}


def run(data: Path = IBSI_DATA, ct_config: str = "ct_ibsi") -> dict[str, Any]:
    """Every configuration and variant: rows, per-configuration counts and diagnostics."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    configs = load_feature_configs(ct=ct_config)
    base = configs.settings("ct")
    results: dict[str, Any] = {
        "ct_config": configs.sources["ct"], "reference": "IBSI 1 consensus reference values "
        "(Zwanenburg et al., Radiology 2020), ../shared/data/ibsi1/reference_values",
        "criterion": "within the tolerance, or equal when rounded to the reference's 3 "
        "significant digits", "configurations": [], "summary": [], "rows": [],
        "diagnostics": {}}
    for configuration in CONFIGURATIONS:
        results["configurations"].append({
            "name": configuration.name, "ibsi": configuration.ibsi,
            "pyradiomics_settings": configuration.settings,
            "not_expressed": configuration.not_expressed})
        for variant in VARIANTS:
            comparison, diagnostics = run_configuration(data, base, configuration, variant)
            results["summary"].append(comparison.summary())
            results["rows"].extend({"configuration": configuration.name, "variant": variant,
                                    **row} for row in comparison.rows)
            results["diagnostics"][f"{configuration.name} / {variant}"] = diagnostics
    return results


# --- docs/ibsi.md ----------------------------------------------------------------------------

def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.4g}"


def _summary_table(results: Mapping[str, Any]) -> list[str]:
    by_key = {(s["configuration"], s["variant"]): s for s in results["summary"]}
    lines = ["| configuration | IBSI processing | within tolerance, IBSI grid (ct_ibsi.yaml) | "
             "within tolerance, PyRadiomics resampling | radiomics-hnc's own features |",
             "|---|---|---|---|---|"]
    for configuration in results["configurations"]:
        name = configuration["name"]
        ours, theirs = by_key[(name, "ibsi")], by_key[(name, "pyradiomics")]
        own = (f"{ours['own_compliant']} of {ours['own_compared']}"
               if ours["own_compared"] else "–")
        lines.append(
            f"| {name} | {configuration['ibsi']} | "
            f"{ours['pyradiomics_compliant']} of {ours['pyradiomics_compared']} "
            f"({100 * ours['pyradiomics_compliant_fraction']:.0f}%) | "
            f"{theirs['pyradiomics_compliant']} of {theirs['pyradiomics_compared']} "
            f"({100 * theirs['pyradiomics_compliant_fraction']:.0f}%) | {own} |")
    return lines


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return ""
    mark = "yes" if row["status"] == "compliant" else "**no**"
    return (f"{_number(row['value'])} / {_number(row['reference'])} ± "
            f"{_number(row['tolerance'])} {mark}")


def _feature_table(results: Mapping[str, Any]) -> list[str]:
    names = [c["name"] for c in results["configurations"]]
    rows = [r for r in results["rows"] if r["variant"] == "ibsi" and r["column"]]
    cells = {(row["stem"], row["column"], row["configuration"]): row for row in rows}
    keys = sorted({(r["stem"], r["column"]) for r in rows},
                  key=lambda k: (list(ibsi.FAMILIES).index(k[0].split("_")[0]), k))
    lines = ["| IBSI feature | our column | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for stem, column in keys:
        lines.append(f"| {ibsi.ibsi_name(stem)} | `{column}` | " + " | ".join(
            _cell(cells.get((stem, column, name))) for name in names) + " |")
    return lines


def _deviations(results: Mapping[str, Any]) -> list[str]:
    by_cause: dict[str, list[str]] = {}
    for row in results["rows"]:
        if row["status"] == "not compliant":
            label = f"`{row['column']}` ({row['configuration']}, {row['variant']} grid)"
            by_cause.setdefault(row["cause"], []).append(label)
    lines = []
    for cause, labels in sorted(by_cause.items(), key=lambda item: -len(item[1])):
        lines.append(f"- **{cause}** ({len(labels)}): " + ", ".join(labels[:12])
                     + (f", and {len(labels) - 12} more" if len(labels) > 12 else ""))
    return lines


def _no_counterpart(results: Mapping[str, Any]) -> list[str]:
    missing: dict[str, set[str]] = {}
    aggregation: dict[str, int] = {}
    for row in results["rows"]:
        if row["status"] != "no PyRadiomics counterpart" or row["variant"] != "ibsi":
            continue
        if row["cause"] == AGGREGATION_MISSING:
            aggregation[row["configuration"]] = aggregation.get(row["configuration"], 0) + 1
        else:
            missing.setdefault(row["cause"], set()).add(row["ibsi_name"])
    counts = ", ".join(f"{count} reference values in {name}"
                       for name, count in aggregation.items())
    return [*(f"- {cause}: " + "; ".join(sorted(names))
              for cause, names in sorted(missing.items())),
            f"- Texture features in {AGGREGATION_MISSING}: {counts}"]


def _diagnostics(results: Mapping[str, Any]) -> list[str]:
    lines = ["| configuration / grid | ROI voxels after interpolation | mean | minimum | "
             "maximum |", "|---|---|---|---|---|"]
    for key, values in results["diagnostics"].items():
        if not values:
            continue
        cells = [values.get(f"int_mask_{name}_interp_roi") for name in
                 ("vox_count", "mean_int", "min_int", "max_int")]
        lines.append(f"| {key} | " + " | ".join(
            "–" if c is None else f"{c['value']:.6g} / {c['reference']:.6g} "
            f"{'yes' if c['compliant'] else '**no**'}" for c in cells) + " |")
    return lines


_INTRO = """# IBSI compliance of radiomics-hnc's features

Generated by `python -m benchmarks.ibsi` (and `python -m benchmarks.sts_pet_ct` for the last
section) from `benchmarks/results/ibsi.json` and `sts_pet_ct.json`; `make docs` re-renders it
and a test fails when it is stale. Do not edit by hand.

"We used PyRadiomics" does not tell a reader which features are standardised. The radiomics
reporting guidelines (IBSI reporting items, CLEAR 2023 items 25-26, METRICS 2024 item 12) ask
which features are IBSI-compliant and with which settings they were computed. This page
answers that with measurements: radiomics-hnc's extraction engine is run on the IBSI 1 digital
phantom and on the IBSI 1 CT phantom under configurations A-E, and every feature with an IBSI
counterpart is compared with the IBSI consensus reference value and tolerance.

How to use it: extract with `--ct-config ct_ibsi --pet-config pet_ibsi` (the files are in
`feature_configs/`, their headers give every choice and its reason). The report's Methods then
state, per modality, the settings in IBSI terms (interpolation, re-segmentation,
discretisation, aggregation) and how many of the extracted features are IBSI-compliant; the
verdicts come from `radiomics_hnc.features.ibsi`, whose lists of deviations are checked against
this benchmark by `tests/test_ibsi.py`.

How PyRadiomics aggregates texture, in IBSI terms: GLCM and GLRLM features are computed per
direction (13 in 3D) and averaged: IBSI "3D, averaged" (tags `cm_*_3D_avg`); with `force2D` the
in-plane directions, each matrix merged over the slices: "2.5D, averaged". GLSZM, NGTDM and
NGLDM (PyRadiomics' GLDM) are computed over the volume: "3D" (or "2.5D" with `force2D`).
PyRadiomics has no slice-by-slice (2D) or merged-matrix ("comb") aggregation."""


def _findings(results: Mapping[str, Any]) -> list[str]:
    """The page's summary, with the numbers of this run."""
    by_key = {(s["configuration"], s["variant"]): s for s in results["summary"]}

    def score(name: str, variant: str = "ibsi") -> str:
        summary = by_key[(name, variant)]
        return f"{summary['pyradiomics_compliant']} of {summary['pyradiomics_compared']}"

    return [
        "## Findings", "",
        f"- Feature definitions: on the digital phantom (no image processing) "
        f"{score('digital phantom (3D)')} PyRadiomics features are within tolerance in 3D and "
        f"{score('digital phantom (2.5D)')} in 2.5D. Kurtosis deviates by definition "
        "everywhere; the minor and least axis lengths only on this 74-voxel phantom.",
        f"- Image processing: PyRadiomics' own resampling is not IBSI's (grid aligned to the "
        f"corner of the mask's bounding box, nearest-neighbour mask): with it, configuration B "
        f"scores {score('B', 'pyradiomics')}, C {score('C', 'pyradiomics')}, D "
        f"{score('D', 'pyradiomics')}. radiomics-hnc's `resampling: {{grid: ibsi}}` reproduces "
        "IBSI's interpolated ROI exactly (voxel count, mean, minimum and maximum, in every "
        f"configuration with interpolation) and scores B {score('B')}, D {score('D')}.",
        f"- Discretisation: configuration C (fixed bin size) scores {score('C')}: PyRadiomics "
        "numbers fixed-size bins from the bin holding the ROI minimum, IBSI from the "
        "re-segmentation lower bound, so features that use the grey-level numbers themselves "
        "deviate. Fixed bin number is identical in both, which is why the IBSI-aligned "
        "settings use it.",
        f"- Re-segmentation: configuration E scores {score('E')}: it combines a range with "
        "outlier filtering, and PyRadiomics applies one re-segmentation only. Its interpolation "
        "(tricubic spline) matches IBSI's.",
        f"- Configuration A (2D, no interpolation) scores {score('A')}."]


def render(results: Mapping[str, Any], sts: Mapping[str, Any] | None) -> str:
    """docs/ibsi.md from the benchmark results (a test checks the page is current)."""
    from benchmarks.sts_pet_ct import render_section

    parts = [_INTRO, "", *_findings(results), "", "## Compliance per configuration", "",
             f"Settings: `{results['ct_config']}` with each configuration's image processing. "
             f"Criterion: {results['criterion']}. PyRadiomics features compared: those with an "
             "IBSI counterpart and a reference value; radiomics-hnc's own features (SUV "
             "metrics, mask volume) on the digital phantom only.", "",
             *_summary_table(results), "", "What PyRadiomics settings cannot express:", ""]
    parts += [f"- {c['name']}: {c['not_expressed']}" for c in results["configurations"]
              if c["not_expressed"]]
    parts += ["", "## Why features are outside the tolerance", "",
              "Every feature outside the tolerance, grouped by cause (the cause says whether "
              "a setting fixes it):", "", *_deviations(results), "",
              "## IBSI features without a PyRadiomics counterpart", "", *_no_counterpart(results),
              "", "## Interpolation diagnostics", "",
              "IBSI's diagnostic values of the interpolated ROI (ours / reference): they check "
              "the interpolation on its own, before re-segmentation and discretisation.", "",
              *_diagnostics(results), "", "## Every feature, IBSI grid (ct_ibsi.yaml)", "",
              "Cells: our value / reference ± tolerance, compliant. The PyRadiomics-resampling "
              "rows are in `benchmarks/results/ibsi.json`.", "", *_feature_table(results)]
    if sts:
        parts += ["", *render_section(sts)]
    return "\n".join(parts) + "\n"


#: Fields of one compared feature in ibsi.json, both resampling variants on one line.
ROW_FIELDS = ("configuration", "tag", "column", "reference", "tolerance",
              *(f"{field}_{variant}" for variant in VARIANTS
                for field in ("value", "compliant", "cause")))


def _significant(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(f"{value:.7g}")


def to_json(results: Mapping[str, Any]) -> str:
    """ibsi.json's text: each compared feature on one line (both variants, causes by index
    into ``causes``), IBSI's names once, and the IBSI features without a counterpart as tag
    lists per cause; small enough to keep in the repository and to review as a diff."""
    compared = [r for r in results["rows"] if r["column"]]
    causes = sorted({r["cause"] for r in compared if r["cause"]})
    lines: dict[tuple[str, str, str], list[Any]] = {}
    for row in compared:
        key = (row["configuration"], row["tag"], row["column"])
        line = lines.setdefault(key, [*key, row["reference"], row["tolerance"]])
        line += [_significant(row["value"]), row["status"] == "compliant",
                 causes.index(row["cause"]) if row["cause"] else None]
    missing: dict[str, dict[str, list[str]]] = {}
    for row in results["rows"]:
        if not row["column"] and row["variant"] == "ibsi":
            missing.setdefault(row["configuration"], {}).setdefault(row["cause"], []).append(
                row["tag"])
    head = {**{k: v for k, v in results.items() if k != "rows"}, "causes": causes,
            "ibsi_names": dict(sorted({r["stem"]: r["ibsi_name"]
                                       for r in results["rows"]}.items())),
            "no_counterpart": {name: {cause: ", ".join(tags) for cause, tags in by_cause.items()}
                               for name, by_cause in missing.items()},
            "features": {"columns": list(ROW_FIELDS), "rows": "@ROWS@"}}
    body = "[\n" + ",\n".join(f"      {json.dumps(line)}" for line in lines.values()) + "\n    ]"
    return json.dumps(head, indent=2).replace('"@ROWS@"', body) + "\n"


def from_json(text: str) -> dict[str, Any]:
    """The results of :func:`to_json`, with one dict per feature and variant again."""
    data = json.loads(text)
    causes, names = data.pop("causes"), data.pop("ibsi_names")
    rows = []
    for line in data.pop("features")["rows"]:
        record = dict(zip(ROW_FIELDS, line, strict=True))
        stem = _TAG.match(record["tag"]).group("stem")  # type: ignore[union-attr]
        for variant in VARIANTS:
            cause = record[f"cause_{variant}"]
            rows.append({**{k: record[k] for k in ROW_FIELDS[:5]}, "variant": variant,
                         "stem": stem, "ibsi_name": names[stem],
                         "value": record[f"value_{variant}"],
                         "status": "compliant" if record[f"compliant_{variant}"]
                         else "not compliant", "cause": causes[cause] if cause is not None
                         else ""})
    for name, by_cause in data.pop("no_counterpart").items():
        for cause, tags in by_cause.items():
            for tag in tags.split(", "):
                stem = _TAG.match(tag).group("stem")  # type: ignore[union-attr]
                rows.append({"configuration": name, "variant": "ibsi", "tag": tag,
                             "stem": stem, "ibsi_name": names[stem], "column": None,
                             "status": "no PyRadiomics counterpart", "cause": cause})
    return {**data, "rows": rows}


def read_results(folder: Path = RESULTS) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The IBSI results and, when present, the real PET/CT results."""
    results = from_json((folder / "ibsi.json").read_text())
    sts_path = folder / "sts_pet_ct.json"
    return results, json.loads(sts_path.read_text()) if sts_path.is_file() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=IBSI_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true",
                        help="only render docs/ibsi.md from the results folder")
    args = parser.parse_args()
    if not args.render:
        if not (args.data / "reference_values").is_dir():
            print(f"skipped: IBSI phantoms not found in {args.data} (shared real data)",
                  file=sys.stderr)
            return 0
        start = time.perf_counter()
        results = run(args.data)
        results["seconds"] = round(time.perf_counter() - start, 1)
        args.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out / "ibsi.json") as tmp:
            tmp.write_text(to_json(results), encoding="utf-8")
        for line in _summary_table(results):
            print(line)
    results, sts = read_results(args.out)
    DOCS_PAGE.write_text(render(results, sts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
