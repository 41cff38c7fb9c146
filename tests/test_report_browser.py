"""The report in a real headless browser: loads from a file URL, no console errors, no network.

Chromium comes from the machine: ``make test`` first runs ``make browser``
(scripts/ensure_chromium.sh, Debian's package, when root or password-less sudo allows). Where it
is not installed the tests skip and say so; the tests never install anything. The screenshot is
kept under test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from radiomics_hnc.report import build_report
from tests.test_report import LOW_DPI, make_workspace

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "scripts" / "report_browser_check.py"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed: 'make browser' installs it (Debian's package)")
    return found


def _check(html: Path, screenshot: Path, chromium: str) -> tuple[int, dict]:
    result = subprocess.run([sys.executable, str(CHECK), str(html), str(screenshot),
                             "--chromium", chromium], capture_output=True, text=True,
                            timeout=120)
    return result.returncode, json.loads(result.stdout)


def test_report_loads_cleanly_in_chromium(chromium: str, tmp_path: Path) -> None:
    html = build_report(make_workspace(tmp_path), dpi=LOW_DPI)
    screenshot = ARTIFACTS / "report_screenshot.png"
    code, found = _check(html, screenshot, chromium)
    assert code == 0, found
    assert found["console_errors"] == [] and found["requests"] == []
    assert found["sections"] == 8 and found["images"] >= 8 and found["images_broken"] == 0
    pixels = imread(screenshot)[..., :3]
    assert pixels.shape[0] > 2000  # the whole page, not only the first screen
    assert float(np.var(pixels)) > 0.01  # not blank
    (ARTIFACTS / "report_index.html").write_text(html.read_text())


def test_check_detects_console_errors_and_requests(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><p>bad page</p>"
                    "<script>console.error('boom')</script>"
                    "<img src='http://127.0.0.1:9/missing.png'></body></html>")
    code, found = _check(page, tmp_path / "bad.png", chromium)
    assert code == 1
    assert any("boom" in message for message in found["console_errors"])
    assert found["requests"] == ["http://127.0.0.1:9/missing.png"]
