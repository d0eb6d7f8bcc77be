"""`make bench-run`'s growth figure reads each run's pace and compares the largest N's to the
smallest's. Timings are never asserted: this checks what is read and how it is compared."""

from __future__ import annotations

import pytest

from bench import run_growth
from localrun.summary import Pace, render_pace


def test_read_pace_finds_the_summary_line():
    lines = ["  rows:          3000\n", render_pace(Pace(first=180.2, last=175.0)) + "\n"]
    assert run_growth.read_pace(lines) == Pace(180, 175)
    assert run_growth.read_pace(["  rows:          500\n"]) is None


def test_the_table_gives_the_ratio_of_the_last_rows_against_the_target(capsys):
    paces = {3000: Pace(200, 190), 20000: Pace(210, 95)}
    assert run_growth.main(["--counts", "3000", "20000"], run=paces.__getitem__) == 0
    out = capsys.readouterr().out
    assert "last 1000 rows at N=20,000 / at N=3,000: 0.50 (below the target 0.90)" in out
    assert "first 1000 rows at N=20,000 / at N=3,000: 1.05" in out
    paces[20000] = Pace(200, 180)
    run_growth.main(["--counts", "3000", "20000"], run=paces.__getitem__)
    assert "at N=3,000: 0.95 (ok)" in capsys.readouterr().out


def test_counts_below_the_pace_are_refused(capsys):
    with pytest.raises(SystemExit):
        run_growth.main(["--counts", "500", "3000"], run=lambda n: Pace(1, 1))
    assert "must be >= 1000" in capsys.readouterr().err
