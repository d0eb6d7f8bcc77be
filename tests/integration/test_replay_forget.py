"""replay/forget.py: `python -m replay forget` and complete_erasures.sql on the BigQuery
emulator; and, without BigQuery, the customer id it accepts and how a statement BigQuery refuses
because of the streaming buffer is left to the scheduled query.

The emulator has no streaming buffer; erasure applies BigQuery's documented rule by the time
each row was written (replay/erasure.py), so a row written now is "in the buffer" here too, and
the scheduled query's later run is the file's statements with a later @run_time, the one
parameter BigQuery's Data Transfer Service binds.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from localrun.resources import SHORT_RETRY, query
from pipeline import bigquery_client, dead_letters, rows
from pipeline.tables import (
    CUSTOMERS,
    CUSTOMERS_DLQ,
    CUSTOMERS_DLQ_REPLAYS,
    ERASURE_REQUESTS,
)
from replay import cli, erasure, forget, tables
from tests.support import FIXTURES, ROOT

USERS = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"]
ERASED, KEPT = USERS[0], USERS[1]
CUSTOMER, OTHER = ERASED["login"]["uuid"], KEPT["login"]["uuid"]
SCRIPT = ROOT / "replay" / "complete_erasures.sql"
NAMES = tables.Tables("p.d.customers_dlq", "p.d.customers", "p.d.customers_dlq_replays", "p.d.er")


def _insert(r, table: str, rows_: list[dict]) -> None:
    assert not r.bigquery.insert_rows_json(table, rows_, retry=SHORT_RETRY, timeout=10)


def _letter(message_id: str, written: datetime, payload: bytes, **attributes) -> dict:
    return dead_letters.dead_letter(
        stage="validate", error="registered.date is missing", payload=payload,
        attributes=attributes, message_id=message_id, now=written,
    )  # fmt: skip


def _replay(message_id: str, replay_message_id: str, written: datetime) -> dict:
    return {
        "message_id": message_id, "replay_message_id": replay_message_id,
        "replayed_at": written.isoformat(), "run_id": "run", "again": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0A58C609-827B-4991-929F-37A55C0DF094", "0a58c609-827b-4991-929f-37a55c0df094"),
        (" 0a58c609-827b-4991-929f-37a55c0df094\n", "0a58c609-827b-4991-929f-37a55c0df094"),
    ],
)
def test_a_customer_id_is_a_whole_uuid_in_lower_case(text, expected):
    assert forget.customer_id(text) == expected


@pytest.mark.parametrize("text", [None, "", "a", "0a58c609", "0a58c609-827b-4991-929f-37a55c0df0"])
def test_anything_shorter_would_match_other_payloads_and_is_refused(text):
    with pytest.raises(ValueError, match="must be a customer id"):
        forget.customer_id(text)


class Client:
    """Answers each query with the next outcome: an exception to raise, or rows."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.queries = []

    def query(self, sql, job_config=None, **_):
        self.queries.append((sql, job_config.query_parameters))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return Job()


class Job:
    num_dml_affected_rows = 0

    def result(self, timeout=None):
        return []


BUFFER = exceptions.BadRequest(
    "UPDATE or DELETE statement over table p.d.customers would affect rows in the streaming "
    "buffer, which is not supported"
)  # the message of https://cloud.google.com/knowledge/kb/cannot-update-or-delete-over-bigquery-streaming-tables-000004334


def test_a_statement_refused_for_the_streaming_buffer_leaves_the_others_to_run():
    bq = Client(None, BUFFER, None, None)
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert forget.complete(bq, NAMES, now) == []
    assert len(bq.queries) == 4, "every statement tried"
    for sql, parameters in bq.queries:
        assert ("$" not in sql and "FROM `p.d.er` AS e" in sql) or "UPDATE `p.d.er`" in sql
        assert [(p.name, p.value) for p in parameters] == [("run_time", now)]


def test_any_other_error_is_reported():
    bq = Client(exceptions.Forbidden("Access Denied: policy tag"), None, None, None)
    (error,) = forget.complete(bq, NAMES, datetime.now(UTC))
    assert error == "Forbidden: 403 Access Denied: policy tag"


def test_its_statements_are_the_shipped_file_s():
    shipped = erasure.scheduled_statements(NAMES.by_key())
    assert len(shipped) == 4
    assert shipped[-1].startswith("UPDATE `p.d.er` AS e\nSET status = 'done'")


@pytest.fixture
def stack(fresh_resources):
    """Rows of the customer to erase in every table, some written 3 hours ago (out of the
    streaming buffer), some just now (in it), and another customer's that must stay."""
    r, now = fresh_resources, datetime.now(UTC)
    old = now - timedelta(hours=3)
    envelope = json.dumps({"results": [KEPT, ERASED]}).encode()
    _insert(
        r,
        r.names.customers,
        [
            rows.to_customer_row(ERASED, rows.Lineage(message_id="m-1", ingested_at=old)),
            rows.to_customer_row(
                ERASED, rows.Lineage(message_id="m-2", replay_of="d-attr", ingested_at=now)
            ),
            rows.to_customer_row(KEPT, rows.Lineage(message_id="m-3", ingested_at=old)),
        ],
    )
    _insert(
        r,
        r.names.customers_dlq,
        [
            # theirs by the customer_id attribute, written in upper case
            _letter("d-attr", old, b'{"login": {}}', customer_id=CUSTOMER.upper()),
            # theirs by the payload only: an envelope with another user, no attribute
            _letter("d-envelope", old, envelope),
            # theirs by the message id of one of their rows only (a payload cut short)
            _letter("m-1", old, b'{"name": {"first": "'),
            # theirs, and just written: pending
            _letter("d-fresh", now, b"{}", customer_id=CUSTOMER),
            # someone else's
            _letter("d-other", old, json.dumps(KEPT).encode(), customer_id=OTHER),
        ],
    )
    bytes_only = _letter("d-bytes", old, json.dumps(ERASED).encode())
    bytes_only["payloadString"] = None  # left out for size: only payloadBytes hold the id
    # a row of theirs BigQuery refused, just now: a write dead letter (a replay inserts those)
    refused = rows.to_customer_row(ERASED, rows.Lineage(message_id="m-w", ingested_at=now))
    write = dead_letters.write_failure(("customers", refused, [{"reason": "invalid"}]), now=now)
    _insert(r, r.names.customers_dlq, [bytes_only, write])
    _insert(r, r.names.customers_dlq_replays, [
        _replay("d-attr", "m-2", old),  # the replay that wrote their row m-2
        _replay("d-fresh", "n-1", now),  # pending
        _replay("d-other", "n-2", old),
    ])  # fmt: skip
    return r


def _forget(r, capsys, *args: str) -> tuple[int, str, str]:
    code = forget.main([
        f"--dlq-table={r.names.beam_table(CUSTOMERS_DLQ)}",
        f"--output-table={r.names.beam_table(CUSTOMERS)}",
        f"--replays-table={r.names.beam_table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--erasures-table={r.names.beam_table(ERASURE_REQUESTS)}",
        f"--bigquery-endpoint={r.bigquery_endpoint}",
        *args,
    ])  # fmt: skip
    out, err = capsys.readouterr()
    return code, re.sub(" +", " ", out), err  # columns aligned by spaces, compared by words


def _ids(r, table: str, column: str) -> list[str]:
    return sorted(row[0] for row in query(r.bigquery, f"SELECT {column} FROM {{{table}}}", r.names))


def _requests(r) -> list[tuple]:
    sql = "SELECT status, customer_id, completed_at IS NULL FROM {erasure_requests}"
    return [tuple(row) for row in query(r.bigquery, sql, r.names)]


def test_a_dry_run_counts_every_row_of_the_customer_and_deletes_none(stack, capsys):
    code, out, err = _forget(stack, capsys, f"--customer={CUSTOMER}")
    assert (code, err) == (0, "")
    assert "the customer has 10 rows in 3 tables:" in out
    assert f" 2 {stack.names.customers} (1 in the streaming buffer)\n" in out
    assert f" 6 {stack.names.customers_dlq} (2 in the streaming buffer)\n" in out
    assert f" 2 {stack.names.customers_dlq_replays} (1 in the streaming buffer)\n" in out
    assert "dry run: nothing deleted; --execute would delete 6 now, leave 4" in out
    assert CUSTOMER not in out, "a customer id in the output"
    assert len(_ids(stack, "customers_dlq", "message_id")) == 7
    assert _requests(stack) == []


def test_execute_deletes_what_left_the_buffer_and_the_schedule_the_rest(stack, capsys):
    r = stack
    code, out, err = _forget(r, capsys, f"--customer={CUSTOMER.upper()}", "--execute")
    assert (code, err) == (0, "")
    assert " deleted pending\n" in out
    assert f" 1 1 {r.names.customers}\n" in out
    assert f" 4 2 {r.names.customers_dlq}\n" in out
    assert f" 1 1 {r.names.customers_dlq_replays}\n" in out
    assert "pending: 4 rows written less than 90 minutes ago" in out
    assert CUSTOMER not in out.lower()
    assert _ids(r, "customers", "message_id") == ["m-2", "m-3"]
    assert _ids(r, "customers_dlq", "message_id") == ["d-fresh", "d-other", "m-w"]
    assert _ids(r, "customers_dlq_replays", "message_id") == ["d-fresh", "d-other"]
    assert _requests(r) == [("pending", CUSTOMER, True)]

    # A replay never sends or inserts an erased customer's dead letter, even one forget could
    # not delete yet, whatever it is told.
    code = cli.main([
        f"--topic={r.names.topic_path}", f"--dlq-table={r.names.customers_dlq}",
        f"--bigquery-endpoint={r.bigquery_endpoint}", "--all", "--again", "--include-written",
        "--list",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^\s+2\s+customer erased \(make forget\): never re-published$", out, re.M)
    listed = out.split("customer erased (make forget): never re-published:\n")[1].split("\n")
    assert sorted(listed[:2]) == ["    d-fresh", "    m-w"], out

    # The scheduled query's next run, two hours later: the file Terraform schedules, as is.
    _run_script(r, datetime.now(UTC) + timedelta(hours=2))
    assert _ids(r, "customers", "message_id") == ["m-3"]
    assert _ids(r, "customers_dlq", "message_id") == ["d-other"]
    assert _ids(r, "customers_dlq_replays", "message_id") == ["d-other"]
    assert _requests(r) == [("done", CUSTOMER, False)]
    # A second run changes nothing.
    _run_script(r, datetime.now(UTC) + timedelta(hours=3))
    assert _requests(r) == [("done", CUSTOMER, False)]


def _run_script(r, run_time: datetime) -> None:
    tables = {
        "customers": r.names.customers,
        "customers_dlq": r.names.customers_dlq,
        "customers_dlq_replays": r.names.customers_dlq_replays,
        "erasure_requests": r.names.erasure_requests,
    }
    parameters = [bigquery.ScalarQueryParameter("run_time", "TIMESTAMP", run_time)]
    statements = erasure.statements(SCRIPT.read_text())
    assert len(statements) == 4
    for statement in statements:
        bigquery_client.run(r.bigquery, erasure.render(statement, tables), parameters)


def test_complete_runs_the_scheduled_step_now(stack, capsys):
    r = stack
    _forget(r, capsys, f"--customer={CUSTOMER}", "--execute")
    code, out, _ = _forget(r, capsys, "--complete")
    assert code == 0
    assert out.splitlines() == [
        f"1 pending request in {r.names.erasure_requests}",
        "dry run: nothing deleted; add --execute to complete them now",
    ]
    code, out, _ = _forget(r, capsys, "--complete", "--execute")
    assert code == 0
    assert "completed 0; still pending: 1" in out  # its last rows are still in the buffer


def test_a_customer_without_rows_is_recorded_done(fresh_resources, capsys):
    r = fresh_resources
    code, out, _ = _forget(r, capsys, f"--customer={OTHER}", "--execute")
    assert code == 0
    assert "the customer has 0 rows in 3 tables" in out
    assert "done: no row of the customer is left" in out
    assert _requests(r) == [("done", OTHER, False)]


@pytest.mark.parametrize("customer", ["a", "", "0a58c609", f"{CUSTOMER}x", "' OR TRUE --"])
def test_anything_but_a_whole_customer_id_is_refused(stack, capsys, customer):
    code, _, err = _forget(stack, capsys, f"--customer={customer}", "--execute")
    assert code == 2
    assert "--customer must be a customer id" in err
    assert len(_ids(stack, "customers_dlq", "message_id")) == 7
