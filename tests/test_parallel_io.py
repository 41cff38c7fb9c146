"""Per-patient execution keeps going past failures; workspace writes are atomic with provenance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow as pa
import pytest

from radiomics_hnc.errors import InputDataError, RadiomicsHNCError
from radiomics_hnc.io import (
    atomic_path,
    read_arrow,
    read_provenance,
    write_arrow,
    write_json,
    write_parquet,
)
from radiomics_hnc.parallel import PatientFailure, map_patients


def square_or_fail(value: int) -> int:
    """Module-level so that worker processes can unpickle it."""
    if value == 3:
        raise InputDataError("bad input", patient_id="P3")
    if value == 4:
        raise ZeroDivisionError("a bug")
    return value * value


@pytest.mark.parametrize(("jobs", "fork_workers"), [(1, False), (2, False), (2, True)])
def test_failures_are_returned_not_raised(jobs, fork_workers):
    tasks = [(f"P{i}", i) for i in range(6)]
    results = dict(map_patients(square_or_fail, tasks, jobs=jobs, progress=False,
                                fork_workers=fork_workers))
    assert results["P5"] == 25 and results["P0"] == 0
    bad_input, bug = results["P3"], results["P4"]
    assert isinstance(bad_input, PatientFailure) and bad_input.expected
    assert "bad input" in bad_input.message
    assert isinstance(bug, PatientFailure) and not bug.expected
    assert "ZeroDivisionError" in bug.traceback


_SLOW_RUN = """
import sys, time
from radiomics_hnc.parallel import map_patients
for _ in map_patients(time.sleep, [("P1", 60), ("P2", 60), ("P3", 60)], jobs=2,
                      progress=False, fork_workers=True):
    pass
"""


_WORKER_KIND = """
import sys
from radiomics_hnc.parallel import map_patients
def command_line(_):
    with open("/proc/self/cmdline", "rb") as f:
        return f.read()
if sys.argv[1] == "torch":
    import torch
mine = command_line(None)
results = dict(map_patients(command_line, [("P1", 0), ("P2", 0)], jobs=2, progress=False,
                            fork_workers=True))
print("forked" if all(line == mine for line in results.values()) else "fresh")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="forked workers are Linux only")
@pytest.mark.parametrize(("loaded", "kind"), [("nothing", "forked"), ("torch", "fresh")])
def test_workers_are_forked_unless_torch_is_loaded(loaded, kind):
    """A forked worker keeps the run's command line; loky's are new interpreters. With torch
    loaded (``run`` trains and predicts before extracting) its OpenMP threads forbid a fork."""
    done = subprocess.run([sys.executable, "-c", _WORKER_KIND, loaded], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == kind


@pytest.mark.skipif(sys.platform != "linux", reason="forked workers are Linux only")
def test_forked_workers_die_with_a_killed_run():
    """A killed run must not leave workers behind: they hold its open files (the stage lock),
    so a rerun would find the stage busy, and would wait for work forever."""
    run = subprocess.Popen([sys.executable, "-c", _SLOW_RUN])
    deadline, workers = time.monotonic() + 60, []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.1)
        workers = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True,
                                 text=True).stdout.split()
    assert len(workers) == 2, "the run should have forked two workers"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(int(pid)) for pid in workers):
        time.sleep(0.1)
    assert not any(_running(int(pid)) for pid in workers)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a dead child nobody has reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


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


def test_arrow_cache_files_carry_provenance_and_refuse_damage(tmp_path):
    table = pa.table({"patient_id": ["P1", "P2"], "CT_original_firstorder_Mean": [1.5, None]})
    path = write_arrow(table, tmp_path / "P1.arrow", {"fingerprint": "abc"})
    assert read_provenance(path) == {"fingerprint": "abc"}
    assert read_arrow(path).to_pylist() == table.to_pylist()
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(pa.ArrowInvalid):
        read_arrow(path)


def test_parquet_and_json_carry_provenance(tmp_path):
    path = write_parquet(pd.DataFrame({"a": [1.5]}), tmp_path / "t.parquet")
    meta = read_provenance(path)
    assert meta["package"] == "radiomics-hnc"
    assert meta["pyradiomics_version"].lstrip("v").startswith("3.")
    assert "created_utc" in meta
    write_json({"x": 1}, tmp_path / "a.json")
    assert (tmp_path / "a.json").read_text().strip().startswith("{")
