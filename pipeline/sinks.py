"""The two BigQuery sinks: `customers` (its rejects become dead letters) and `customers_dlq`.

A dead letter BigQuery rejects is written again in a reduced, schema-valid form; if even that is
rejected the bundle fails. No dead letter is dropped: its message was acknowledged already.
"""

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy

# row_weight sets, on import, how Beam's sink weighs each row: here for the process that builds
# the pipeline and the in-process runners (Dataflow's workers import it as a Beam plugin).
from pipeline import (
    bigquery_client,
    metrics,
    row_weight,  # noqa: F401
    tables,
)
from pipeline.dead_letters import insert_error_reasons, reduced_dead_letter, write_failure
from pipeline.options import CREATE_NEVER, CustomerPipelineOptions, dlq_table, table_project

_LOG = logging.getLogger(__name__)

# Against a local endpoint, give up on a batch after a few attempts so a rejected batch lands
# in the dead-letter table instead of being retried for hours.
LOCAL_MAX_RETRIES = 3
LOCAL_INSERT_TIMEOUT_SECONDS = 10.0


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
        local: dict[str, Any] = {}
        if client is not None:
            local = {"test_client": client, "max_retries": LOCAL_MAX_RETRIES}
        # Streaming inserts only: see the note on write methods in pipeline/options.py.
        return WriteToBigQuery(
            table=self._table_spec,
            schema=tables.bigquery_schema(self._table),
            additional_bq_parameters=tables.table_options(self._table),
            create_disposition=CREATE_NEVER if endpoint else options.create_disposition,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            method=WriteToBigQuery.Method.STREAMING_INSERTS,
            insert_retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
            **local,
        )

    def expand(self, rows):
        return (rows | "WriteToBigQuery" >> self._sink()).failed_rows_with_errors


class UnwritableDeadLetter(RuntimeError):  # noqa: N818 (reads as the sentence it reports)
    """BigQuery rejected a dead letter even in its reduced, schema-valid form."""


class ReduceDeadLetterFn(beam.DoFn):
    """A rejected dead letter -> its reduced form, logged by message id only (no payload)."""

    def __init__(self):
        self._reduced = metrics.counter(metrics.DEAD_LETTERS_REDUCED)

    def process(self, failure: Any) -> Iterator[dict[str, Any]]:
        reduced = reduced_dead_letter(failure)
        self._reduced.inc()
        _LOG.warning(
            "BigQuery rejected the dead letter of message %s (%s); writing it reduced",
            reduced["message_id"],
            insert_error_reasons(failure[2]),
        )
        yield reduced


class FailOnUnwritableFn(beam.DoFn):
    """The last resort: a dead letter BigQuery rejects even reduced fails the bundle, loudly.

    The message was acknowledged already, so dropping it would lose it; raising makes the runner
    retry the bundle (Dataflow streaming retries it until it succeeds and shows the error).
    """

    def __init__(self):
        self._unwritable = metrics.counter(metrics.DEAD_LETTERS_UNWRITABLE)

    def process(self, failure: Any) -> Iterator[None]:
        self._unwritable.inc()
        _, letter, errors = failure
        message_id = letter.get("message_id") if isinstance(letter, Mapping) else None
        raise UnwritableDeadLetter(
            f"BigQuery rejected the reduced dead letter of message {message_id} "
            f"({insert_error_reasons(errors)}); failing the bundle so that it is retried, not lost"
        )
        yield from ()


class _Sink(beam.PTransform):
    """A sink of the pipeline's options; `test_client` replaces only the BigQuery API call."""

    def __init__(self, options: CustomerPipelineOptions, test_client: Any = None):
        super().__init__()
        self._options = options
        self._test_client = test_client

    def _write(self, table_spec: str, table: Mapping[str, Any]) -> WriteTable:
        return WriteTable(table_spec, table, self._options, self._test_client)


class WriteCustomers(_Sink):
    """Unique rows -> `customers`; returns the `write` dead letters of rows BigQuery rejected."""

    def expand(self, rows):
        failed = (
            rows
            # Counted before the write: BigQuery may still reject a row (dead_letters_write).
            | "CountRowsSent" >> beam.ParDo(metrics.CountFn(metrics.ROWS_SENT_TO_BIGQUERY))
            | "Write" >> self._write(self._options.output_table, tables.CUSTOMERS)
        )
        return failed | "ToDeadLetters" >> beam.Map(write_failure)


class WriteDeadLetters(_Sink):
    """Dead letters of every stage -> `customers_dlq`."""

    def expand(self, dead_letters):
        def write(table_spec: str) -> WriteTable:
            return self._write(table_spec, tables.CUSTOMERS_DLQ)

        table_spec = dlq_table(self._options)
        return (
            dead_letters
            | "CountDeadLetters" >> beam.ParDo(metrics.CountDeadLettersFn())
            | "Write" >> write(table_spec)
            | "Reduce" >> beam.ParDo(ReduceDeadLetterFn())
            | "WriteReduced" >> write(table_spec)
            | "FailOnUnwritable" >> beam.ParDo(FailOnUnwritableFn())
        )
