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
    ("segmentation_headline", "radiomics_hnc/workspace.py"),
    ("load_spec", "radiomics_hnc/modeling/specs.py"),
    ("load_model", "radiomics_hnc/modeling/saved_model.py"),
])
def test_rule_is_defined_once(name: str, module: str) -> None:
    assert DEFINITIONS[name] == [module]


def test_one_same_grid_tolerance() -> None:
    tolerances = {name: modules for name, modules in DEFINITIONS.items()
                  if "TOL" in name.upper() and "GRID" in name.upper()}
    assert tolerances == {"GRID_TOLERANCE_VOXELS": ["radiomics_hnc/geometry.py"]}


#: Files that still name the old DESIGN.md and belong to work merged later (issue #15, phase 2).
_PHASE_TWO = {"radiomics_hnc/report/model_summary.py", "benchmarks/generated_cohort.py"}


def test_design_notes_live_in_the_repository() -> None:
    assert (REPO / "docs" / "design.md").is_file()
    sources = [*PACKAGE.rglob("*.py"), *(REPO / "benchmarks").rglob("*.py"),
               REPO / "README.md", REPO / "DEVELOPERS.md", *(REPO / "docs").glob("*.md")]
    citing = {str(p.relative_to(REPO)) for p in sources if "DESIGN.md" in p.read_text()}
    assert citing <= _PHASE_TWO
