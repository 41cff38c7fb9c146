"""The report's IBSI statement in the Methods and its reporting checklist appendix (issue #17)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from radiomics_hnc.analysis import AnalysisSettings, analyze_workspace
from radiomics_hnc.features import ibsi
from radiomics_hnc.features.configs import load_feature_configs
from radiomics_hnc.io import provenance, write_parquet
from radiomics_hnc.report import build_report, build_sections
from radiomics_hnc.report.checklist import ANSWERED, AUTHORS, NOT_RUN, PARTLY
from radiomics_hnc.report.standardisation import ibsi_paragraphs, modality_compliance
from radiomics_hnc.workspace import Workspace
from tests.test_report import LOW_DPI, make_workspace

ANSWERS = (ANSWERED, PARTLY)


def _record_ibsi_settings(workspace: Path) -> None:
    """Give the features the provenance extract writes, with the IBSI-aligned settings."""
    path = Workspace(workspace).features_dir / "patients.parquet"
    configs = load_feature_configs(ct="ct_ibsi", pet="pet_ibsi")
    table = pd.read_parquet(path)
    table["GTVp_CT_original_firstorder_Kurtosis"] = 3.0
    table["GTVp_CT_original_glcm_MCC"] = 0.5
    table["GTVp_MASK_volume_ml"] = 10.0
    write_parquet(table, path, provenance(
        config_hash=configs.content_hash, config_sources=configs.sources,
        config_settings=configs.settings_record(), mask_source="ground-truth"))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    workspace = make_workspace(tmp_path_factory.mktemp("checklist"))
    _record_ibsi_settings(workspace)
    analyze_workspace(workspace, settings=AnalysisSettings(resamples=0,
                                                           reproducibility_patients=2))
    return build_report(workspace, dpi=LOW_DPI)


def _answered(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "tables" / "checklist_answered.csv")


def test_every_answered_item_points_to_a_section_of_the_report(report):
    html = report.read_text()
    sections = set(re.findall(r'<section id="([a-z_-]+)"', html))
    answered = _answered(report.parent)
    shown = answered[answered["Status"].isin(ANSWERS)]
    assert len(shown) >= 30
    for item, where in zip(shown["Item"], shown["Shown in"], strict=True):
        target = re.search(r"\(#([a-z_-]+)\)$", where)
        assert target and target.group(1) in sections, (item, where)
    assert "checklist" in sections and html.rindex('id="checklist"') > html.rindex('id="methods"')


def test_the_run_answers_what_the_issue_lists(report):
    answers = _answered(report.parent).set_index("Item")
    for item in ("CLEAR 13", "METRICS 4", "CLEAR 19", "CLEAR 21", "CLEAR 22", "CLEAR 23",
                 "CLEAR 25", "METRICS 12", "CLEAR 32", "CLEAR 33", "CLEAR 15", "CLEAR 40",
                 "METRICS 22", "CLEAR 56", "CLEAR 57"):
        assert answers.loc[item, "Status"] in ANSWERS, item
    assert "ComBat" in answers.loc["CLEAR 32", "Answer"]
    assert "IBSI-compliant" in answers.loc["CLEAR 25", "Answer"]
    assert answers.loc["CLEAR 26", "Answer"].startswith("PyRadiomics classes firstorder, glcm")
    assert answers.loc["METRICS 4", "Answer"].startswith("yes: 3 centre(s)")
    assert "(#hpv)" in answers.loc["METRICS 22", "Shown in"]
    authors = pd.read_csv(report.parent / "tables" / "checklist_authors.csv")
    assert {"CLEAR 8", "CLEAR 9", "METRICS 3"} <= set(authors["Item"])
    assert len(answers) + len(authors) == 58 + 30


def test_the_feature_analysis_is_in_the_methods_and_answers_its_checklist_items(report):
    html = report.read_text()
    methods = html[html.index('id="methods"'):html.index('id="checklist"')]
    paragraph = re.search(r"Feature analysis \(radiomics-hnc analyze\)[^<]*", methods).group(0)
    for said in ("Benjamini-Hochberg false discovery rate, significant at q &lt;= 0.05",
                 "log volume of its own scope", "cut at 0.2", "ICC(2,1) (two-way random",
                 "under mask perturbation (2 patients re-extracted", "below 0.75",
                 "Kruskal-Wallis test across centres", "after ComBat"):
        assert said in paragraph, said
    answers = _answered(report.parent).set_index("Item")
    for item in ("CLEAR 31", "CLEAR 36", "CLEAR 46", "METRICS 14", "METRICS 19"):
        assert answers.loc[item, "Status"] in ANSWERS, item
        assert answers.loc[item, "Shown in"].endswith("(#feature-analysis)"), item
    assert "q <= 0.05" in answers.loc["CLEAR 46", "Answer"]
    assert "mask perturbation (2 patients" in answers.loc["CLEAR 31", "Answer"]


def test_methods_state_the_settings_and_compliance_per_modality(report):
    html = report.read_text()
    methods = html[html.index('id="methods"'):html.index('id="checklist"')]
    assert "CT image processing in IBSI terms" in methods
    assert "on IBSI&#39;s grid (grid centres aligned)" in methods
    assert "range [-1000, 400] HU" in methods and "fixed bin number, 32 bins" in methods
    assert "PET image processing in IBSI terms" in methods


def test_checklist_says_which_stages_were_not_run(tmp_path):
    workspace = make_workspace(tmp_path, segmentation=False, features=False, runs=False)
    sections = build_sections(workspace, dpi=LOW_DPI)
    assert [s.id for s in sections][-2:] == ["methods", "checklist"]
    table = next(t for t in sections[-1].tables if t.name == "checklist_answered").frame
    status = dict(zip(table["Item"], table["Status"], strict=True))
    assert status["CLEAR 13"] == PARTLY and status["CLEAR 25"] == NOT_RUN
    assert status["METRICS 22"] == NOT_RUN
    assert not table.loc[table["Status"] == NOT_RUN, "Shown in"].any()
    assert AUTHORS not in set(table["Status"])


def test_compliance_counts_only_the_features_in_the_table():
    configs = load_feature_configs(ct="ct_ibsi", pet="pet_ibsi")
    record = {"config_settings": configs.settings_record(), "config_sources": configs.sources}
    columns = ["patient_id", "GTVp_MASK_count", "GTVp_MASK_volume_ml", "GTVn_MASK_count",
               "GTVp_CT_original_firstorder_Mean", "GTVp_CT_original_firstorder_Kurtosis",
               "GTVp_CT_original_glcm_MCC", "GTVp_PT_suv_TLG", "GTVp_PT_suv_SUVpeak",
               "GTVall_PT_suv_MTV"]
    ct, pet = modality_compliance(record, columns)
    assert (ct.label, ct.source) == ("CT", "ct_ibsi.yaml")
    assert [ct.count(s) for s in (ibsi.COMPLIANT, ibsi.DEVIATES, ibsi.NO_COUNTERPART)] == [2, 1, 1]
    assert [pet.count(s) for s in (ibsi.COMPLIANT, ibsi.DEVIATES)] == [1, 1]
    text = ibsi_paragraphs(record, columns)[0]
    assert "2 of 4 extracted CT features are IBSI-compliant" in text
    assert "1 deviating (Kurtosis: PyRadiomics reports the kurtosis" in text
    assert "1 without an IBSI counterpart" in text
    assert "settings were not recorded" in ibsi_paragraphs({}, columns)[0]
