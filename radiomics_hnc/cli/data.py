"""CLI for the data layer: ``discover`` and ``validate``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the data-layer commands to ``app``."""
