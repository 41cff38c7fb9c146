"""The command line: help everywhere, version, exit codes, and the data commands end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from radiomics_hnc.cli import app
from tests.data_fixtures import write_per_task


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the installed entry point as a user would (real exit codes)."""
    code = "from radiomics_hnc.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300)


def _command_paths(group, prefix=()):
    import typer.main

    command = typer.main.get_command(group)
    yield from _walk(command, prefix)


def _walk(command, prefix):
    subcommands = getattr(command, "commands", {})
    for name, sub in subcommands.items():
        yield (*prefix, name)
        yield from _walk(sub, (*prefix, name))


def test_version_and_bare_invocation():
    result = run_cli("--version")
    assert result.returncode == 0 and "radiomics-hnc" in result.stdout
    assert run_cli().returncode == 0


@pytest.mark.parametrize("path", list(_command_paths(app)))
def test_every_command_has_help(path):
    result = run_cli(*path, "--help")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Usage" in result.stdout


def test_usage_and_input_errors_exit_1_without_traceback(tmp_path):
    result = run_cli("discover")
    assert result.returncode == 1
    result = run_cli("discover", str(tmp_path / "nowhere"), "--out", str(tmp_path / "ws"))
    assert result.returncode == 1
    assert "dataset folder not found. Fix:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_discover_and_validate_commands(tmp_path):
    data = write_per_task(tmp_path / "data", ["CHUM-001", "MDA-002"])
    ws = tmp_path / "ws"
    result = run_cli("discover", str(data), "--out", str(ws))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (ws / "manifest.parquet").is_file()
    result = run_cli("validate", str(ws))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 patients: 0 errors" in result.stdout
    findings = json.loads((ws / "validation.json").read_text())
    assert findings["excluded"] == []
    result = run_cli("--quiet", "validate", str(data), "--out", str(tmp_path / "ws2"))
    assert result.returncode == 0 and (tmp_path / "ws2" / "validation.json").is_file()


def test_cli_reference_is_current(tmp_path):
    """docs/cli.md is generated from the commands' help; `make docs` rewrites it."""
    from pathlib import Path

    typer_cli = Path(sys.executable).with_name("typer")
    generated = tmp_path / "cli.md"
    subprocess.run([str(typer_cli), "radiomics_hnc.cli", "utils", "docs", "--name", "radiomics-hnc",
                    "--title", "radiomics-hnc command line reference", "--output",
                    str(generated)], check=True, capture_output=True, timeout=120)
    committed = Path(__file__).parents[1] / "docs" / "cli.md"
    assert committed.read_text() == generated.read_text(), "docs/cli.md is stale: run `make docs`"
