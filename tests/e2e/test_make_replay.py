"""replay/README.md's session, as a new user types it: `make run KEEP=1`, a dry-run
`make replay`, the payload corrected with `localrun.query`, `make replay ... --execute`, the
replayed customer in `customers`, `make stop`.
"""

from __future__ import annotations

import re
import sys
import time

import pytest

from tests.support import run

pytestmark = pytest.mark.timeout(300)

SELECT = "--stage validate --error registered.date"
FIX = (
    "UPDATE {customers_dlq} SET payloadString = REPLACE(payloadString, "
    "'\"last tuesday\"', '\"2026-11-24T10:00:00.000Z\"'), payload_state = 'corrected' "
    "WHERE STRPOS(errorMessage, 'last tuesday') > 0"
)


def _run(*args: str, timeout: float = 120) -> str:
    result = run(*args, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _make(*args: str, timeout: float = 120) -> str:
    # The interpreter running the tests is the venv the targets use.
    return _run("make", "--no-print-directory", f"VENV={sys.prefix}", *args, timeout=timeout)


def _query(sql: str) -> str:
    return _run(sys.executable, "-m", "localrun.query", sql)


def test_the_readme_replay_session(report):
    started = _make("run", "N=20", "KEEP=1", timeout=240)
    assert "dead letters:  8" in started, started
    assert "make replay ARGS='--stage validate'" in started
    try:
        dry = _make("replay", f"ARGS={SELECT}")
        assert re.search(r"selected 1 dead letter of 1 message .*stage validate", dry), dry
        assert re.search(r"to replay:\s+1 \(1 original\)$", dry, re.MULTILINE), dry
        assert "dry run: nothing published" in dry

        assert _query(FIX).strip().endswith("1 rows changed")
        done = _make("replay", f"ARGS={SELECT} --execute")
        assert "published 1/1 to projects/local-project/topics/customers" in done, done

        sql = "SELECT COUNT(*) AS n FROM {customers} WHERE replay_of IS NOT NULL"
        deadline = time.monotonic() + 60
        while _query(sql).split()[-1] != "1":
            assert time.monotonic() < deadline, "the replayed customer never became a row"
            time.sleep(1)
        totals = _query("SELECT COUNT(*) AS n, COUNT(DISTINCT customer_id) AS d FROM {customers}")
        assert totals.split()[-2:] == ["21", "21"]
        again = _make("replay", f"ARGS={SELECT} --execute")
        assert re.search(r"1\s+already replayed", again), again
    finally:
        stopped = _make("stop")
    assert "stopped the local stack" in stopped
    report("make replay: dry run, fix, execute, row with replay_of, second run re-sends nothing")
