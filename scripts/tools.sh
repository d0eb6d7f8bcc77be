#!/usr/bin/env bash
# Static-analysis tools that cannot share .venv: checkov clashes with python-hcl2 over the `hcl2`
# module and downgrades Beam's dependencies, so it gets its own virtualenv in .tools/checkov.
# Idempotent: reinstalls only when the lock file changed.
set -euo pipefail
python=${1:-python3}
tools=${2:-.tools}
cd "$(dirname "$0")/.."

lock=requirements/checkov.txt
venv="$tools/checkov"
stamp="$venv/.installed-$(sha256sum "$lock" | cut -c1-16)"

if [ -x "$venv/bin/checkov" ] && [ -f "$stamp" ]; then
  exit 0
fi
echo "==> installing checkov into $venv (from $lock; first time takes a minute)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$lock"
touch "$stamp"
echo "==> $("$venv/bin/checkov" --version 2>/dev/null | sed 's/^/checkov /') ready in $venv"
