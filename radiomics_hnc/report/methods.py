"""Methods section: an automatically written methods paragraph and the TRIPOD+AI checklist.

The paragraph is assembled from what the workspace files say about themselves (provenance
metadata, run specs, validation schemes), so it describes what was actually run.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from radiomics_hnc.analysis.records import AnalysisSummary
from radiomics_hnc.report.analysis import methods_paragraph as analysis_methods
from radiomics_hnc.report.content import Section, Table, Text
from radiomics_hnc.report.inputs import Run
from radiomics_hnc.report.standardisation import ibsi_paragraphs
from radiomics_hnc.workspace import is_patient_feature

#: Libraries whose versions the methods paragraph cites (distribution names).
CITED_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scikit-survival", "xgboost", "SimpleITK",
                   "pyradiomics", "monai", "torch", "matplotlib")
_MODALITIES = {"PT": "PET (SUV)", "CT": "CT (HU)", "RTDOSE": "radiotherapy dose (Gy)",
               "MASK": "mask geometry (mm, ml)"}


@dataclass(frozen=True)
class MethodsInputs:
    """What the methods paragraph is written from; fields are empty when a stage was not run."""

    manifest: pd.DataFrame | None
    manifest_provenance: dict[str, Any]
    n_excluded: int
    features: pd.DataFrame | None
    features_provenance: dict[str, Any]
    segmentation: bool
    runs: list[Run]
    present_sections: frozenset[str]
    features_source: str | None = None  # the mask source of the feature tables, in words
    analysis: tuple[AnalysisSummary, dict[str, pd.DataFrame]] | None = None  # analyze's


def methods_section(inputs: MethodsInputs) -> Section:
    """The methods paragraphs, software versions and the TRIPOD+AI coverage table."""
    section = Section("methods", "Methods")
    for paragraph in methods_paragraphs(inputs):
        section.blocks.append(Text(paragraph))
    section.blocks.append(Table("software_versions", "Software versions (the versions that "
                                "wrote each file are in its provenance metadata).",
                                software_table(inputs)))
    section.blocks.append(Table("tripod_ai", "TRIPOD+AI items (Collins et al., BMJ 2024): what "
                                "this report covers and what the authors must add.",
                                tripod_table(inputs.present_sections)))
    return section


def library_version(name: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def software_table(inputs: MethodsInputs) -> pd.DataFrame:
    """Versions recorded in provenance, then those of the environment that built the report."""
    rows = [{"Software": "Python", "Version": platform.python_version(), "Source": "report"}]
    for label, record in (("manifest", inputs.manifest_provenance),
                          ("features", inputs.features_provenance)):
        if record.get("package_version"):
            rows.append({"Software": "radiomics-hnc", "Version": record["package_version"],
                         "Source": f"{label} provenance"})
        if record.get("pyradiomics_version"):
            rows.append({"Software": "pyradiomics", "Version": record["pyradiomics_version"],
                         "Source": f"{label} provenance"})
    rows.extend({"Software": name, "Version": library_version(name), "Source": "report"}
                for name in ("radiomics-hnc", *CITED_LIBRARIES))
    return pd.DataFrame(rows).drop_duplicates(subset=["Software", "Version"])


def methods_paragraphs(inputs: MethodsInputs) -> list[str]:
    """One paragraph per stage that was run, in pipeline order."""
    paragraphs = [_data_paragraph(inputs)] if inputs.manifest is not None else []
    if inputs.segmentation:
        paragraphs.append(
            "Gross tumour volumes (GTVp, label 1) and involved lymph nodes (GTVn, label 2) were "
            "segmented automatically with a MONAI convolutional network on co-registered PET/CT "
            "and evaluated against the ground-truth contours with the HECKTOR 2022 aggregated "
            "Dice (DSCagg), the mean per-patient Dice and the HECKTOR 2025 aggregated GTVn "
            "detection F1 (IoU > 0.3).")
    if inputs.features is not None:
        paragraphs.append(_features_paragraph(inputs))
        paragraphs += ibsi_paragraphs(inputs.features_provenance,
                                      inputs.features.dropna(axis=1, how="all").columns)
    if inputs.analysis is not None:
        paragraphs.append(analysis_methods(inputs.analysis))
    if inputs.runs:
        paragraphs.append(_modelling_paragraph(inputs.runs) + _run_sources(inputs.runs))
    paragraphs.append(
        "Descriptive statistics: continuous variables as median [interquartile range], compared "
        "across centres with the Kruskal-Wallis test; categorical variables as counts, compared "
        "with Pearson's chi-square test, Fisher's exact test (2x2) or a Monte Carlo chi-square "
        "test when an expected count was below 5. Median follow-up was estimated by the reverse "
        "Kaplan-Meier method. Risk groups were compared with the log-rank test and univariable "
        "hazard ratios estimated by Cox regression (Breslow ties, Wald confidence intervals).")
    return paragraphs


def _data_paragraph(inputs: MethodsInputs) -> str:
    manifest = inputs.manifest
    assert manifest is not None
    layout = manifest["layout"].iloc[0] if "layout" in manifest.columns and len(manifest) else ""
    version = inputs.manifest_provenance.get("package_version", library_version("radiomics-hnc"))
    return (f"{len(manifest)} FDG-PET/CT patients from {manifest['center'].nunique()} centres "
            f"(dataset layout: {layout}) were indexed and validated with radiomics-hnc "
            f"{version}: every image was checked for readability, geometry, label values and "
            f"plausible SUV, HU and Gy ranges, and every clinical value for plausibility. "
            f"{_patients(inputs.n_excluded)} with at least one error "
            f"{'was' if inputs.n_excluded == 1 else 'were'} excluded from all analyses.")


def _patients(n: int) -> str:
    return f"{n} patient" if n == 1 else f"{n} patients"


def _features_paragraph(inputs: MethodsInputs) -> str:
    features = inputs.features
    assert features is not None
    tokens = {str(c).split("_")[1] for c in features.columns
              if is_patient_feature(c)}
    modalities = ", ".join(_MODALITIES[t] for t in _MODALITIES if t in tokens) or "none"
    record = inputs.features_provenance
    settings = record.get("config_sha256")
    sources = record.get("config_sources") or {}
    names = ", ".join(f"{k}: {Path(str(v).split(':')[-1]).name}" for k, v in sources.items())
    details = [f"parameter files {names}"] if names else []
    details += [f"settings SHA-256 {str(settings)[:12]}"] if settings else []
    settings_text = f" ({'; '.join(details)})" if details else ""
    n_features = sum(is_patient_feature(c) for c in features.columns)
    masks = f" on {inputs.features_source}" if inputs.features_source else ""
    return (f"Radiomics features were extracted per lesion{masks} with PyRadiomics "
            f"{record.get('pyradiomics_version', library_version('pyradiomics'))}"
            f"{settings_text} from {modalities}, and aggregated per patient into {n_features} "
            "features of the primary tumour (GTVp_), the nodes (GTVn_) and the whole disease "
            "(GTVall_).")


def _modelling_paragraph(runs: list[Run]) -> str:
    schemes = sorted({r.scheme.label for r in runs})
    tasks = sorted({r.task for r in runs})
    harmonised = any(r.spec.preprocessing.harmonize for r in runs)
    estimators = sorted({r.spec.estimator for r in runs})
    text = (f"{len(runs)} model runs ({', '.join(tasks)}; estimators: {', '.join(estimators)}) "
            f"were validated by {' and by '.join(schemes)}; imputation, scaling"
            f"{', ComBat harmonisation by centre' if harmonised else ''} and feature selection "
            "were fitted inside each training fold, and all reported metrics come from "
            "out-of-fold predictions with bootstrap 95 % confidence intervals.")
    if "rfs" in tasks:
        text += (" Recurrence-free survival models were assessed primarily with a fold-aware "
                 "Harrell's C (pairs of patients scored by the same fold model: within each "
                 "held-out centre, or the mean over folds), and secondarily with pooled "
                 "Harrell's and Uno's concordance, time-dependent AUC and the integrated Brier "
                 "score.")
    if "hpv" in tasks:
        text += (" HPV classifiers were assessed primarily with a fold-aware ROC AUC (defined "
                 "likewise), and with pooled ROC AUC, balanced accuracy at a threshold chosen "
                 "on the training folds, and calibration.")
    return text


def _run_sources(runs: list[Run]) -> str:
    """Which mask source each run's features came from (as recorded by ``fit``)."""
    by_source: dict[str, list[str]] = {}
    for run in runs:
        recorded = run.record.features
        by_source.setdefault(recorded.description if recorded else "not recorded",
                             []).append(run.name)
    if list(by_source) == ["not recorded"]:
        return ""
    return " Feature tables of the runs: " + "; ".join(
        f"{source}: {', '.join(names)}" for source, names in by_source.items()) + "."


_MODELS = ("rfs", "hpv")
#: TRIPOD+AI items: (item, topic, report sections that cover it (any), where / what to add);
#: no sections means the authors must report the item themselves.
TRIPOD_AI_ITEMS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("1", "Title", (), "authors"),
    ("2", "Abstract", (), "authors"),
    ("3a-c", "Background: healthcare context, population, inequalities", (), "authors"),
    ("4", "Objectives", (), "authors"),
    ("5a", "Data sources", ("cohort",), "Cohort: centres and patients; Methods: dataset layout"),
    ("5b", "Data dates (accrual, end of follow-up)", (), "authors"),
    ("6a", "Setting: number and location of centres", ("cohort",), "Cohort, Table 1 by centre"),
    ("6b", "Eligibility criteria", ("quality",), "Data quality: exclusions and reasons"),
    ("6c", "Treatments received", ("cohort",), "Table 1: treatment"),
    ("7", "Data preparation", ("quality",), "Methods: validation, segmentation, features"),
    ("8a-c", "Outcome definition and assessment", _MODELS, "Methods; RFS from end of RT"),
    ("9a-c", "Predictors", ("harmonisation",), "Methods: feature extraction and harmonisation"),
    ("10", "Sample size", ("cohort",), "Patients and events; justification by authors"),
    ("11", "Missing data", ("cohort",), "Table 1 missing counts; imputation in fold"),
    ("12a-g", "Analytical methods", _MODELS, "Methods paragraphs, model comparison"),
    ("13", "Class imbalance", ("hpv",), "Balanced accuracy, threshold from training folds"),
    ("14", "Fairness", (), "per-centre results shown; subgroups by authors"),
    ("15", "Model output", _MODELS, "Risk score (RFS), probability (HPV)"),
    ("16", "Training versus evaluation", _MODELS, "Out-of-fold predictions, centre-wise"),
    ("17", "Ethical approval", (), "authors"),
    ("18a-f", "Open science: funding, conflicts, protocol, registration, data, code", (),
     "authors; software versions in Methods"),
    ("19", "Patient and public involvement", (), "authors"),
    ("20a", "Participant flow", ("quality",), "Data quality: excluded patients"),
    ("20b", "Participant characteristics", ("cohort",), "Table 1"),
    ("20c", "Development vs evaluation data compared", ("cohort",), "Table 1 by centre"),
    ("21", "Participants and events in each analysis", _MODELS, "Model comparison tables"),
    ("22", "Model specification", _MODELS, "Run folders: spec, model file, importance"),
    ("23a", "Model performance with confidence intervals", _MODELS, "RFS and HPV sections"),
    ("23b", "Performance in key subgroups", ("segmentation",),
     "Per-centre segmentation metrics; per-centre model metrics in runs/*/metrics.json"),
    ("24", "Model updating", (), "not applicable unless updated"),
    ("25-27", "Discussion: interpretation, limitations, usability", (), "authors"),
)


def tripod_table(present_sections: frozenset[str]) -> pd.DataFrame:
    """Which TRIPOD+AI items this report covers, given the sections it contains."""
    rows = []
    for item, topic, sections, where in TRIPOD_AI_ITEMS:
        if not sections:
            status = "authors to report"
        else:
            status = "yes" if present_sections.intersection(sections) else "no (stage not run)"
        rows.append({"Item": item, "Topic": topic, "Covered by this report": status,
                     "Where / note": where})
    return pd.DataFrame(rows)
