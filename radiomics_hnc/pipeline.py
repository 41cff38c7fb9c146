"""One command from data to report: ordered stages, each skipped when it is up to date.

A stage is up to date when its outputs exist and the fingerprint of its inputs and settings
equals the one recorded when it last finished (``WORKSPACE/pipeline/<stage>.json``). A rerun
after a change therefore redoes only what changed, and a rerun after a crash resumes: a stage
that did not finish has no record, and the per-patient stages keep what they had written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from radiomics_hnc.io import file_sha256, write_json

log = logging.getLogger(__name__)

# Files larger than this are fingerprinted by size and modification time instead of content:
# hashing a whole imaging dataset on every rerun would cost minutes.
CONTENT_HASH_LIMIT = 64 * 1024 * 1024


def file_fingerprint(path: Path) -> str:
    """Content hash of a workspace file, or size and mtime for large files and folders' files."""
    stat = path.stat()
    if stat.st_size <= CONTENT_HASH_LIMIT:
        return file_sha256(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def tree_fingerprint(root: Path) -> str:
    """Fingerprint of a folder tree from each file's relative path, size and mtime."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass
class Stage:
    """One pipeline stage: what it reads, how it is set up, what it writes, how to run it."""

    name: str
    action: Callable[[], Any]
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Hash of the stage name, its settings and the content of its inputs."""
        digest = hashlib.sha256(self.name.encode())
        digest.update(json.dumps(dict(self.settings), sort_keys=True, default=str).encode())
        for path in self.inputs:
            if path.is_dir():
                digest.update(f"{path}:{tree_fingerprint(path)}".encode())
            elif path.exists():
                digest.update(f"{path}:{file_fingerprint(path)}".encode())
            else:
                digest.update(f"{path}:absent".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class StageOutcome:
    """What happened to a stage in one run."""

    name: str
    status: str  # "ran" or "up to date"
    seconds: float
    result: Any = None


def run_stages(
    stages: Iterable[Stage], state_dir: Path, *, force: Iterable[str] = ()
) -> list[StageOutcome]:
    """Run each stage in order unless it is up to date; record each one as it finishes."""
    forced = set(force)
    outcomes = []
    state_dir.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        record_path = state_dir / f"{stage.name}.json"
        fingerprint = stage.fingerprint()
        if stage.name not in forced and _up_to_date(stage, record_path, fingerprint):
            log.info("stage %s is up to date", stage.name)
            outcomes.append(StageOutcome(stage.name, "up to date", 0.0))
            continue
        log.info("stage %s: running", stage.name)
        start = time.perf_counter()
        result = stage.action()
        seconds = time.perf_counter() - start
        write_json({
            "stage": stage.name,
            "fingerprint": fingerprint,
            "settings": dict(stage.settings),
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
        }, record_path)
        outcomes.append(StageOutcome(stage.name, "ran", seconds, result))
    return outcomes


def _up_to_date(stage: Stage, record_path: Path, fingerprint: str) -> bool:
    if not record_path.is_file() or not all(p.exists() for p in stage.outputs):
        return False
    return json.loads(record_path.read_text()).get("fingerprint") == fingerprint
