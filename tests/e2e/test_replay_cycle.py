"""The replay cycle on the real emulators: bad messages -> dead letters -> the cause fixed in
the table -> `python -m replay` -> rows, each customer exactly once and each replay recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from e2e_support import customer_ids, fake_messages

from contract import ATTR_REPLAY_OF
from localrun.resources import query
from localrun.stack import Counts, child_env, counts, publish, start_pipeline, wait_for
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS
from tests.support import run_python

pytestmark = pytest.mark.timeout(300)

GOOD, BAD = 20, 6
BROKEN_DATE, FIXED_DATE = "last tuesday", "2026-11-24T10:00:00.000Z"
# What an operator runs once the cause is known: correct the text, mark it corrected.
FIX = f"""
UPDATE {{customers_dlq}}
SET payloadString = REPLACE(payloadString, '"{BROKEN_DATE}"', '"{FIXED_DATE}"'),
    payload_state = 'corrected'
WHERE stage = 'validate' AND STRPOS(errorMessage, 'registered.date') > 0
  AND payload_state = 'original'
"""


def _spoiled(message, *, password: str | None = None):
    user = json.loads(message.data)
    user["registered"]["date"] = BROKEN_DATE
    if password:  # a producer that failed to strip credentials
        user["login"]["password"] = password
    return replace(message, data=json.dumps(user).encode())


def _replay(r, *args: str) -> str:
    """`python -m replay` as an operator runs it; its output."""
    argv = [
        "-m", "replay",
        f"--topic={r.names.topic_path}",
        f"--dlq-table={r.names.beam_table(CUSTOMERS_DLQ)}",
        f"--output-table={r.names.beam_table(CUSTOMERS)}",
        f"--replays-table={r.names.beam_table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--bigquery-endpoint={r.bigquery_endpoint}",
        "--stage=validate", "--error=registered.date", *args,
    ]  # fmt: skip
    result = run_python(*argv, env=child_env(r.pubsub_address))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _line(out: str, label: str) -> int:
    match = re.search(rf"^\s*(\d+)\s+{label}|^\s*{label}:\s+(\d+)\b", out, re.MULTILINE)
    assert match, f"no {label!r} in:\n{out}"
    return int(match.group(1) or match.group(2))


def test_fixed_dead_letters_are_replayed_once_into_rows(fresh_resources, tmp_path, report):
    r = fresh_resources
    good = fake_messages(GOOD, seed="replay-good")
    bad = [_spoiled(m) for m in fake_messages(BAD, seed="replay-bad")]
    redacted = _spoiled(fake_messages(1, seed="replay-secret")[0], password="hunter2")
    pipeline = start_pipeline(r.names, r.pubsub_address, r.bigquery_endpoint, tmp_path)
    try:
        publish(r.names.topic_path, [*good, *bad, redacted])
        wait_for(r.bigquery, r.names, Counts(GOOD, BAD + 1), 180, watch=[pipeline])

        dry = _replay(r)
        assert f"selected {BAD + 1} dead letters of {BAD + 1} messages" in dry
        assert (_line(dry, "to replay"), _line(dry, "redacted payload")) == (BAD, 1)
        assert "dry run: nothing published" in dry
        assert counts(r.bigquery, r.names) == Counts(GOOD, BAD + 1)

        query(r.bigquery, FIX, r.names)
        done = _replay(r, "--execute")
        assert f"published {BAD}/{BAD}" in done, done
        wait_for(r.bigquery, r.names, Counts(GOOD + BAD, BAD + 1), 120, watch=[pipeline])

        again = _replay(r, "--execute")
        assert (_line(again, "to replay"), _line(again, "already replayed")) == (0, BAD)
        assert "nothing to replay" in again
        forced = _replay(r, "--again")
        assert (_line(forced, "to replay"), _line(forced, "already rows in customers")) == (0, BAD)
        settled = counts(r.bigquery, r.names)
        assert pipeline.running(), pipeline.log_tail()
    finally:
        pipeline.stop()

    # Each customer exactly once, no new dead letter: the fix worked and nothing was re-sent.
    assert settled == Counts(GOOD + BAD, BAD + 1)
    per_customer = customer_ids(r)
    assert set(per_customer.values()) == {1}
    assert set(per_customer) == {m.customer_id for m in [*good, *bad]}
    # Lineage: each replayed row names the dead letter it came from, and the replay is recorded.
    dead = dict(query(r.bigquery, "SELECT message_id, payload_state FROM {customers_dlq}", r.names))
    lineage = query(
        r.bigquery,
        f"SELECT c.customer_id, c.replay_of, c.registered_at, p.replay_message_id, c.message_id "
        f"FROM {{customers}} c JOIN {{customers_dlq_replays}} p ON p.message_id = c.replay_of "
        f"WHERE c.{ATTR_REPLAY_OF} IS NOT NULL",
        r.names,
    )
    assert {row[0] for row in lineage} == {m.customer_id for m in bad}
    assert {row[1] for row in lineage} == {i for i, state in dead.items() if state == "corrected"}
    assert all(row[2].isoformat().startswith("2026-11-24T10:00:00") for row in lineage)
    assert all(row[3] == row[4] for row in lineage)  # the replay's message id made the row
    (recorded,) = query(
        r.bigquery, "SELECT COUNT(*), COUNT(DISTINCT run_id) FROM {customers_dlq_replays}", r.names
    )
    assert tuple(recorded) == (BAD, 1)
    report(f"replay: {BAD} fixed dead letters -> {BAD} rows, 1 redacted reported, 0 re-sent")
