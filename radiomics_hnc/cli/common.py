"""State and helpers shared by the CLI modules (never imported by the library itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from rich.console import Console
from rich.text import Text

from radiomics_hnc.errors import ConfigError

T = TypeVar("T")

# Markup and emoji codes are off: patient ids, clinical values, paths and error messages come
# from users' files, and "[/pending]" or "ws[/x]" must print as written (with markup on, Rich
# raises MarkupError or swallows the text). Styled output is built with rich.text.Text.
console = Console(stderr=False, markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False)


@dataclass
class CLIState:
    """Global options of the current invocation."""

    quiet: bool = False
    verbose: bool = False

    @property
    def progress(self) -> bool:
        """Whether per-patient progress bars are shown."""
        return not self.quiet


state = CLIState()


def deprecated_alias(value: T, old_value: T, name: str, old_name: str) -> T:
    """The value of an option given under its name or, with a warning, under its deprecated
    old spelling (kept, hidden, for users' scripts); both at once is a usage error."""
    if not old_value:
        return value
    if value:
        raise ConfigError(f"{old_name} and {name} are the same option", hint=f"use {name} only")
    err_console.print(Text(f"warning: {old_name} is deprecated, use {name}", style="yellow"),
                      soft_wrap=True)
    return old_value
