"""Every documented rule of a BigQuery streaming insert, as a row validator.

The BigQuery emulator accepts what real BigQuery rejects: NULL in REQUIRED columns, values out
of range, partitions outside the streaming window, oversized rows. The pipeline builds rows valid
by construction and does not call this. `python -m replay` does: a `write` dead letter's row (as
kept, or as an operator corrected it) is checked here before it is inserted. The tests' strict
layer (tests/bigquery_rules.py) holds every row the pipeline builds to the same rules.

The rules, and where BigQuery documents them:
- GoogleSQL data types (cloud.google.com/bigquery/docs/reference/standard-sql/data-types):
  INT64 is 64-bit signed; DATE is 0001-01-01 to 9999-12-31, exactly Python's date range;
  TIMESTAMP is 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC, Python's datetime range
  once converted to UTC; FLOAT64 values in JSON rows must be finite numbers.
- JSON values ("Loading JSON data", cloud.google.com/bigquery/docs/loading-data-cloud-storage-json,
  and legacy SQL data types, cloud.google.com/bigquery/docs/data-types): DATE as YYYY-MM-DD,
  TIMESTAMP with a date, hh:mm:ss and a zone; BYTES base64-encoded.
- The partition window and the row size: `pipeline.tables`, whose limits the builder keeps.

Beam-free: the replay runs without Beam.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import contract
from pipeline.tables import (
    INT64_MAX,
    INT64_MIN,
    MAX_STREAMING_ROW_BYTES,
    fields,
    json_size,
    partition_error_of_day,
)
from pipeline.timestamps import parse_timestamp

# The canonical text form of DATE values in JSON rows.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: str) -> datetime.date:
    if not _DATE.fullmatch(value):
        raise ValueError(f"not a YYYY-MM-DD date: {value!r:.80}")
    return datetime.date.fromisoformat(value)


def _parse_bytes(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


_TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "DATE": parse_date,
    "TIMESTAMP": parse_timestamp,
    "BYTES": _parse_bytes,
}


def _is_valid(value: Any, kind: str) -> bool:
    if kind == "STRING":  # BigQuery and Beam's coders both need text UTF-8 can encode
        return isinstance(value, str) and contract.utf8_error(value) is None
    if kind in ("INTEGER", "INT64"):
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return is_int and INT64_MIN <= value <= INT64_MAX
    if kind in ("FLOAT", "FLOAT64"):
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return is_number and math.isfinite(value)
    if kind in ("BOOLEAN", "BOOL"):
        return isinstance(value, bool)
    if kind in _TEXT_PARSERS:
        try:
            _TEXT_PARSERS[kind](value)
        except (TypeError, ValueError, binascii.Error):
            return False
        return isinstance(value, str)
    raise ValueError(f"unsupported column type {kind}")


def _value_error(value: Any, field: Mapping[str, Any]) -> str | None:
    """Why `value` is not a valid insert_rows_json value for a non-null `field`, or None."""
    name, kind = field["name"], field["type"]
    if kind in ("RECORD", "STRUCT"):
        if not isinstance(value, Mapping):
            return f"{name}: expected an object, got {type(value).__name__}"
        errors = row_errors(value, field["fields"])
        return f"{name}: {'; '.join(errors)}" if errors else None
    return None if _is_valid(value, kind) else f"{name}: {value!r:.80} is not a valid {kind}"


def partition_error(
    row: Mapping[str, Any], table: Mapping[str, Any], now: datetime.datetime
) -> str | None:
    """Why BigQuery would refuse to stream `row` into its partition of `table`, or None."""
    column = table.get("timePartitioning", {}).get("field")
    value = row.get(column) if column else None
    if value is None:
        return None  # ingestion-time partitioning, or the __NULL__ partition
    kinds = {field["name"]: field["type"] for field in fields(table)}
    parse = parse_date if kinds[column] == "DATE" else parse_timestamp
    try:
        moment = parse(value)
    except (TypeError, ValueError):
        return None  # row_errors reports the value itself
    day = moment.astimezone(datetime.UTC).date() if kinds[column] != "DATE" else moment
    return partition_error_of_day(column, day, now)


def insert_errors(
    row: Mapping[str, Any], table: Mapping[str, Any], *, now: datetime.datetime | None = None
) -> list[str]:
    """Every reason a streaming insert of `row` into `table` would fail (empty: it would not).

    The schema (`row_errors`), the partition window and the row-size limit.
    """
    errors = row_errors(row, fields(table))
    if error := partition_error(row, table, now or datetime.datetime.now(datetime.UTC)):
        errors.append(error)
    if (size := json_size(row)) > MAX_STREAMING_ROW_BYTES:
        errors.append(f"row is {size} bytes as JSON; the limit is {MAX_STREAMING_ROW_BYTES}")
    return errors


def row_errors(row: Mapping[str, Any], schema_fields: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every way `row` differs from the columns and types of `schema_fields` (empty: valid).

    A valid row has exactly the schema's columns (None for a missing nullable value), in the
    JSON form `insert_rows_json` sends: DATE "YYYY-MM-DD", TIMESTAMP RFC 3339, BYTES base64.
    """
    names = {field["name"] for field in schema_fields}
    errors = [f"{name}: not a column" for name in row if name not in names]
    for field in schema_fields:
        name, mode = field["name"], field.get("mode", "NULLABLE")
        if name not in row:
            errors.append(f"{name}: missing")
        elif row[name] is None:
            if mode != "NULLABLE":
                errors.append(f"{name}: {mode} column is null")
        elif mode == "REPEATED" and not isinstance(row[name], list):
            errors.append(f"{name}: REPEATED column is not a list")
        else:
            values = row[name] if mode == "REPEATED" else [row[name]]
            errors.extend(error for value in values if (error := _value_error(value, field)))
    return errors
