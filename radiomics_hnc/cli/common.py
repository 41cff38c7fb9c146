"""State and helpers shared by the CLI modules (never imported by the library itself)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

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
