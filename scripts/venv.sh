#!/usr/bin/env bash
# Create or update the project virtualenv from one hashed lock; idempotent, shows progress.
#   scripts/venv.sh PYTHON VENV run   requirements/run.txt: what `make run` needs (make venv)
#   scripts/venv.sh PYTHON VENV dev   requirements/dev.txt: run.txt plus the test and lint tools
# uv installs the lock (several times faster than pip: localrun/README.md, "A fresh clone");
# uv itself comes from requirements/bootstrap.txt through pip. Every package, pip and setuptools
# included, must match a sha256 of its lock; the locks are complete, so --no-deps. The project
# itself is built with the locked setuptools (no isolated build environment fetched unpinned).
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
lock=requirements/${3:-run}.txt
cd "$(dirname "$0")/.."

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 is required ($python is $("$python" --version 2>&1 || echo missing)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -f "$lock" ]; then
  echo "error: no lock file $lock (give run or dev)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating virtualenv $venv"
  "$python" -m venv "$venv"
fi
if ! cmp -s requirements/bootstrap.txt "$venv/.bootstrap.txt" || [ ! -x "$venv/bin/uv" ]; then
  echo "==> installing uv into $venv (requirements/bootstrap.txt)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/bootstrap.txt
  cp requirements/bootstrap.txt "$venv/.bootstrap.txt"
fi
# uv reads neither pip.conf nor PIP_CERT: behind a TLS-intercepting proxy it takes the CA bundle
# from SSL_CERT_FILE, set here from PIP_CERT or the system bundle when not set already.
for ca in "${SSL_CERT_FILE:-}" "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$ca" ] && [ -f "$ca" ]; then export SSL_CERT_FILE="$ca"; break; fi
done
echo "==> installing locked dependencies into $venv ($lock)"
uv=("$venv/bin/uv" pip)
"${uv[@]}" install --python "$venv/bin/python" --require-hashes --no-deps -r "$lock"
"${uv[@]}" install --python "$venv/bin/python" --quiet --no-deps --no-build-isolation -e .
echo "==> $venv is ready ($lock)"
