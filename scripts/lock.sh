#!/usr/bin/env bash
# Re-resolve the lock files. pipeline.txt and producer.txt are each complete on their own
# (they feed the images); dev.txt is constrained by both so .venv runs exactly what ships.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/../requirements"
compile() { "../$venv/bin/pip-compile" --quiet --no-emit-index-url --no-emit-find-links --strip-extras --output-file "$1.txt" "$1.in"; }
for lock in pipeline producer dev checkov; do
  echo "==> requirements/$lock.txt"
  compile "$lock"
done
