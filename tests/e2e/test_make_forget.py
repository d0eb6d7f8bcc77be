"""docs/privacy.md's erasure session, as a user types it: `make run KEEP=1`, `make forget` of a
customer written long ago (erased at once) and of one written just now (still in the streaming
buffer: pending), the scheduled step completing it once the row is old enough, `make stop`.

The emulator has no streaming buffer and no clock to wait on: a row counts as in the buffer by
the time it was written (replay/erasure.py), so "two hours later" is the row's ingested_at set
back two hours with `localrun.query`, as an UPDATE on the emulator may.
"""

from __future__ import annotations

import re

import pytest
from e2e_support import local_query, make

pytestmark = pytest.mark.timeout(300)


def _query(sql: str) -> list[str]:
    """The rows `localrun.query` prints, header line left out."""
    return local_query(sql).splitlines()[1:]


def _age(customer: str, hours: int) -> None:
    sql = (
        f"UPDATE {{customers}} SET ingested_at = TIMESTAMP_SUB(ingested_at, INTERVAL {hours} HOUR) "
        f"WHERE customer_id = '{customer}'"
    )
    local_query(sql)


def _rows(customer: str) -> str:
    (count,) = _query(f"SELECT COUNT(*) AS n FROM {{customers}} WHERE customer_id = '{customer}'")
    return count


def test_the_erasure_session(report):
    make("run", "N=20", "KEEP=1", timeout=240)
    try:
        old, new = _query("SELECT customer_id FROM {customers} ORDER BY customer_id LIMIT 2")
        _age(old, 3)

        dry = make("forget", f"CUSTOMER={old}")
        assert "the customer has 1 row in 3 tables:" in dry, dry
        assert "dry run: nothing deleted; --execute would delete 1 now and record" in dry
        assert _rows(old) == "1"

        done = make("forget", f"CUSTOMER={old}", "ARGS=--execute")
        assert re.search(r"^\s+1\s+0\s+local-project\.customer_stream\.customers$", done, re.M)
        assert "done: no row of the customer is left" in done, done
        assert _rows(old) == "0"

        pending = make("forget", f"CUSTOMER={new}", "ARGS=--execute")
        assert re.search(r"^\s+0\s+1\s+local-project\.customer_stream\.customers$", pending, re.M)
        assert "pending: 1 row written less than 90 minutes ago" in pending, pending
        assert _rows(new) == "1"
        assert old not in pending + done + dry and new not in pending, "a customer id printed"

        still = make("forget", "ARGS=--complete --execute")
        assert "completed 0; still pending: 1" in still, still
        _age(new, 2)  # two hours later
        completed = make("forget", "ARGS=--complete --execute")
        assert "completed 1; still pending: 0" in completed, completed
        assert _rows(new) == "0"
        statuses = _query("SELECT status, COUNT(*) AS n FROM {erasure_requests} GROUP BY status")
        assert statuses == ["done\t2"]
    finally:
        stopped = make("stop")
    assert "stopped the local stack" in stopped
    report("make forget: an old row erased at once, a buffered one pending, then completed")
