"""The ``radiomics-hnc`` command line: argument parsing and display over the Python API.

Exit codes: 0 success, 1 user error (bad input, bad settings, bad usage), 2 internal error.
Each stage's commands live in their own module and are registered on :data:`app` here.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.text import Text
from typer.exceptions import TyperException

from radiomics_hnc import __version__
from radiomics_hnc.cli import analysis as analysis_commands
from radiomics_hnc.cli import data as data_commands
from radiomics_hnc.cli import dicom as dicom_commands
from radiomics_hnc.cli import external as external_commands
from radiomics_hnc.cli import extract as extract_commands
from radiomics_hnc.cli import modeling as modeling_commands
from radiomics_hnc.cli import pipeline as pipeline_commands
from radiomics_hnc.cli import report as report_commands
from radiomics_hnc.cli import segment as segment_commands
from radiomics_hnc.cli import synth as synth_commands
from radiomics_hnc.cli.common import console, err_console, state
from radiomics_hnc.errors import RadiomicsHNCError

app = typer.Typer(
    name="radiomics-hnc",
    help="Head and neck cancer PET/CT radiomics: data, segmentation, features, models, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class _OwnInfoOthersWarnings(logging.Filter):
    """Our progress messages at INFO; other libraries (PyRadiomics logs every lesion at INFO,
    whatever level is set before its import) only from WARNING, unless --verbose."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.startswith("radiomics_hnc")
        return self.verbose or own or record.levelno >= logging.WARNING


def _version(value: bool) -> None:
    if value:
        console.print(f"radiomics-hnc {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print errors and results."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print debug logs and tracebacks."),
) -> None:
    """Options shared by every command."""
    state.quiet = quiet
    state.verbose = verbose
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_OwnInfoOthersWarnings(verbose))
    logging.basicConfig(level=level, handlers=[handler], force=True)


data_commands.register(app)
dicom_commands.register(app)
extract_commands.register(app)
external_commands.register(app)
modeling_commands.register(app)
pipeline_commands.register(app)
report_commands.register(app)
synth_commands.register(app)
segment_commands.register(app)
analysis_commands.register(app)


def _labelled(label: str, message: str) -> Text:
    """A red label and a message printed as written (messages hold paths and user values)."""
    return Text.assemble((label, "bold red"), f" {message}" if message else "")


def main() -> None:
    """Console-script entry point: run the app and map failures to exit codes 1 and 2."""
    try:
        code = app(standalone_mode=False)
    except RadiomicsHNCError as exc:
        err_console.print(_labelled("error:", str(exc)), soft_wrap=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print(_labelled("aborted", ""))
        sys.exit(1)
    except TyperException as exc:
        # Usage errors are user errors (1); a bare command has already printed its help (0).
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(0)
        err_console.print(_labelled("usage error:", exc.format_message()), soft_wrap=True)
        sys.exit(1)
    except Exception as exc:  # last line of defence: no raw traceback for users
        if state.verbose:
            err_console.print_exception()
        err_console.print(_labelled(
            "internal error:", f"{type(exc).__name__}: {exc}\n"
            "This is a bug in radiomics-hnc; rerun with --verbose and report the traceback."),
            soft_wrap=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
