#!/usr/bin/env bash
# Make Debian's chromium available for the report's browser check (tests/test_report_browser.py);
# run by `make browser`, which `make test` runs first (the test itself never installs anything).
# Prints the browser's path on success; exits non-zero with a reason when it cannot be installed
# (no root, no apt, no network); the browser test then skips.
set -euo pipefail

for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not available: install chromium by hand" >&2
    exit 3
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "not root and no password-less sudo: cannot install chromium" >&2
        exit 4
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends chromium >&2
command -v chromium
