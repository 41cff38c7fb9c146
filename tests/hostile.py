"""Payloads for security tests: objects whose unpickling would act on the machine."""

from __future__ import annotations

from pathlib import Path


class TouchOnUnpickle:
    """Unpickling this creates ``path``: a harmless stand-in for a hostile pickle's code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))
