"""The BigQuery tables, read from `pipeline/schemas/*.json`: the one place their columns live.

Terraform, the local stack and the tests read the same files. Rows are checked against them,
and against every documented rule of a streaming insert, before the write: the BigQuery
emulator accepts what real BigQuery rejects (NULL in REQUIRED columns, out-of-range values,
partitions outside the streaming window, oversized rows). Beam-free, so the row builder can be
used without a Beam install.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

# GoogleSQL data types (cloud.google.com/bigquery/docs/reference/standard-sql/data-types):
# INT64 is 64-bit signed; DATE is 0001-01-01 to 9999-12-31, exactly Python's date range;
# TIMESTAMP is 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC, Python's datetime range
# once converted to UTC; FLOAT64 values in JSON rows must be finite numbers.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Streaming inserts into a time-partitioned table accept a partitioning value at most 10 years
# in the past and 1 year in the future: "Use the legacy streaming API", section "Streaming into
# partitioned tables" (cloud.google.com/bigquery/docs/streaming-data-into-bigquery), and the
# same window for the Storage Write API (cloud.google.com/bigquery/docs/write-api, "Stream
# into partitions").
PARTITION_YEARS_PAST, PARTITION_YEARS_FUTURE = 10, 1
# Quotas for tabledata.insertAll (cloud.google.com/bigquery/quotas#streaming_inserts): maximum
# row size 10 MB, HTTP request size 10 MB. Beam's sink itself refuses a row whose in-memory size
# reaches 9 MiB (apache_beam/io/gcp/bigquery.py, MAX_INSERT_PAYLOAD_SIZE, `_check_row_size`).
# A row is measured as the JSON the client sends (never smaller than its in-memory size but for
# a few bytes per value); 9 MB keeps it under both limits.
MAX_STREAMING_ROW_BYTES = 9_000_000
# The canonical text forms BigQuery documents for DATE and TIMESTAMP values in JSON rows.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
# The form `format_timestamp` prints, in which the tables store every TIMESTAMP.
_UTC_MILLISECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


def load_table(name: str) -> dict[str, Any]:
    """The BigQuery Table resource (schema, partitioning, clustering) of `schemas/<name>.json`."""
    text = resources.files("pipeline").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


CUSTOMERS = load_table("customers")
CUSTOMERS_DLQ = load_table("customers_dlq")
CUSTOMERS_DLQ_REPLAYS = load_table("customers_dlq_replays")
ERASURE_REQUESTS = load_table("erasure_requests")
TABLES = (CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS, ERASURE_REQUESTS)

# customers_dlq.stage: where a message failed.
STAGES = ("parse", "validate", "write")

# customers_dlq.payload_state: what a dead letter's payloadBytes hold. Only the message's exact
# bytes, or a payloadString an operator corrected in the table, are re-published by replay.
PAYLOAD_ORIGINAL = "original"
PAYLOAD_REDACTED = "redacted"
PAYLOAD_TRUNCATED = "truncated"
PAYLOAD_ROW = "row"
PAYLOAD_CORRECTED = "corrected"
PAYLOAD_STATES = (
    PAYLOAD_ORIGINAL,
    PAYLOAD_REDACTED,
    PAYLOAD_TRUNCATED,
    PAYLOAD_ROW,
    PAYLOAD_CORRECTED,
)
REPLAYABLE_PAYLOADS = (PAYLOAD_ORIGINAL, PAYLOAD_CORRECTED)


def fields(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    return table["schema"]["fields"]


def column_names(table: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(field["name"] for field in fields(table))


def bigquery_schema(table: Mapping[str, Any]) -> dict[str, Any]:
    """The schema in the dict form `WriteToBigQuery(schema=...)` accepts."""
    return {"fields": fields(table)}


def table_options(table: Mapping[str, Any]) -> dict[str, Any]:
    """Partitioning and clustering, for `WriteToBigQuery(additional_bq_parameters=...)`."""
    return {key: table[key] for key in ("timePartitioning", "clustering") if key in table}


def parse_date(value: str) -> datetime.date:
    if not _DATE.fullmatch(value):
        raise ValueError(f"not a YYYY-MM-DD date: {value!r:.80}")
    return datetime.date.fromisoformat(value)


def parse_timestamp(value: str) -> datetime.datetime:
    """An RFC 3339 timestamp with a time zone (what BigQuery accepts), as an aware datetime.

    Raises ValueError outside BigQuery's TIMESTAMP range, which is Python's in UTC.
    """
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"not an RFC 3339 timestamp with a time zone: {value!r:.80}")
    moment = datetime.datetime.fromisoformat(value)
    try:
        moment.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError(f"outside 0001-01-01 to 9999-12-31 UTC: {value!r:.80}") from None
    return moment


def utc_timestamp(value: str) -> str:
    """RFC 3339 text with a time zone as the TIMESTAMP text the tables store (UTC, milliseconds).

    Text already in that form, as the API sends it, is only checked (a day or time that does
    not exist raises), which costs a third of parsing and printing it again.
    """
    if _UTC_MILLISECONDS.fullmatch(value):
        datetime.datetime.fromisoformat(value)
        return value
    return format_timestamp(parse_timestamp(value))


def format_timestamp(moment: datetime.datetime) -> str:
    """An aware datetime as the RFC 3339 UTC text (milliseconds) the tables store."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: a time zone is required")
    # What contract.to_rfc3339(moment.isoformat()) gives, without printing and parsing again.
    # Formatted by hand: isoformat(timespec=...) takes twice as long, and every row has two.
    utc = moment.astimezone(datetime.UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond // 1000,
    )


def lineage_time(value: Any) -> str | None:
    """A Pub/Sub publish time as TIMESTAMP text: it arrives as a datetime, a Beam Timestamp
    (anything with `to_utc_datetime`) or RFC 3339 text."""
    if value is None:
        return None
    if hasattr(value, "to_utc_datetime"):
        value = value.to_utc_datetime(has_tz=True)
    if isinstance(value, str):
        value = parse_timestamp(value)
    return format_timestamp(value)


def _parse_bytes(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


_TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "DATE": parse_date,
    "TIMESTAMP": parse_timestamp,
    "BYTES": _parse_bytes,
}


def encodes_as_utf8(value: str) -> bool:
    """False for text holding a lone UTF-16 surrogate, which JSON can express ("\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_valid(value: Any, kind: str) -> bool:
    if kind == "STRING":  # BigQuery and Beam's coders both need text UTF-8 can encode
        return isinstance(value, str) and (value.isascii() or encodes_as_utf8(value))
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


def json_size(row: Mapping[str, Any]) -> int:
    """The row's size as google-cloud-bigquery sends it: JSON with ASCII escapes, in bytes."""
    return len(json.dumps(row))


def _years_from(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


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


@functools.lru_cache(maxsize=4)
def streaming_window(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day a streamed row's partition may fall on, `today` (UTC)."""
    return _years_from(today, -PARTITION_YEARS_PAST), _years_from(today, PARTITION_YEARS_FUTURE)


def partition_error_of_day(column: str, day: datetime.date, now: datetime.datetime) -> str | None:
    """Why BigQuery would refuse a row whose partitioning `column` falls on `day`, or None."""
    earliest, latest = streaming_window(now.astimezone(datetime.UTC).date())
    if not earliest <= day <= latest:
        return (
            f"{column}: partition {day} is outside the streaming window "
            f"{earliest} to {latest} ({PARTITION_YEARS_PAST} years back, "
            f"{PARTITION_YEARS_FUTURE} ahead)"
        )
    return None


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
