"""The project's real reference data (IBSI phantoms, ten real PET/CT patients), read in place
from ``../shared/data`` beside the repository root, never copied. Tests that need it skip,
saying where they looked, when it is absent (a user's fresh clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.ibsi import IBSI_DATA
from benchmarks.sts_pet_ct import STS_DATA

__all__ = ["IBSI_DATA", "STS_DATA", "require"]


def require(folder: Path, what: str) -> Path:
    """``folder``, or a skip naming what is missing and where it was looked for."""
    if not folder.is_dir():
        pytest.skip(f"{what} not found at {folder.resolve()} (the shared real data, "
                    "../shared/data beside the repository root, is absent)")
    return folder
