"""Per-patient parallel execution shared by every stage that loops over patients.

joblib's local process pool (loky) is the default; ``backend="dask"`` runs the identical code
on a Dask cluster given its scheduler address. A stage that asks for it (``fork_workers``) gets
local workers forked from its own process instead, on Linux. One patient's failure never stops
the others: it comes back as a :class:`PatientFailure` that the caller writes to its errors
table.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import joblib
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from radiomics_hnc.choices import Backend
from radiomics_hnc.errors import RadiomicsHNCError

# loky restarts a worker whose memory grew by more than 300 MB between tasks (a full-scale CT,
# torch's allocator) and warns "A worker stopped while some jobs were given to the executor";
# the worker exits cleanly after its task and a new one takes the queue, so nothing is lost
# and the warning only alarms users (it appeared in 'make demo').
warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given",
                        category=UserWarning)


@dataclass(frozen=True)
class PatientFailure:
    """Why one patient's task failed: ``expected`` is True for bad input, False for a bug."""

    patient_id: str
    error_type: str
    message: str
    expected: bool
    traceback: str = ""


def _run_one(func: Callable[..., Any], patient_id: str, args: Any, threads: int) -> Any:
    """Run ``func(args)`` in a worker, with thread pools capped, catching every failure."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        with threadpool_limits(limits=threads):
            return patient_id, func(args)
    except RadiomicsHNCError as exc:
        return patient_id, PatientFailure(patient_id, type(exc).__name__, str(exc), True)
    except Exception as exc:  # one bad patient must not abort the cohort
        return patient_id, PatientFailure(
            patient_id, type(exc).__name__, f"{type(exc).__name__}: {exc}", False,
            traceback.format_exc(),
        )


def threads_per_worker(jobs: int) -> int:
    """Threads each worker may use so that ``jobs`` workers do not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def map_patients(
    func: Callable[[Any], Any],
    tasks: Sequence[tuple[str, Any]],
    *,
    jobs: int = 1,
    backend: Backend | str = Backend.LOKY,
    scheduler: str | None = None,
    description: str = "patients",
    progress: bool = True,
    fork_workers: bool = False,
) -> Iterator[tuple[str, Any]]:
    """Apply ``func`` to each task's argument, yielding ``(patient_id, result)`` as each finishes.

    ``result`` is a :class:`PatientFailure` when the task raised. Results arrive in completion
    order so that callers can write each one atomically as soon as it exists (resumable runs).

    Parameters
    ----------
    func
        A picklable (module-level) function of one argument.
    tasks
        ``(patient_id, argument)`` pairs.
    jobs
        Worker processes (loky) or concurrent tasks (dask). ``1`` runs in this process.
    backend
        ``"loky"`` (local processes) or ``"dask"`` (needs ``scheduler``).
    scheduler
        Dask scheduler address, e.g. ``tcp://10.0.0.1:8786``.
    fork_workers
        Local workers are forked from this process, so they start with its modules already
        imported instead of importing pandas, SimpleITK and PyRadiomics again (~1 s and ~90 MB
        per worker, a tenth of ``extract --jobs 2`` on 4 patients). Only on Linux and while
        torch is not loaded here (its OpenMP threads do not survive a fork; ``run`` trains and
        predicts before it extracts): loky otherwise. For stages whose workers run no torch.
    """
    backend = Backend.parse(backend, "backend")
    if backend == Backend.DASK and not scheduler:
        raise RadiomicsHNCError(
            "the dask backend needs a scheduler address", hint="pass --scheduler tcp://HOST:PORT"
        )
    threads = threads_per_worker(jobs) if backend == Backend.LOKY else 1
    calls = [(func, pid, arg, threads) for pid, arg in tasks]
    with ExitStack() as stack:
        # Workers start before the progress bar, whose refresh thread must not be forked.
        if backend == Backend.DASK:
            stack.enter_context(_dask_client(scheduler))
            # joblib registers its dask backend only through parallel_config, not Parallel().
            stack.enter_context(joblib.parallel_config(backend="dask"))
            results: Any = joblib.Parallel(return_as="generator_unordered")(
                joblib.delayed(_run_one)(*call) for call in calls)
        elif jobs > 1 and fork_workers and sys.platform == "linux" and "torch" not in sys.modules:
            results = _forked_results(stack, calls, jobs)
        elif jobs > 1:
            results = joblib.Parallel(n_jobs=jobs, backend="loky",
                                      return_as="generator_unordered")(
                joblib.delayed(_run_one)(*call) for call in calls)
        else:
            results = (_run_one(*call) for call in calls)
        bar = stack.enter_context(_progress(progress))
        failures = 0
        task_id = bar.add_task(description, total=len(tasks), failed=0)
        for patient_id, result in results:
            failures += isinstance(result, PatientFailure)
            bar.update(task_id, advance=1, failed=failures)
            yield patient_id, result


def _forked_results(stack: ExitStack, calls: list[tuple], jobs: int) -> Iterator[Any]:
    """``_run_one(*call)`` of every call on ``jobs`` workers forked from this process, in
    completion order; the pool is shut down (pending calls cancelled, running ones finished)
    when ``stack`` closes."""
    pool = ProcessPoolExecutor(min(jobs, max(len(calls), 1)),
                               mp_context=multiprocessing.get_context("fork"),
                               initializer=_prepare_worker, initargs=(os.getpid(),))
    stack.callback(pool.shutdown, wait=True, cancel_futures=True)
    futures = [pool.submit(_run_one, *call) for call in calls]  # forks the workers now
    return _completed(futures)


def _completed(futures: list) -> Iterator[Any]:
    try:
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool as exc:  # a worker was killed: every pending call fails with it
        raise RadiomicsHNCError(
            "a worker process was killed (out of memory, or a crash in a native library)",
            hint="patients already finished are kept; rerun, with fewer --jobs if memory is "
            "short") from exc


#: prctl option: the signal a process receives when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _prepare_worker(parent: int) -> None:
    """Forked worker initialiser: be killed with the run's process, as loky's workers are (a
    forked worker shares the run's open files, its stage lock among them, and would otherwise
    wait for work forever once the run is killed, so a rerun would find the stage busy); leave
    Ctrl-C to the run, which cancels what has not started (each worker would print a
    KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the run died before prctl took effect
        os._exit(1)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),  # descriptions as written
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed: {task.fields[failed]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


def _dask_client(scheduler: str | None) -> Any:
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise RadiomicsHNCError(
            "the dask backend needs the 'distributed' package",
            hint="pip install 'radiomics-hnc[dask]'",
        ) from exc
    return Client(scheduler)
