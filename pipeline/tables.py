"""The BigQuery tables, read from `pipeline/schemas/*.json`: the one place their columns live.

Terraform, the local stack and the tests read the same files. Also the limits of a streaming
insert that the row builder keeps every row within.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from contract import PROJECT_ID

# A table as the pipeline's parameters and the replay command take it:
# PROJECT:DATASET.TABLE or PROJECT.DATASET.TABLE. Dataflow also checks it at launch, with RE2
# (metadata.json's `regexes`), which refuses a repeat count above 1000 ("implementation
# restriction", https://github.com/google/re2/wiki/Syntax). Dataset and table ids have at most
# 1,024 characters (cloud.google.com/bigquery/docs/datasets#dataset-naming,
# /tables#table_naming), so 1-1024 is written as 1-1000 then 0-24: the same strings.
# tests/unit/test_pipeline_options.py holds each regex to the same answers under RE2 and Python.
_DATASET_ID = "[A-Za-z0-9_]{1,1000}[A-Za-z0-9_]{0,24}"
_TABLE_ID = "[-A-Za-z0-9_$]{1,1000}[-A-Za-z0-9_$]{0,24}"
TABLE_SPEC = rf"^{PROJECT_ID}[:.]{_DATASET_ID}\.{_TABLE_ID}$"
# GoogleSQL data types (cloud.google.com/bigquery/docs/reference/standard-sql/data-types):
# INT64 is 64-bit signed.
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


def load_table(name: str) -> dict[str, Any]:
    """The BigQuery Table resource (schema, partitioning, clustering) of `schemas/<name>.json`."""
    text = resources.files("pipeline").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


CUSTOMERS = load_table("customers")
CUSTOMERS_DLQ = load_table("customers_dlq")
CUSTOMERS_DLQ_REPLAYS = load_table("customers_dlq_replays")
ERASURE_REQUESTS = load_table("erasure_requests")
TABLES = (CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS, ERASURE_REQUESTS)


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


def json_size(row: Mapping[str, Any]) -> int:
    """The row's size as google-cloud-bigquery sends it: JSON with ASCII escapes, in bytes."""
    return len(json.dumps(row))


def _years_from(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


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
