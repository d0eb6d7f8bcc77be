#!/usr/bin/env bash
# `make test`: every tier in order, each in its own pytest run so a failing tier does not hide
# the others. Prints a per-tier table, the total wall time, and one closing "N passed, N failed" line.
# Exits non-zero if any test failed or errored, or if no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
results=.run/test-results
rm -rf "$results" && mkdir -p "$results"
tiers=(unit integration e2e container static cloud)
[ $# -gt 0 ] && tiers=("$@")

start=$(date +%s)
declare -A seconds codes
for tier in "${tiers[@]}"; do
  printf '\n==> %s tests\n' "$tier"
  t0=$(date +%s)
  "$venv/bin/python" -m pytest -m "$tier" --timeout=900 -p no:cacheprovider \
    --junitxml="$results/$tier.xml" -o junit_family=xunit2
  codes[$tier]=$?
  seconds[$tier]=$(( $(date +%s) - t0 ))
done
total=$(( $(date +%s) - start ))

"$venv/bin/python" - "$results" "$total" "${tiers[@]}" <<'PY'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

results, total, tiers = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
sums = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
print(f"\n{'tier':<12}{'tests':>7}{'failed':>8}{'errors':>8}{'skipped':>9}")
for tier in tiers:
    path = results / f"{tier}.xml"
    counts = dict.fromkeys(sums, 0)
    if path.exists():
        for suite in ET.parse(path).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    for key in sums:
        sums[key] += counts[key]
    print(f"{tier:<12}{counts['tests']:>7}{counts['failures']:>8}{counts['errors']:>8}{counts['skipped']:>9}")
passed = sums["tests"] - sums["failures"] - sums["errors"] - sums["skipped"]
print(f"\nmake test wall time: {total // 60}m{total % 60:02d}s")
line = f"{passed} passed, {sums['failures'] + sums['errors']} failed"
print(line + (f", {sums['skipped']} skipped" if sums["skipped"] else ""))
PY

status=0
for tier in "${tiers[@]}"; do
  case ${codes[$tier]} in
    0) ;;
    5) echo "error: the $tier tier collected no test (a test's tier is its folder: tests/$tier/)" >&2; status=1 ;;
    *) echo "error: the $tier tier failed (pytest exit ${codes[$tier]})" >&2; status=1 ;;
  esac
done
exit $status
