"""The building blocks a report section is made of: text, tables, figures.

Sections return these plain objects; the Jinja2 template turns them into HTML with
autoescaping on, so no value from a user's file ever reaches the page unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd


@dataclass(frozen=True)
class Text:
    """A paragraph (``style="note"`` renders it as a side remark)."""

    text: str
    style: str = "paragraph"
    kind: ClassVar[str] = "text"


@dataclass(frozen=True)
class Table:
    """A table shown on the page and written beside it as ``tables/<name>.csv``."""

    name: str
    caption: str
    frame: pd.DataFrame
    #: False for long tables (per patient): written as CSV, only mentioned on the page.
    display: bool = True
    kind: ClassVar[str] = "table"

    def display_rows(self) -> list[list[str]]:
        """Cells as strings, missing values as an en dash."""
        return [[_cell(value) for value in row] for row in self.frame.itertuples(index=False)]


@dataclass(frozen=True)
class Figure:
    """A PNG figure embedded as a ``data:`` URI (see :func:`figures.to_data_uri`)."""

    data_uri: str
    caption: str
    alt: str
    kind: ClassVar[str] = "figure"


Block = Text | Table | Figure


@dataclass
class Section:
    """One section of the report: an anchor id, a title and its blocks in order."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def tables(self) -> list[Table]:
        return [block for block in self.blocks if isinstance(block, Table)]


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if pd.isna(value):
            return "–"
        if value.is_integer():
            return str(int(value))
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"
    try:
        if pd.isna(value):
            return "–"
    except (TypeError, ValueError):
        pass
    return str(value)
