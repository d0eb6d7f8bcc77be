"""replay/forget.py without BigQuery: the customer id it accepts, and how a statement BigQuery
refuses because of the streaming buffer is left to the scheduled query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core import exceptions

from replay import erasure, forget, tables

NAMES = tables.Tables("p.d.customers_dlq", "p.d.customers", "p.d.customers_dlq_replays", "p.d.er")


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
