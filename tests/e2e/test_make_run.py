"""What `make run` does: `python -m localrun` as a subprocess, its summary, nothing left running."""

from __future__ import annotations

import re

import pytest

from tests.support import run, run_python

pytestmark = pytest.mark.timeout(240)


def test_make_run_prints_a_summary_and_stops_everything(tmp_path):
    result = run_python("-m", "localrun", "--count", "50", "--bad", "8", timeout=200)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"rows:\s+50 \(50 distinct customers\)", out), out
    assert re.search(r"dead letters:\s+8 \(parse \d+, validate \d+\)", out), out
    assert re.search(r"latency:\s+p50 [\d.]+s, p95 [\d.]+s", out), out
    # It ends with the view dead_letters_last_day (views/*.sql): every dead letter in one class.
    assert "by error class (view dead_letters_last_day):" in out, out
    classes = re.findall(r"^ +(\d+)  (parse|validate|write) +(\S.*)$", out, re.MULTILINE)
    assert sum(int(n) for n, _, _ in classes) == 8, out
    assert ("2", "validate", "login.uuid is missing") in classes, out
    assert "no port left bound" in out, out
    ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", out)}
    assert len(ports) == 2
    for port in ports:
        assert run("ss", "-ltnH", f"sport = :{port}").stdout.strip() == "", f"{port} bound"
    # No emulator, pipeline or producer of this run survives (their argv name the ports).
    pattern = "|".join(f"127.0.0.1:{p}|-port={p}" for p in ports)
    assert run("pgrep", "-af", pattern).stdout.strip() == ""


def test_bad_arguments_fail_with_one_readable_line():
    result = run_python("-m", "localrun", "--source", "file")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "python -m localrun: error: --source file needs --input FILE"
    ]
