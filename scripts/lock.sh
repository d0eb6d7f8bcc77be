#!/usr/bin/env bash
# Re-resolve the lock files, each pin with the sha256 of every file PyPI has for it, so that
# `pip install --require-hashes` (images, .venv, checkov) refuses anything else; pip and setuptools
# are pinned too (--allow-unsafe) where a lock needs them. One lock per purpose: pipeline.txt and
# producer.txt are each complete on their own (they feed the images); run.txt (make run's .venv)
# is constrained by both so .venv runs exactly what ships; dev.txt (make test's .venv) by run.txt;
# bootstrap.txt pins uv, which scripts/venv.sh installs run.txt and dev.txt with. pip-compile keeps the pins already in a .txt: delete a
# line (or pass --upgrade-package NAME via PIP_COMPILE_ARGS) to move one.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/../requirements"
compile() {
  # shellcheck disable=SC2086 # PIP_COMPILE_ARGS is a list of words
  "../$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links \
    --strip-extras ${PIP_COMPILE_ARGS:-} --output-file "$1.txt" "$1.in"
}
for lock in pipeline producer run dev checkov mitmproxy bootstrap; do
  echo "==> requirements/$lock.txt"
  compile "$lock"
done
