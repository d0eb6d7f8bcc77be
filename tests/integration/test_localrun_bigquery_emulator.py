"""The emulator as the local stack runs it (`python -m localrun.bigquery_emulator`): no copies
no query can read, and BigQuery's answers to a schema change and to a field the table lacks.

BigQuery's rules are cited in localrun/bigquery_emulator.py; each test below fails on the stock
bqemulator 1.4 (HTTP 500 after a column is added; an unknown field silently dropped).
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from bqemulator.api.routes import tabledata, tables
from bqemulator.versioning.snapshots import SnapshotManager
from google.api_core import exceptions
from google.api_core import retry as retries
from google.cloud import bigquery

from localrun import bigquery_emulator
from pipeline import bigquery_client

NO_RETRY = retries.Retry(timeout=5)  # the stock emulator's HTTP 500 would be retried for 600 s
NULLABLE_NOTE = bigquery.SchemaField("note", "STRING")


class _Manager:
    """What the wrapper reads of a SnapshotManager: its retention."""

    def __init__(self, retention_days: int):
        self._retention_days = retention_days


@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(
        bigquery_emulator, "_capture", lambda self, *table, kind: calls.append((table, kind))
    )
    return calls


def test_no_copy_after_a_write_when_time_travel_is_off(captured):
    skip = bigquery_emulator.capture_unless_time_travel_is_off
    assert skip(_Manager(0), "p", "d", "t") is None
    assert skip(_Manager(0), "p", "d", "t", kind="AUTO") is None
    assert captured == []


@pytest.mark.parametrize(("retention", "kind"), [(7, "AUTO"), (0, "USER"), (7, "USER")])
def test_time_travel_and_user_snapshots_are_still_captured(captured, retention, kind):
    bigquery_emulator.capture_unless_time_travel_is_off(
        _Manager(retention), "p", "d", "t", kind=kind
    )
    assert captured == [(("p", "d", "t"), kind)]


def test_install_replaces_the_capture_and_three_routes_in_place(monkeypatch):
    monkeypatch.setattr(SnapshotManager, "capture", SnapshotManager.capture)
    for router in (tables.router, tabledata.router):
        monkeypatch.setattr(router, "routes", list(router.routes))
    before = [
        (r.path, sorted(r.methods)) for r in [*tables.router.routes, *tabledata.router.routes]
    ]
    bigquery_emulator.install()
    assert SnapshotManager.capture is bigquery_emulator.capture_unless_time_travel_is_off
    after = {r.name: r for r in [*tables.router.routes, *tabledata.router.routes]}
    assert [(r.path, sorted(r.methods)) for r in after.values()] == before, "same paths, same order"
    for name, wrap in [
        ("patch_table", "keeping_rows"),
        ("update_table", "keeping_rows"),
        ("insert_all", "refusing_unknown_fields"),
    ]:
        assert after[name].endpoint.__qualname__ == f"{wrap}.<locals>.endpoint"


@pytest.fixture
def table(bigquery_emulator) -> tuple[bigquery.Client, bigquery.Table]:
    """A table of two columns holding two rows, in a dataset of this test's own."""
    client = bigquery_client.client(bigquery_emulator.project, bigquery_emulator.endpoint)
    dataset = client.create_dataset(f"evolve_{uuid.uuid4().hex[:10]}")
    schema = [
        bigquery.SchemaField("customer_id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("age", "INTEGER"),
    ]
    created = client.create_table(bigquery.Table(dataset.table("customers"), schema=schema))
    rows = [{"customer_id": "a", "age": 30}, {"customer_id": "b", "age": None}]
    assert client.insert_rows_json(created, rows, retry=NO_RETRY) == []
    return client, created


def _rows(client: bigquery.Client, table: bigquery.Table) -> list[tuple]:
    return sorted(tuple(row.values()) for row in client.list_rows(table.reference))


def _with_schema(client, table, schema) -> bigquery.Table:
    table.schema = schema
    return client.update_table(table, ["schema"])


def test_a_nullable_column_added_in_place_keeps_the_rows_and_takes_values(table):
    client, customers = table
    customers = _with_schema(client, customers, [*customers.schema, NULLABLE_NOTE])
    assert [f.name for f in client.get_table(customers).schema] == ["customer_id", "age", "note"]
    new_rows = [{"customer_id": "c", "age": 41, "note": "filled"}, {"customer_id": "d"}]
    assert client.insert_rows_json(customers, new_rows, retry=NO_RETRY) == []
    assert _rows(client, customers) == [
        ("a", 30, None),
        ("b", None, None),
        ("c", 41, "filled"),
        ("d", None, None),
    ]


def test_tables_update_adds_the_column_too(table, bigquery_emulator):
    """tables.update (PUT, the whole resource) as well as tables.patch: clients use either."""
    client, customers = table
    resource = client.get_table(customers).to_api_repr()
    resource["schema"]["fields"].append(NULLABLE_NOTE.to_api_repr())
    url = (
        f"{bigquery_emulator.endpoint}/bigquery/v2/projects/{customers.project}"
        f"/datasets/{customers.dataset_id}/tables/customers"
    )
    put = urllib.request.Request(url, data=json.dumps(resource).encode(), method="PUT")
    put.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(put, timeout=10) as answer:
        assert answer.status == 200
    assert (
        client.insert_rows_json(customers, [{"customer_id": "c", "note": "n"}], retry=NO_RETRY)
        == []
    )
    assert ("c", None, "n") in _rows(client, customers)


def test_a_column_given_in_the_middle_lands_at_the_end(table):
    """BigQuery adds columns at the end only; the stored order is the schema's."""
    client, customers = table
    id_column, age = customers.schema
    customers = _with_schema(client, customers, [id_column, NULLABLE_NOTE, age])
    assert [f.name for f in client.get_table(customers).schema] == ["customer_id", "age", "note"]
    new_row = {"customer_id": "c", "age": 5, "note": "n"}
    assert client.insert_rows_json(customers, [new_row], retry=NO_RETRY) == []
    assert ("c", 5, "n") in _rows(client, customers)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda s: s[:1], "Field age is missing in new schema"),
        (
            lambda s: [s[0], bigquery.SchemaField("age", "STRING")],
            "Field age has changed type from INTEGER to STRING",
        ),
        (
            lambda s: [s[0], bigquery.SchemaField("age", "INTEGER", mode="REQUIRED")],
            "Field age has changed mode from NULLABLE to REQUIRED",
        ),
        (
            lambda s: [*s, bigquery.SchemaField("note", "STRING", mode="REQUIRED")],
            "Cannot add required fields to an existing schema. (field: note)",
        ),
    ],
    ids=["dropped", "retyped", "made-required", "required-added"],
)
def test_what_bigquery_cannot_change_in_place_is_refused(table, change, error):
    client, customers = table
    with pytest.raises(
        exceptions.BadRequest, match="Provided Schema does not match Table"
    ) as raised:
        _with_schema(client, customers, change(list(customers.schema)))
    assert error in str(raised.value)
    assert [f.name for f in client.get_table(customers).schema] == ["customer_id", "age"]
    assert _rows(client, customers) == [("a", 30), ("b", None)]


def test_int64_for_integer_and_a_relaxed_mode_are_the_same_table(table):
    client, customers = table
    same = [bigquery.SchemaField("customer_id", "STRING"), bigquery.SchemaField("age", "INT64")]
    _with_schema(client, customers, same)
    assert client.get_table(customers).schema[0].mode == "NULLABLE"


def _error(index: int, reason: str, location: str = "", message: str = "") -> dict:
    errors = [{"reason": reason, "location": location, "debugInfo": "", "message": message}]
    return {"index": index, "errors": errors}


def test_a_field_the_table_lacks_is_that_row_s_error(table):
    """As Beam's sink sends them (skipInvalidRows): the other rows are inserted."""
    client, customers = table
    rows = [{"customer_id": "c", "note": "x"}, {"customer_id": "d", "age": 7}]
    errors = client.insert_rows_json(customers, rows, skip_invalid_rows=True, retry=NO_RETRY)
    assert errors == [_error(0, "invalid", "note", "no such field: note.")]
    assert _rows(client, customers) == [("a", 30), ("b", None), ("d", 7)]


def test_without_skip_invalid_rows_no_row_of_the_request_is_inserted(table):
    client, customers = table
    rows = [{"customer_id": "c"}, {"customer_id": "d", "note": "x"}]
    errors = client.insert_rows_json(customers, rows, retry=NO_RETRY)
    assert errors == [_error(0, "stopped"), _error(1, "invalid", "note", "no such field: note.")]
    assert _rows(client, customers) == [("a", 30), ("b", None)]


def test_ignore_unknown_values_drops_the_field_and_keeps_the_row(table):
    client, customers = table
    rows = [{"customer_id": "c", "note": "x"}]
    inserted = client.insert_rows_json(customers, rows, ignore_unknown_values=True, retry=NO_RETRY)
    assert inserted == []
    assert ("c", None) in _rows(client, customers)
