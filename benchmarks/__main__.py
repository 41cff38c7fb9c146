"""Run every benchmark module (or those named) in turn, each in its own process."""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def available() -> list[str]:
    """Benchmark modules in this folder (every module but this one)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {available()})")
    parser.add_argument("--out", default=str(HERE / "results"), help="results folder")
    args = parser.parse_args()
    failed = []
    for name in args.names or available():
        print(f"== benchmark {name}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}", "--out", args.out])
        print(f"== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
