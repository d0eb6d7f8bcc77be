"""The two BigQuery sinks: `customers` (its rejects become dead letters) and `customers_dlq`."""

import base64
import datetime
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

from pipeline import bigquery_client, schema, transforms
from pipeline.options import (
    CREATE_NEVER,
    STORAGE_WRITE_API,
    CustomerPipelineOptions,
    dlq_table,
    table_project,
)

_LOG = logging.getLogger(__name__)

# Against a local endpoint, give up on a batch after a few attempts so a rejected batch lands
# in the dead-letter table instead of being retried for hours.
LOCAL_MAX_RETRIES = 3
LOCAL_INSERT_TIMEOUT_SECONDS = 10.0
# Storage Write API commit interval: rows are visible in BigQuery within this many seconds.
STORAGE_WRITE_TRIGGERING_SECONDS = 5


class EndpointClient:
    """What `WriteToBigQuery(test_client=...)` calls, aimed at another BigQuery endpoint.

    Beam only calls `insert_rows_json` when tables are never created. A google.cloud.bigquery
    Client cannot be pickled, so it is built lazily on the worker. The client does not retry:
    the emulator answers HTTP 500 to a wrongly typed value, which the client's default retry
    would repeat for 10 minutes and then raise as a RetryError that Beam does not handle.
    Raised as an HTTP error instead, Beam retries it `max_retries` times and then hands the
    rows to `failed_rows_with_errors`.
    """

    def __init__(self, endpoint: str, project: str):
        self.endpoint = endpoint
        self.project = project
        self._client = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def insert_rows_json(self, table: Any, json_rows: Sequence[Mapping[str, Any]], **kwargs):
        if self._client is None:
            self._client = bigquery_client.client(self.project, self.endpoint)
        kwargs["retry"] = None
        kwargs["timeout"] = LOCAL_INSERT_TIMEOUT_SECONDS
        return self._client.insert_rows_json(table, json_rows, **kwargs)


def to_storage_write_row(
    row: Mapping[str, Any], schema_fields: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A JSON-form row in the types the Storage Write API's Beam Row conversion expects:
    Beam Timestamp for TIMESTAMP, datetime.date for DATE (with `type_overrides`), bytes for BYTES.
    """
    native: dict[str, Any] = {}
    for field in schema_fields:
        name, kind, value = field["name"], field["type"], row.get(field["name"])
        if value is None:
            native[name] = None
        elif kind in ("RECORD", "STRUCT") and field.get("mode") == "REPEATED":
            native[name] = [to_storage_write_row(item, field["fields"]) for item in value]
        elif kind in ("RECORD", "STRUCT"):
            native[name] = to_storage_write_row(value, field["fields"])
        elif kind == "TIMESTAMP":
            native[name] = Timestamp.from_utc_datetime(
                schema.parse_timestamp(value).astimezone(datetime.UTC)
            )
        elif kind == "DATE":
            native[name] = schema.parse_date(value)
        elif kind == "BYTES":
            native[name] = base64.b64decode(value)
        else:
            native[name] = value
    return native


class WriteTable(beam.PTransform):
    """Writes JSON-form rows to one table; returns `failed_rows_with_errors`.

    `test_client` goes to WriteToBigQuery as is (tests pass a fake that rejects rows).
    """

    def __init__(
        self,
        table_spec: str,
        table: Mapping[str, Any],
        options: CustomerPipelineOptions,
        test_client: Any = None,
    ):
        super().__init__()
        self._table_spec = table_spec
        self._table = table
        self._options = options
        self._test_client = test_client

    def _sink(self) -> WriteToBigQuery:
        options, endpoint = self._options, self._options.bigquery_endpoint
        client = self._test_client
        if client is None and endpoint:
            client = EndpointClient(endpoint, table_project(self._table_spec))
        method_options: dict[str, Any] = {
            "insert_retry_strategy": RetryStrategy.RETRY_ON_TRANSIENT_ERROR
        }
        if options.write_method == STORAGE_WRITE_API:
            method_options = {
                "triggering_frequency": STORAGE_WRITE_TRIGGERING_SECONDS,
                "with_auto_sharding": True,
                "type_overrides": {"DATE": datetime.date},
            }
        elif client is not None:
            method_options["test_client"] = client
            method_options["max_retries"] = LOCAL_MAX_RETRIES
        return WriteToBigQuery(
            table=self._table_spec,
            schema=schema.bigquery_schema(self._table),
            additional_bq_parameters=schema.table_options(self._table),
            create_disposition=CREATE_NEVER if endpoint else options.create_disposition,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            method=options.write_method,
            **method_options,
        )

    def expand(self, rows):
        if self._options.write_method == STORAGE_WRITE_API:
            rows = rows | "ToStorageWriteTypes" >> beam.Map(
                to_storage_write_row, schema.fields(self._table)
            )
        return (rows | "WriteToBigQuery" >> self._sink()).failed_rows_with_errors


class LogLostDeadLetters(beam.DoFn):
    """The last resort for a dead letter BigQuery rejected: an error log and a counter."""

    def __init__(self):
        self._lost = Metrics.counter(transforms.METRICS_NAMESPACE, "dead_letters_unwritable")

    def process(self, failure: Any) -> Iterator[None]:
        self._lost.inc()
        _LOG.error("BigQuery rejected a dead letter, it is only in this log: %.10000r", failure)
        yield from ()


class WriteCustomers(beam.PTransform):
    """Unique rows -> `customers`; returns the `write` dead letters of rows BigQuery rejected."""

    def __init__(self, options: CustomerPipelineOptions, test_client: Any = None):
        super().__init__()
        self._options = options
        self._test_client = test_client

    def expand(self, rows):
        failed = (
            rows
            | "CountRowsWritten" >> beam.ParDo(transforms.CountRows("rows_written"))
            | "Write"
            >> WriteTable(
                self._options.output_table, schema.CUSTOMERS, self._options, self._test_client
            )
        )
        return failed | "ToDeadLetters" >> beam.Map(transforms.write_failure)


class WriteDeadLetters(beam.PTransform):
    """Dead letters of every stage -> `customers_dlq`."""

    def __init__(self, options: CustomerPipelineOptions, test_client: Any = None):
        super().__init__()
        self._options = options
        self._test_client = test_client

    def expand(self, dead_letters):
        return (
            dead_letters
            | "CountDeadLetters" >> beam.ParDo(transforms.CountDeadLetters())
            | "Write"
            >> WriteTable(
                dlq_table(self._options), schema.CUSTOMERS_DLQ, self._options, self._test_client
            )
            | "LogUnwritable" >> beam.ParDo(LogLostDeadLetters())
        )
