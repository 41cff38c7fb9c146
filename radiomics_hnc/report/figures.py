"""Matplotlib helpers: one colour per centre, PNGs embedded as data URIs.

Figures are built with :class:`matplotlib.figure.Figure` directly, not pyplot: no backend is
selected, no global state changes, and nothing needs a display.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable

from matplotlib.figure import Figure as MplFigure

#: Colour-blind friendly palette (Okabe-Ito, then Tableau) cycled over sorted centre names.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF",
)
#: Default resolution of embedded figures (dots per inch); tests pass a lower one.
DEFAULT_DPI = 110


def centre_colours(centres: Iterable[str]) -> dict[str, str]:
    """A fixed colour per centre: the same centre has the same colour in every figure."""
    names = sorted({str(c) for c in centres})
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def plain(text: object) -> str:
    """User text (a centre, patient or feature name) as matplotlib draws it literally.

    Matplotlib reads text between two ``$`` as mathtext, which draws ``$x$`` as math and
    raises on ``$\\foo$`` when the figure is rendered; an escaped ``\\$`` is a plain dollar sign.
    Every string from users' files passes through here before it reaches a figure.
    """
    return str(text).replace("$", r"\$")


def new_figure(width: float = 6.0, height: float = 4.0, ncols: int = 1) -> tuple[MplFigure, list]:
    """A figure (inches) with ``ncols`` axes in a row, styled for print."""
    fig = MplFigure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)
    for ax in axes[0]:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.25, linewidth=0.6)
    return fig, list(axes[0])


def to_data_uri(fig: MplFigure, dpi: int = DEFAULT_DPI) -> str:
    """Render ``fig`` as PNG and return it as a base64 ``data:`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
