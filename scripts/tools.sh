#!/usr/bin/env bash
# The static tier's tools, in .tools/ (idempotent: each part is redone only when its inputs changed):
# - checkov, in its own virtualenv .tools/checkov: it clashes with python-hcl2 over the `hcl2`
#   module and downgrades Beam's dependencies, so it cannot share .venv.
# - the Terraform providers' schemas (Google's, hashicorp/time), .tools/terraform-schema: the
#   wheels pinned with hashes in requirements/terraform-schema.txt (never installed: only the
#   jsii assembly inside is read)
#   and the compact index tests/static/terraform_schema.py makes of them for the static test.
# - mitmproxy, in its own virtualenv .tools/mitmproxy: the fault-injecting proxy of the fault
#   matrix (tests/faults/). Its pins (cryptography, h2, pyOpenSSL, ...) must not move Beam's.
set -euo pipefail
python=${1:-python3}
tools=${2:-.tools}
cd "$(dirname "$0")/.."

# A stamp file named after the hash of every input: a changed input means a reinstall.
stamp() { echo "$1/.installed-$(cat "${@:2}" | sha256sum | cut -c1-16)"; }

lock=requirements/checkov.txt
checkov="$tools/checkov"
done=$(stamp "$checkov" "$lock")
if [ ! -x "$checkov/bin/checkov" ] || [ ! -f "$done" ]; then
  echo "==> installing checkov into $checkov (from $lock; first time takes a minute)"
  rm -rf "$checkov"
  "$python" -m venv "$checkov"
  "$checkov/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$lock"
  touch "$done"
  echo "==> $("$checkov/bin/checkov" --version 2>/dev/null | sed 's/^/checkov /') ready in $checkov"
fi

lock=requirements/terraform-schema.txt
indexer=tests/static/terraform_schema.py
schemas="$tools/terraform-schema"
done=$(stamp "$schemas" "$lock" "$indexer")
if [ ! -f "$done" ]; then
  echo "==> fetching the Terraform provider schemas into $schemas (from $lock; ~100 MB)"
  rm -rf "$schemas"
  # checkov's pip: the Python given may have none of its own. --require-hashes checks the pins.
  "$checkov/bin/python" -m pip download --no-deps --require-hashes --only-binary=:all: \
    --progress-bar on --disable-pip-version-check -r "$lock" -d "$schemas"
  echo "==> indexing them (reads ~200 MB of JSON: about 30 s)"
  "$python" "$indexer" index "$schemas"/*.whl --out "$schemas"
  touch "$done"
fi

lock=requirements/mitmproxy.txt
mitmproxy="$tools/mitmproxy"
done=$(stamp "$mitmproxy" "$lock")
if [ ! -x "$mitmproxy/bin/mitmdump" ] || [ ! -f "$done" ]; then
  echo "==> installing mitmproxy into $mitmproxy (from $lock)"
  rm -rf "$mitmproxy"
  "$python" -m venv "$mitmproxy"
  "$mitmproxy/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$lock"
  touch "$done"
  echo "==> $("$mitmproxy/bin/mitmdump" --version 2>/dev/null | head -1) ready in $mitmproxy"
fi
