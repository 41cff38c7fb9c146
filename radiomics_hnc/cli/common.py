"""State and helpers shared by the CLI modules (never imported by the library itself)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

console = Console(stderr=False)
err_console = Console(stderr=True)


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
