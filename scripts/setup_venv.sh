#!/usr/bin/env bash
# Build the project's virtual environment with the versions pinned in the constraints file.
#
# Two steps cannot be left to a plain `pip install .`:
# - PyRadiomics 3.0.1 has no wheel for recent Pythons and its source archive only builds
#   against an already installed numpy/versioneer (no build isolation).
# - An unpinned torch pulls a multi-GB CUDA build. Without a working nvidia-smi we install the
#   pinned CPU build; where nvidia-smi works we keep an installed CUDA torch as it is.
#   Outside this project's CI machines, point pip at PyTorch's CPU wheel index with
#   PIP_EXTRA_INDEX_URL to get the CPU build.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CONSTRAINTS=${CONSTRAINTS:-requirements/constraints.txt}

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
constrain=(-c "$CONSTRAINTS")

echo "[setup] build tools for the PyRadiomics source build"
"${pip[@]}" install "${constrain[@]}" numpy versioneer setuptools wheel

if ! "$VENV/bin/python" -c "import radiomics" 2>/dev/null; then
    echo "[setup] PyRadiomics (source build, no build isolation)"
    "${pip[@]}" install "${constrain[@]}" --no-build-isolation pyradiomics
fi

torch_pin=$(grep -E '^torch==' "$CONSTRAINTS")
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
        echo "[setup] NVIDIA GPU found: keeping the installed torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
    else
        echo "[setup] NVIDIA GPU found: installing $torch_pin (CUDA build)"
        "${pip[@]}" install "$torch_pin"
    fi
    # The GPU machine's torch may differ from the CPU pin: do not let the constraints fight it.
    grep -v -E '^torch==' "$CONSTRAINTS" > "$VENV/constraints-gpu.txt"
    constrain=(-c "$VENV/constraints-gpu.txt")
else
    echo "[setup] no NVIDIA GPU: installing the CPU build $torch_pin"
    "${pip[@]}" install "$torch_pin"
fi

echo "[setup] radiomics-hnc and its dependencies"
"${pip[@]}" install "${constrain[@]}" -e ".[dev]"

# Real DICOM files for the DICOM import tests, from two source archives on the package registry:
# pysuv's vendor PET slices (MIT) and dicompyler-core's anonymised RT plan (BSD-3). Never
# committed; without them (no registry) the tests that need them are skipped.
testdata="$VENV/dicom-test-data"
if [ ! -f "$testdata/.complete" ]; then
    echo "[setup] DICOM test files from the pysuv and dicompyler-core source archives"
    rm -rf "$testdata" && mkdir -p "$testdata"
    if "${pip[@]}" download "${constrain[@]}" --no-binary :all: --no-deps -d "$testdata" \
            pysuv dicompyler-core==0.5.6 >/dev/null 2>&1 \
        && "$VENV/bin/python" - "$testdata" <<'PY'
import sys, tarfile
from pathlib import Path
folder = Path(sys.argv[1])
for archive in folder.glob("*.tar.gz"):
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/tests/" in m.name
                   and m.name.endswith(".dcm") and ".." not in m.name]
        tar.extractall(folder, members=members, filter="data")
    archive.unlink()
PY
    then
        touch "$testdata/.complete"
    else
        echo "[setup] warning: the DICOM test files could not be fetched; their tests will skip"
    fi
fi
echo "[setup] done: $("$VENV/bin/radiomics-hnc" --version)"
