"""`make bench-run`'s growth figure: the local stack's pace at N=3,000 and at N=20,000, in one run.

Each N is one `python -m localrun --count N` (a fresh stack, customers published at once), whose
summary prints its pace: rows/s over the first and over the last 1,000 rows, by the time each
row was built (localrun/summary.py). A cost per row that grows with the customers seen before
shows as the larger run's last-1,000 pace falling below the smaller run's. Target: the ratio
stays >= 0.90 (localrun/README.md). The load average is printed with each run: on a shared
machine, compare ratios of one run, never numbers across runs.

Usage (from the repository root): python -m bench.run_growth [--counts 3000 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Iterable

from localrun.summary import PACE_LINE, PACE_ROWS, Pace

TARGET = 0.90


def read_pace(lines: Iterable[str]) -> Pace | None:
    """The pace a `python -m localrun` run printed, or None."""
    for line in lines:
        match = PACE_LINE.search(line)
        if match:
            return Pace(float(match.group(2)), float(match.group(3)))
    return None


def run_localrun(count: int) -> Pace:
    """One local run of `count` customers at once, its output passed through as it comes."""
    argv = [sys.executable, "-m", "localrun", f"--count={count}", "--rate=0"]
    lines = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as run:
        for line in run.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    pace = read_pace(lines)
    if run.returncode != 0 or pace is None:
        sys.exit(f"bench.run_growth: `{' '.join(argv[1:])}` failed (exit {run.returncode})")
    return pace


def growth_table(paces: dict[int, Pace], loads: dict[int, str]) -> str:
    """One row per N, then the largest N's paces as ratios to the smallest N's."""
    lines = [
        f"{'N':>7}  {f'first {PACE_ROWS} rows/s':>18}  {f'last {PACE_ROWS} rows/s':>17}  load avg",
        *(
            f"{n:>7,}  {pace.first:>18.0f}  {pace.last:>17.0f}  {loads[n]}"
            for n, pace in sorted(paces.items())
        ),
    ]
    small, large = min(paces), max(paces)
    if small != large:
        last = paces[large].last / paces[small].last
        first = paces[large].first / paces[small].first
        verdict = "ok" if last >= TARGET else f"below the target {TARGET:.2f}"
        lines += [
            f"last {PACE_ROWS} rows at N={large:,} / at N={small:,}: {last:.2f} ({verdict})",
            f"first {PACE_ROWS} rows at N={large:,} / at N={small:,}: {first:.2f}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, run: Callable[[int], Pace] = run_localrun) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_growth", description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[3000, 20000])
    args = parser.parse_args(argv)
    if min(args.counts) < PACE_ROWS:
        parser.error(f"every count must be >= {PACE_ROWS}: the pace needs {PACE_ROWS} rows")
    paces, loads = {}, {}
    for count in args.counts:
        before = os.getloadavg()[0]
        paces[count] = run(count)
        loads[count] = f"{before:.1f} -> {os.getloadavg()[0]:.1f}"
    print(growth_table(paces, loads), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
