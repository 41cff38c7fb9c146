"""One writer at a time per stage output of a workspace (``WORKSPACE/.locks/<stage>.lock``).

Two runs writing the same outputs at once (two ``extract`` runs with different settings, say)
would leave tables that mix both. Each command that writes a stage's outputs takes that
stage's lock with :func:`stage_lock`; a second run is refused at once (exit code 1) with the
lock file and the process that holds it, rather than waiting: stages run for minutes to hours,
and a run that waited would then overwrite the first one's outputs with its own settings,
which is rarely what the user wants. The lock is an operating-system lock (``filelock``), so
a crashed or killed run (even ``kill -9``) releases it and never leaves a stale lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from radiomics_hnc.errors import WorkspaceBusyError

LOCKS_DIR = ".locks"
F = TypeVar("F", bound=Callable[..., Any])


def lock_name(stage: str, target: str | Path | None = None, workspace: str | Path = ".") -> str:
    """File-name-safe lock name of ``stage`` writing ``target`` (a folder of the workspace)."""
    if target is None:
        return stage
    target, root = Path(target).resolve(), Path(workspace).resolve()
    label = (str(target.relative_to(root)) if target.is_relative_to(root)
             else hashlib.sha256(str(target).encode()).hexdigest()[:16])
    return f"{stage}-{label}".replace(os.sep, "_")


@contextmanager
def stage_lock(workspace: str | Path, name: str) -> Iterator[Path]:
    """Hold the workspace's lock ``name`` for the block; refuse if another process holds it.

    Raises
    ------
    WorkspaceBusyError
        Another process holds the lock; the message names the lock file and that process.
    """
    folder = Path(workspace) / LOCKS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    owner = folder / f"{name}.owner.json"
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise WorkspaceBusyError(
            f"another run is writing the same outputs ({_holder(owner)}), lock file {path}",
            hint="wait for it to finish, or use another workspace or output folder",
        ) from None
    try:
        # The owner's details sit beside the lock: filelock may truncate the lock file itself.
        owner.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        yield path
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def _holder(owner: Path) -> str:
    try:
        info = json.loads(owner.read_text())
        return (f"process {info['pid']} on {info['host']}, started {info['started_utc']}: "
                f"{info['command']}")
    except (OSError, ValueError, KeyError, TypeError):  # not written yet, or being removed
        return "another process"


def locked_stage(name: str) -> Callable[[F], F]:
    """Decorate a stage function whose first argument is the workspace with its lock."""

    def decorate(function: F) -> F:
        @wraps(function)
        def run(workspace: str | Path, *args: Any, **kwargs: Any) -> Any:
            with stage_lock(workspace, name):
                return function(workspace, *args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
