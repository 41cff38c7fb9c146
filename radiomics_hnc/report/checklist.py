"""Reporting checklist appendix: the CLEAR (Kocak et al., Insights Imaging 2023) and METRICS
(Kocak et al., Insights Imaging 2024) items this run answers, where the report shows each
answer, and the items only the authors can answer.

An item is "answered" when the workspace records the answer, "partly answered" when the
authors must add to it (the part they add is said), "stage not run" when a later stage would
answer it, and "authors" otherwise. Every answered item names the report section that shows
it; ``tests/test_checklist.py`` checks each named section exists in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from radiomics_hnc import __version__
from radiomics_hnc.analysis.icc import UNSTABLE_ICC
from radiomics_hnc.analysis.records import AnalysisSummary, analysis_dir, read_analysis
from radiomics_hnc.choices import CVScheme
from radiomics_hnc.report.content import Section, Table, Text
from radiomics_hnc.report.inputs import Run
from radiomics_hnc.report.standardisation import ModalityCompliance, modality_compliance
from radiomics_hnc.workspace import Workspace, is_patient_feature

#: CLEAR 1.0 items (number, title).
CLEAR_ITEMS = (
    (1, "Relevant title, specifying the radiomic methodology"),
    (2, "Structured summary with relevant information"), (3, "Relevant keywords for radiomics"),
    (4, "Scientific or clinical background"), (5, "Rationale for using a radiomic approach"),
    (6, "Study objective(s)"), (7, "Adherence to guidelines or checklists"),
    (8, "Ethical details (approval, consent, data protection)"), (9, "Sample size calculation"),
    (10, "Study nature (retrospective, prospective)"), (11, "Eligibility criteria"),
    (12, "Flowchart for technical pipeline"), (13, "Data source (private, public)"),
    (14, "Data overlap"), (15, "Data split methodology"),
    (16, "Imaging protocol (acquisition and processing)"),
    (17, "Definition of non-radiomic predictor variables"),
    (18, "Definition of the reference standard (outcome)"), (19, "Segmentation strategy"),
    (20, "Details of operators performing segmentation"), (21, "Image pre-processing details"),
    (22, "Resampling method and its parameters"),
    (23, "Discretization method and its parameters"),
    (24, "Image types (original, filtered, transformed)"), (25, "Feature extraction method"),
    (26, "Feature classes"), (27, "Number of features"),
    (28, "Default configuration statement for remaining parameters"),
    (29, "Handling of missing data"), (30, "Details of class imbalance"),
    (31, "Details of segmentation reliability analysis"), (32, "Feature scaling details"),
    (33, "Dimension reduction details"), (34, "Algorithm details"),
    (35, "Training and tuning details"), (36, "Handling of confounders"),
    (37, "Model selection strategy"), (38, "Testing technique (internal, external)"),
    (39, "Performance metrics and rationale for choosing"),
    (40, "Uncertainty evaluation and measures (confidence intervals)"),
    (41, "Statistical performance comparison"),
    (42, "Comparison with non-radiomic and combined methods"),
    (43, "Interpretability and explainability methods"),
    (44, "Baseline demographic and clinical characteristics"),
    (45, "Flowchart for eligibility criteria"),
    (46, "Feature statistics (reproducibility, feature selection)"),
    (47, "Model performance evaluation"),
    (48, "Comparison with non-radiomic and combined approaches"),
    (49, "Overview of important findings"),
    (50, "Previous works with differences from the current study"),
    (51, "Practical implications"), (52, "Strengths and limitations"),
    (53, "Sharing images along with segmentation data"), (54, "Sharing radiomic feature data"),
    (55, "Sharing pre-processing scripts or settings"), (56, "Sharing source code for modeling"),
    (57, "Sharing final model files"), (58, "Sharing a ready-to-use system"),
)
#: METRICS 1.0 items (number, title).
METRICS_ITEMS = (
    (1, "Adherence to radiomics and/or machine learning-specific checklists or guidelines"),
    (2, "Eligibility criteria that describe a representative study population"),
    (3, "High-quality reference standard with a clear definition"), (4, "Multi-center"),
    (5, "Clinical translatability of the imaging data source"),
    (6, "Imaging protocol with acquisition parameters"),
    (7, "The interval between imaging used and reference standard"),
    (8, "Transparent description of segmentation methodology"),
    (9, "Formal evaluation of fully automated segmentation"),
    (10, "Test set segmentation masks produced by a single reader or automated tool"),
    (11, "Appropriate use of image preprocessing techniques with transparent description"),
    (12, "Use of standardized feature extraction software"),
    (13, "Transparent reporting of feature extraction parameters"),
    (14, "Removal of non-robust features"), (15, "Removal of redundant features"),
    (16, "Appropriateness of dimensionality compared to data size"),
    (17, "Robustness assessment of end-to-end deep learning pipelines"),
    (18, "Proper data partitioning process"), (19, "Handling of confounding factors"),
    (20, "Use of appropriate performance evaluation metrics for task"),
    (21, "Consideration of uncertainty"), (22, "Calibration assessment"),
    (23, "Use of uni-parametric imaging or proof of its inferiority"),
    (24, "Comparison with a non-radiomic approach or proof of added clinical value"),
    (25, "Comparison with simple or classical statistical models"), (26, "Internal testing"),
    (27, "External testing"), (28, "Data availability"), (29, "Code availability"),
    (30, "Model availability"),
)
#: Which answer (a method of :class:`Answers`) each item gets; the others are the authors'.
CLEAR_ANSWERS = {
    7: "checklist", 11: "eligibility", 13: "data_source", 15: "validation",
    19: "segmentation", 21: "preprocessing", 22: "resampling", 23: "discretisation",
    24: "image_types", 25: "extraction", 26: "feature_classes", 27: "feature_count",
    28: "settings", 29: "missing_data", 31: "reliability", 32: "scaling", 33: "selection",
    34: "algorithms", 36: "confounders", 38: "testing", 39: "metrics", 40: "uncertainty",
    44: "baseline", 45: "eligibility", 46: "feature_statistics", 47: "metrics",
    55: "settings", 56: "code", 57: "models",
}
METRICS_ANSWERS = {
    1: "checklist", 2: "eligibility", 4: "centres", 8: "segmentation",
    9: "segmentation_evaluation", 11: "preprocessing", 12: "extraction", 13: "settings",
    14: "robustness", 15: "selection", 18: "validation", 19: "confounders", 20: "metrics",
    21: "uncertainty", 22: "calibration", 26: "testing", 27: "external_testing", 29: "code",
    30: "models",
}
ANSWERED, PARTLY, NOT_RUN, AUTHORS = "answered", "partly answered", "stage not run", "authors"
SECTION_ID = "checklist"
SECTION_TITLE = "Reporting checklist"
#: The feature analysis section (radiomics_hnc.report.analysis).
ANALYSIS_SECTION = "feature-analysis"


@dataclass(frozen=True)
class Answer:
    """An item's answer, the section that shows it, and what the authors must add (if any)."""

    text: str
    section: str
    authors_add: str = ""


@dataclass
class StudyFacts:
    """What the workspace recorded that the checklist reads (see :func:`read_record`)."""

    manifest: pd.DataFrame | None = None
    excluded: int = 0
    patient_columns: list[str] = field(default_factory=list)
    features_provenance: dict = field(default_factory=dict)
    segmentation_evaluated: bool = False
    runs: list[Run] = field(default_factory=list)
    harmonised_runs: list[str] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # id -> title
    analysis: AnalysisSummary | None = None  # analyze's summary of the features folder

    @property
    def modalities(self) -> list[ModalityCompliance] | None:
        if not self.patient_columns:
            return None
        return modality_compliance(self.features_provenance, self.patient_columns)


def read_record(workspace: str | Path, features_dir: Path | None,
                sections: Sequence[Section]) -> StudyFacts:
    """Everything the checklist needs, read through the report's readers in this one place."""
    from radiomics_hnc.report import inputs

    ws = Workspace(workspace)
    folder = features_dir or ws.features_dir
    validation = inputs.read_validation(ws)
    patients = inputs.read_patient_features(ws, folder)
    runs = inputs.read_runs(ws)
    analysis = read_analysis(analysis_dir(ws.root, folder))
    return StudyFacts(
        manifest=inputs.read_manifest(ws), excluded=len(validation.excluded) if validation else 0,
        patient_columns=[] if patients is None else
        [str(c) for c in patients.dropna(axis=1, how="all").columns],
        features_provenance=inputs.file_provenance(folder / "patients.parquet"),
        segmentation_evaluated=inputs.read_segmentation(ws) is not None, runs=runs,
        harmonised_runs=[run.name for run in runs if run.spec.preprocessing.harmonize],
        sections={section.id: section.title for section in sections},
        analysis=analysis[0] if analysis else None)


class Answers:
    """One method per automatic answer; ``None`` when the stage that answers was not run."""

    def __init__(self, record: StudyFacts) -> None:
        self.record = record
        self.modalities = record.modalities

    def _section(self, *candidates: str) -> str | None:
        return next((c for c in candidates if c in self.record.sections), None)

    def checklist(self) -> Answer:
        return Answer("this appendix lists every CLEAR and METRICS item with its answer",
                      SECTION_ID, "submit the checklist with the paper")

    def data_source(self) -> Answer | None:
        manifest = self.record.manifest
        if manifest is None:
            return None
        layout = manifest["layout"].iloc[0] if "layout" in manifest.columns else "unknown"
        return Answer(f"{len(manifest)} patients from {manifest['center'].nunique()} centres, "
                      f"dataset in the HECKTOR {layout} layout", "cohort",
                      "say whether the data are public or private, and cite them")

    def centres(self) -> Answer | None:
        manifest = self.record.manifest
        if manifest is None:
            return None
        counts = manifest["center"].value_counts().sort_index()
        listing = ", ".join(f"{centre} ({n})" for centre, n in counts.items())
        return Answer(f"{'yes' if len(counts) > 1 else 'no'}: {len(counts)} centre(s): "
                      f"{listing}", "cohort")

    def eligibility(self) -> Answer | None:
        if self.record.manifest is None or "quality" not in self.record.sections:
            return None
        return Answer(f"{self.record.excluded} of {len(self.record.manifest)} patients "
                      "excluded by automatic data validation, each with its reason",
                      "quality", "state the inclusion criteria of the source cohort")

    def segmentation(self) -> Answer | None:
        source = self.record.features_provenance.get("mask_source")
        if source is None:
            return None
        if source == "predicted":
            return Answer("automatic: masks predicted by radiomics-hnc's MONAI network",
                          self._section("segmentation", "methods") or "methods",
                          "describe the training data of the segmenter")
        return Answer(f"features from {source} masks (label 1 GTVp, label 2 GTVn; nodes "
                      "split into connected components)", "methods",
                      "name the readers, their experience and the contouring rules")

    def segmentation_evaluation(self) -> Answer | None:
        if not self.record.segmentation_evaluated:
            return None
        return Answer("DSCagg, per-patient Dice and GTVn detection F1 against ground truth, "
                      "headline on patients the segmenter was not trained on", "segmentation")

    def _per_modality(self, key: str) -> Answer | None:
        if not self.modalities:
            return None
        return Answer("; ".join(f"{m.label}: {m.settings[key]}" for m in self.modalities),
                      "methods")

    def preprocessing(self) -> Answer | None:
        answer = self._per_modality("interpolation")
        if answer is None:
            return None
        harmonised = (f"; ComBat by centre inside each training fold in runs "
                      f"{', '.join(self.record.harmonised_runs)}"
                      if self.record.harmonised_runs else "; no image harmonisation")
        return Answer(answer.text + harmonised, "methods",
                      "state the SUV normalisation (body weight) and any reconstruction "
                      "or post-processing applied before radiomics-hnc")

    def resampling(self) -> Answer | None:
        return self._per_modality("interpolation")

    def discretisation(self) -> Answer | None:
        return self._per_modality("discretisation")

    def image_types(self) -> Answer | None:
        settings = self.record.features_provenance.get("config_settings") or {}
        if not self.modalities:
            return None
        types = {", ".join((settings.get(name) or {}).get("imageType") or {"Original": {}})
                 for name in ("ct", "pet")}
        return Answer("image types: " + "; ".join(sorted(types)), "methods")

    def extraction(self) -> Answer | None:
        if not self.modalities:
            return None
        version = self.record.features_provenance.get("pyradiomics_version", "unknown")
        package = self.record.features_provenance.get("package_version", __version__)
        compliance = " ".join(m.summary() for m in self.modalities)
        return Answer(f"PyRadiomics {version} through radiomics-hnc {package}; hand-crafted "
                      f"3D features; {compliance}", "methods")

    def feature_classes(self) -> Answer | None:
        if not self.modalities:
            return None
        classes = sorted({c.split("_")[3] for c in self.record.patient_columns
                          if c.startswith("GTVp_") and "_original_" in c})
        return Answer("PyRadiomics classes " + ", ".join(classes) + " (IBSI names in the "
                      "Methods), plus SUV, volume and dose-volume metrics", "methods")

    def feature_count(self) -> Answer | None:
        if not self.record.patient_columns:
            return None
        count = sum(is_patient_feature(c) for c in self.record.patient_columns)
        per = "; ".join(f"{m.label}: {len(m.verdicts)} per lesion"
                        for m in self.modalities or [])
        return Answer(f"{count} patient-level features ({per})", "methods")

    def settings(self) -> Answer | None:
        if not self.modalities:
            return None
        files = ", ".join(f"{m.label}: {m.source}" for m in self.modalities)
        return Answer(f"settings files {files}; every setting, defaults included, is stored "
                      "in the feature tables' provenance (config_settings)", "methods",
                      "share the settings files with the paper")

    def _modelling(self, text: str, authors_add: str = "") -> Answer | None:
        if not self.record.runs:
            return None
        return Answer(text, "methods", authors_add)

    def missing_data(self) -> Answer | None:
        if self.record.manifest is None:
            return None
        return Answer("missing values counted per variable in Table 1; imputed inside each "
                      "training fold", "cohort")

    def scaling(self) -> Answer | None:
        combat = (f"; ComBat harmonisation by centre in runs "
                  f"{', '.join(self.record.harmonised_runs)}" if self.record.harmonised_runs
                  else "")
        return self._modelling("imputation and scaling fitted inside each training fold "
                               f"(one scikit-learn pipeline){combat}")

    def selection(self) -> Answer | None:
        return self._modelling("feature selection fitted inside each training fold, never on "
                               "the whole cohort", "state the selection method of the spec")

    def validation(self) -> Answer | None:
        schemes = sorted({run.scheme.label for run in self.record.runs})
        return self._modelling("patient-level " + " and ".join(schemes) + "; every metric "
                               "from out-of-fold predictions")

    def testing(self) -> Answer | None:
        return self.validation()

    def external_testing(self) -> Answer | None:
        external = next((s for s in self.record.sections if s.startswith("external-")), None)
        if external is not None:
            return Answer("a frozen model scored on an external cohort, nothing refitted "
                          "(validate-external)", external)
        if not any(run.scheme == CVScheme.LOCO for run in self.record.runs):
            return None
        return Answer("leave-one-centre-out: each centre predicted by models not trained on "
                      "it", "methods", "an independent external cohort, if any")

    def _results_section(self) -> str | None:
        return self._section("rfs", "hpv")

    def algorithms(self) -> Answer | None:
        section = self._results_section()
        if section is None:
            return None
        return Answer(f"{len(self.record.runs)} model runs compared; each run's spec, model "
                      "and model card in runs/<name>/", section)

    def metrics(self) -> Answer | None:
        section = self._results_section()
        if section is None:
            return None
        return Answer("RFS: fold-aware and pooled C-index, Uno's C, time-dependent AUC, "
                      "integrated Brier score; HPV: ROC AUC, balanced accuracy", section)

    def uncertainty(self) -> Answer | None:
        section = self._results_section()
        if section is None:
            return None
        return Answer("percentile bootstrap 95% confidence interval for every metric",
                      section)

    def calibration(self) -> Answer | None:
        section = self._section("hpv", "rfs")
        if section is None:
            return None
        return Answer("calibration plots of the out-of-fold predictions", section)

    def _analysis(self) -> AnalysisSummary | None:
        """The feature analysis summary, when its section is in the report."""
        return self.record.analysis if ANALYSIS_SECTION in self.record.sections else None

    def _unstable_flag(self) -> str | None:
        analysis = self._analysis()
        if analysis is None:
            return None
        compared = []
        if analysis.perturbation and analysis.perturbation.get("patients"):
            compared.append(f"mask perturbation ({len(analysis.perturbation['patients'])} "
                            "patients re-extracted: eroded, dilated, random boundary)")
        if analysis.mask_sources_compared:
            compared.append("ground-truth versus predicted masks")
        if not compared:
            return None
        return (f"ICC(2,1) of every feature under {' and '.join(compared)}; ICC below "
                f"{UNSTABLE_ICC} flagged unstable")

    def reliability(self) -> Answer | None:
        text = self._unstable_flag()
        return Answer(text, ANALYSIS_SECTION) if text else None

    def robustness(self) -> Answer | None:
        text = self._unstable_flag()
        return Answer(text + "; flagged, not removed", ANALYSIS_SECTION,
                      "say whether unstable features were removed before modelling"
                      ) if text else None

    def confounders(self) -> Answer | None:
        analysis = self._analysis()
        if analysis is None:
            return None
        stratified = ("; associations stratified by centre" if analysis.settings.get(
            "stratify_center") else "")
        return Answer("each feature's association adjusted for the log volume of its own scope, "
                      "volume surrogates flagged; centre effect per feature (Kruskal-Wallis "
                      f"before and after ComBat){stratified}", ANALYSIS_SECTION,
                      "name any other confounder considered")

    def feature_statistics(self) -> Answer | None:
        analysis = self._analysis()
        if analysis is None:
            return None
        alpha = float(analysis.settings["alpha"])
        stability = "" if self._unstable_flag() is None else ", ICC(2,1) reproducibility"
        return Answer(f"univariable association of {analysis.features} features with "
                      f"Benjamini-Hochberg FDR at q <= {alpha:g}, volume adjustment, "
                      f"redundancy clusters{stability}", ANALYSIS_SECTION)

    def baseline(self) -> Answer | None:
        if "cohort" not in self.record.sections:
            return None
        return Answer("Table 1 by centre, with tests across centres", "cohort")

    def code(self) -> Answer:
        return Answer(f"radiomics-hnc {__version__} (open source) ran every step; the "
                      "versions are in the Methods", "methods",
                      "say where the code and the workspace files are shared")

    def models(self) -> Answer | None:
        section = self._results_section()
        if section is None:
            return None
        return Answer("fitted models in runs/<name>/model.skops with spec.yaml and a model "
                      "card", section, "say where the models are shared")


def _row(guideline: str, number: int, title: str, key: str | None,
         answers: Answers) -> dict[str, str]:
    row = {"Item": f"{guideline} {number}", "Topic": title}
    answer = getattr(answers, key)() if key else None
    if key is None:
        return {**row, "Status": AUTHORS, "Answer": "", "Shown in": ""}
    if answer is None:
        return {**row, "Status": NOT_RUN, "Answer": "run the stage that produces it",
                "Shown in": ""}
    where = f"{answers.record.sections.get(answer.section, SECTION_TITLE)} (#{answer.section})"
    text = answer.text + (f" (authors: {answer.authors_add})" if answer.authors_add else "")
    return {**row, "Status": PARTLY if answer.authors_add else ANSWERED, "Answer": text,
            "Shown in": where}


def checklist_table(record: StudyFacts) -> pd.DataFrame:
    """One row per CLEAR and METRICS item: status, answer and the section showing it."""
    answers = Answers(record)
    rows = [_row("CLEAR", n, title, CLEAR_ANSWERS.get(n), answers) for n, title in CLEAR_ITEMS]
    rows += [_row("METRICS", n, title, METRICS_ANSWERS.get(n), answers)
             for n, title in METRICS_ITEMS]
    return pd.DataFrame(rows)


def checklist_section(workspace: str | Path, features_dir: Path | None,
                      sections: Sequence[Section]) -> Section:
    """The appendix: what this run answers (and where), then what the authors must answer."""
    record = read_record(workspace, features_dir,
                         [*sections, Section(SECTION_ID, SECTION_TITLE)])
    table = checklist_table(record)
    automatic = table[table["Status"] != AUTHORS]
    authors = table[table["Status"] == AUTHORS][["Item", "Topic"]]
    answered = int(automatic["Status"].isin([ANSWERED, PARTLY]).sum())
    section = Section(SECTION_ID, SECTION_TITLE)
    section.blocks.append(Text(
        f"CLEAR (Kocak et al., Insights Imaging 2023) and METRICS (Kocak et al., Insights "
        f"Imaging 2024): this run answers {answered} of the {len(table)} items, in full or in "
        f"part (the part left to the authors is said), and names the section that shows each "
        f"answer; {len(authors)} items only the authors can answer."))
    section.blocks.append(Table("checklist_answered", "Checklist items answered by this run.",
                                automatic.reset_index(drop=True)))
    section.blocks.append(Table("checklist_authors", "Checklist items for the authors.",
                                authors.reset_index(drop=True)))
    return section
