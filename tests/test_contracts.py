"""One definition per rule (issue #15): each shared rule is written once in the package.

A rule written twice drifts (three ``Grid`` classes once had three field orders), so these
tests read the package's source and count definitions.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "radiomics_hnc"


def _definitions() -> dict[str, list[str]]:
    """Every class, function and assigned name in the package -> the modules defining it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text(), filename=module)):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                found[node.name].append(module)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        found[target.id].append(module)
    return found


DEFINITIONS = _definitions()


@pytest.mark.parametrize(("name", "module"), [
    ("Grid", "radiomics_hnc/geometry.py"),
    ("physical_bounds", "radiomics_hnc/geometry.py"),
    ("grid_mismatch", "radiomics_hnc/geometry.py"),
    ("GRID_TOLERANCE_VOXELS", "radiomics_hnc/geometry.py"),
    ("load_spec", "radiomics_hnc/modeling/specs.py"),
    ("load_model", "radiomics_hnc/modeling/saved_model.py"),
    # Each workspace JSON file: one record class, beside the stage that writes it.
    ("WorkspaceRecord", "radiomics_hnc/records.py"),
    ("RunRecord", "radiomics_hnc/modeling/records.py"),
    ("SegmentationSummary", "radiomics_hnc/segment/summary.py"),
    ("ValidationRecord", "radiomics_hnc/validate.py"),
    # The headline segmentation figure and the best model: one rule each, for the command
    # line's headline and the report alike.
    ("SegmentationHeadline", "radiomics_hnc/segment/summary.py"),
    ("best_run", "radiomics_hnc/modeling/records.py"),
    ("Headline", "radiomics_hnc/headline.py"),
    ("DemoResult", "radiomics_hnc/demo.py"),
    # The named choices of settings.
    ("CVScheme", "radiomics_hnc/choices.py"),
    ("PipelineMasks", "radiomics_hnc/choices.py"),
    ("Backend", "radiomics_hnc/choices.py"),
    ("ModelTask", "radiomics_hnc/choices.py"),
])
def test_rule_is_defined_once(name: str, module: str) -> None:
    assert DEFINITIONS[name] == [module]


def _constants() -> dict[str, set[str]]:
    """Every string constant in the package -> the modules holding it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found[node.value].add(str(path.relative_to(REPO)))
    return found


CONSTANTS = _constants()


@pytest.mark.parametrize(("value", "modules"), [
    # The validation schemes are listed once; everything else takes CVScheme.
    ("kfold", {"radiomics_hnc/choices.py"}),
    ("holdout", {"radiomics_hnc/choices.py"}),
    # The workspace's JSON file names live with their records (and the workspace's paths),
    # so nothing reads them raw.
    ("metrics.json", {"radiomics_hnc/modeling/records.py"}),
    ("summary.json", {"radiomics_hnc/segment/summary.py"}),
    ("validation.json", {"radiomics_hnc/workspace.py"}),
])
def test_names_are_spelled_once(value: str, modules: set[str]) -> None:
    assert CONSTANTS[value] == modules


def test_old_spellings_of_choices_and_run_files_are_gone() -> None:
    for name in ("SCHEMES", "SCHEME_ORDER", "scheme_rank", "MASK_CHOICES", "BACKENDS",
                 "METRIC_ALIASES", "PER_CENTRE_KEYS", "metric_triplet", "tree_based_xgb",
                 "_XGBSurvival"):
        assert name not in DEFINITIONS, name


def test_one_same_grid_tolerance() -> None:
    tolerances = {name: modules for name, modules in DEFINITIONS.items()
                  if "TOL" in name.upper() and "GRID" in name.upper()}
    assert tolerances == {"GRID_TOLERANCE_VOXELS": ["radiomics_hnc/geometry.py"]}


def test_design_notes_live_in_the_repository() -> None:
    assert (REPO / "docs" / "design.md").is_file()
    sources = [*PACKAGE.rglob("*.py"), *(REPO / "benchmarks").rglob("*.py"),
               REPO / "README.md", REPO / "DEVELOPERS.md", *(REPO / "docs").glob("*.md")]
    assert not [str(p.relative_to(REPO)) for p in sources if "DESIGN.md" in p.read_text()]
