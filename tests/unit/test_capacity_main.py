"""`python -m capacity`, the command `make capacity` runs: the table for RATE=100 and RATE=10000,
readable errors (`make capacity` itself: tests/e2e/test_make_capacity.py)."""

from __future__ import annotations

import pytest

from tests.support import run_python


@pytest.mark.parametrize("rate", ["100", "10000"])
def test_make_capacitys_command_prints_the_table(rate):
    result = run_python(
        "-m", "capacity", "--rate", rate, "--region", "europe-west1", "--message-bytes", "1000"
    )
    assert result.returncode == 0, result.stderr
    assert f"{int(rate):,} customers/s" in result.stdout
    assert "total, a month" in result.stdout
    assert "!! no Dataflow prices for europe-west1" in result.stdout


def test_without_benchmark_results_it_says_what_to_run(tmp_path):
    missing = tmp_path / "none.json"
    result = run_python("-m", "capacity", "--rate", "100", "--bench-results", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"python -m capacity: error: {missing} does not exist: run `make bench-pipeline` first"
    )


def test_a_rate_of_zero_is_refused_by_the_parser():
    result = run_python("-m", "capacity", "--rate", "0")
    assert result.returncode == 2
    assert "--rate and --message-bytes must be positive" in result.stderr
