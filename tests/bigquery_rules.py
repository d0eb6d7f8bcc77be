"""The strict layer: the tests hold what the pipeline writes to BigQuery's documented rules.

The BigQuery emulator accepts what real BigQuery rejects, and the pipeline builds rows valid by
construction without checking them. So the tests hold to the rules of `pipeline.insert_rules`
every row the pipeline builds (`row_errors`, `insert_errors`), every row its sinks are given (the
fake BigQuery client of the unit tests), and every row the end-to-end tests read back from the
emulator (`stored_errors`).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from typing import Any

from pipeline import tables
from pipeline.insert_rules import insert_errors, row_errors

__all__ = ["PYTHON_TYPES", "assert_fits", "insert_errors", "row_errors", "stored_errors"]


def _insert_form(value: Any) -> Any:
    """A value read back through the client library (datetime, date, bytes, records) in the
    JSON form `insert_rows_json` sends."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_insert_form(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _insert_form(item) for key, item in value.items()}
    return value


def stored_errors(
    row: Mapping[str, Any], table: Mapping[str, Any], *, now: datetime.datetime | None = None
) -> list[str]:
    """`insert_errors` of a row read back from a table (a `google.cloud.bigquery.Row` or a
    mapping of column to value): what real BigQuery would have refused to store."""
    return insert_errors({key: _insert_form(value) for key, value in row.items()}, table, now=now)


# The Python types a JSON-form row may hold per BigQuery type (None aside).
PYTHON_TYPES = {
    "STRING": str,
    "INTEGER": int,
    "FLOAT": float,
    "DATE": str,
    "TIMESTAMP": str,
    "BYTES": str,
    "RECORD": list,
}


def assert_fits(row: dict, table: dict) -> None:
    """`row` has exactly the table's columns, in order, each set and of its column's type."""
    fields = tables.fields(table)
    assert list(row) == [field["name"] for field in fields]
    for field in fields:
        value = row[field["name"]]
        assert value is not None, f"{field['name']} is empty"
        assert type(value) is PYTHON_TYPES[field["type"]], field["name"]
    assert row_errors(row, fields) == []
