"""Helpers for the end-to-end tests: customers whose ids the test knows, rows per customer."""

from __future__ import annotations

import json
import sys
from collections import Counter

from contract import SCHEMA
from localrun.resources import query
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ
from producer.fake import FakeSource
from producer.publish_loop import Message, to_message
from tests import bigquery_rules
from tests.support import run


def fake_messages(count: int, seed: str) -> list[Message]:
    """`count` contract messages of fake customers, as the producer publishes them."""
    source = FakeSource(seed=seed)
    return [to_message(source.user(), source.name, SCHEMA) for _ in range(count)]


def customer_ids(resources) -> Counter:
    """How many rows each customer_id has in the customers table."""
    rows = query(resources.bigquery, "SELECT customer_id FROM {customers}", resources.names)
    return Counter(row[0] for row in rows)


def recorded_users(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def refused_by_bigquery(resources) -> list[str]:
    """Why real BigQuery would have refused rows read back from `customers` and `customers_dlq`
    (tests/bigquery_rules.py): the emulator stores rows BigQuery rejects. Empty: none."""
    refused = []
    for name, table in (
        (resources.names.customers, CUSTOMERS),
        (resources.names.customers_dlq, CUSTOMERS_DLQ),
    ):
        for row in resources.bigquery.list_rows(name):
            refused += [
                f"{name} {row.get('message_id')}: {error}"
                for error in bigquery_rules.stored_errors(row, table)
            ]
    return refused


def run_ok(*args: str, timeout: float = 120) -> str:
    """`args` run from the repository root; its stdout, once it exited 0."""
    result = run(*args, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def make(*args: str, timeout: float = 120) -> str:
    """`make ARGS...` as a user types it, with the venv running the tests as the targets' venv."""
    return run_ok("make", "--no-print-directory", f"VENV={sys.prefix}", *args, timeout=timeout)


def local_query(sql: str) -> str:
    """`python -m localrun.query SQL` against the stack `make run KEEP=1` left up."""
    return run_ok(sys.executable, "-m", "localrun.query", sql)
