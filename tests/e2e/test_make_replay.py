"""replay/README.md's session, as a new user types it: `make run KEEP=1`, a dry-run
`make replay`, the payload corrected with `localrun.query`, `make replay ... --execute`, the
replayed customer in `customers`, `make stop`.
"""

from __future__ import annotations

import re
import time

import pytest
from e2e_support import local_query, make

pytestmark = pytest.mark.timeout(300)

SELECT = "--stage validate --error registered.date"
FIX = (
    "UPDATE {customers_dlq} SET payloadString = REPLACE(payloadString, "
    "'\"last tuesday\"', '\"2026-11-24T10:00:00.000Z\"'), payload_state = 'corrected' "
    "WHERE STRPOS(errorMessage, 'last tuesday') > 0"
)


def test_the_readme_replay_session(report):
    started = make("run", "N=20", "KEEP=1", timeout=240)
    assert "dead letters:  8" in started, started
    assert "make replay ARGS='--stage validate'" in started
    try:
        dry = make("replay", f"ARGS={SELECT}")
        assert re.search(r"selected 1 dead letter of 1 message .*stage validate", dry), dry
        assert re.search(r"to replay:\s+1 \(1 original\)$", dry, re.MULTILINE), dry
        assert "dry run: nothing published" in dry

        assert local_query(FIX).strip().endswith("1 rows changed")
        done = make("replay", f"ARGS={SELECT} --execute")
        assert "published 1/1 to projects/local-project/topics/customers" in done, done

        sql = "SELECT COUNT(*) AS n FROM {customers} WHERE replay_of IS NOT NULL"
        deadline = time.monotonic() + 60
        while local_query(sql).split()[-1] != "1":
            assert time.monotonic() < deadline, "the replayed customer never became a row"
            time.sleep(1)
        totals = local_query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT customer_id) AS d FROM {customers}"
        )
        assert totals.split()[-2:] == ["21", "21"]
        again = make("replay", f"ARGS={SELECT} --execute")
        assert re.search(r"1\s+already replayed", again), again
    finally:
        stopped = make("stop")
    assert "stopped the local stack" in stopped
    report("make replay: dry run, fix, execute, row with replay_of, second run re-sends nothing")
