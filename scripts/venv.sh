#!/usr/bin/env bash
# Create or update the project virtualenv from the lock file; idempotent, shows progress.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
cd "$(dirname "$0")/.."

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 is required ($python is $("$python" --version 2>&1 || echo missing)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating virtualenv $venv"
  "$python" -m venv "$venv"
fi
echo "==> installing locked dependencies into $venv (requirements/dev.txt; first time takes a few minutes)"
# Every package, pip and setuptools included, must match a sha256 of the lock; the lock is
# complete, so --no-deps. The project itself is built with that setuptools (no isolated build
# environment fetched unpinned).
"$venv/bin/python" -m pip install --progress-bar on --require-hashes --no-deps -r requirements/dev.txt
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
echo "==> $venv is ready"
