"""Per-patient execution keeps going past failures; workspace writes are atomic with provenance."""

from __future__ import annotations

import pandas as pd
import pytest

from radiomics_hnc.errors import InputDataError, RadiomicsHNCError
from radiomics_hnc.io import atomic_path, read_provenance, write_json, write_parquet
from radiomics_hnc.parallel import PatientFailure, map_patients


def square_or_fail(value: int) -> int:
    """Module-level so that worker processes can unpickle it."""
    if value == 3:
        raise InputDataError("bad input", patient_id="P3")
    if value == 4:
        raise ZeroDivisionError("a bug")
    return value * value


@pytest.mark.parametrize("jobs", [1, 2])
def test_failures_are_returned_not_raised(jobs):
    tasks = [(f"P{i}", i) for i in range(6)]
    results = dict(map_patients(square_or_fail, tasks, jobs=jobs, progress=False))
    assert results["P5"] == 25 and results["P0"] == 0
    bad_input, bug = results["P3"], results["P4"]
    assert isinstance(bad_input, PatientFailure) and bad_input.expected
    assert "bad input" in bad_input.message
    assert isinstance(bug, PatientFailure) and not bug.expected
    assert "ZeroDivisionError" in bug.traceback


def test_backend_errors_are_user_errors():
    with pytest.raises(RadiomicsHNCError, match="unknown backend"):
        list(map_patients(square_or_fail, [("P1", 1)], backend="spark"))
    with pytest.raises(RadiomicsHNCError, match="needs a scheduler address"):
        list(map_patients(square_or_fail, [("P1", 1)], backend="dask"))


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "table.parquet"
    write_parquet(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed")
    assert pd.read_parquet(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_parquet_and_json_carry_provenance(tmp_path):
    path = write_parquet(pd.DataFrame({"a": [1.5]}), tmp_path / "t.parquet")
    meta = read_provenance(path)
    assert meta["package"] == "radiomics-hnc"
    assert meta["pyradiomics_version"].lstrip("v").startswith("3.")
    assert "created_utc" in meta
    write_json({"x": 1}, tmp_path / "a.json")
    assert (tmp_path / "a.json").read_text().strip().startswith("{")
