"""The two BigQuery sinks: `customers` (its rejects become dead letters) and `customers_dlq`.

Rows BigQuery refuses become `write` dead letters holding the row, whether it rejected the row
itself or refused the whole request (HTTP 401/403/404/400: Beam 2.77's sink gives every row of
the batch that error and does not retry it, see `WriteCustomers`); `make replay` inserts them
once the cause is fixed. A dead letter BigQuery refuses is written again in a reduced,
schema-valid form, retried until it is stored; if even that keeps failing the bundle fails. No
dead letter is dropped: its message was acknowledged already.
"""

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy
from google.cloud import bigquery

# row_weight sets, on import, how Beam's sink weighs each row: here for the process that builds
# the pipeline and the in-process runners (Dataflow's workers import it as a Beam plugin).
from pipeline import (
    bigquery_client,
    metrics,
    row_weight,  # noqa: F401
    tables,
)
from pipeline.dead_letters import (
    insert_error_reasons,
    loggable_request_error,
    reduced_dead_letter,
    request_error,
    write_failure,
)
from pipeline.options import CREATE_NEVER, CustomerPipelineOptions, dlq_table, table_project

_LOG = logging.getLogger(__name__)

# Each attempt of a local insert gives up after this long (Beam's own is 120 s:
# bigquery_tools.BQ_STREAMING_INSERT_TIMEOUT_SEC); the client's retry then tries again.
LOCAL_INSERT_TIMEOUT_SECONDS = 10.0
# The reduced dead letters are retried whatever BigQuery answers (RETRY_ALWAYS: they are
# schema-valid by construction, so what fails is the request: IAM, a table being recreated),
# this many times with Beam's backoff (0.2 s doubling, fuzzed: about 2-3.5 minutes in all),
# then the bundle fails and the runner retries it.
REDUCED_MAX_RETRIES = 10


class EndpointClient:
    """What `WriteToBigQuery(test_client=...)` calls, aimed at another BigQuery endpoint.

    Beam only calls `insert_rows_json` when tables are never created. A google.cloud.bigquery
    Client cannot be pickled, so it is built lazily on the worker. It retries as the client
    Beam builds on Dataflow does (google.cloud.bigquery's DEFAULT_RETRY: HTTP 429, 500, 502,
    503, connection errors and timeouts, for up to 10 minutes), each attempt cut at
    LOCAL_INSERT_TIMEOUT_SECONDS; what it does not retry reaches Beam's sink as on Dataflow.
    The rows are checked before the write, so the emulator's HTTP 500 for a wrongly typed value
    (which that retry would repeat for the whole 10 minutes) does not occur.
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
        kwargs["retry"] = bigquery.DEFAULT_RETRY
        kwargs["timeout"] = LOCAL_INSERT_TIMEOUT_SECONDS
        return self._client.insert_rows_json(table, json_rows, **kwargs)


class WriteTable(beam.PTransform):
    """Writes JSON-form rows to one table; returns `failed_rows_with_errors`.

    `test_client` goes to WriteToBigQuery as is (tests pass a fake that rejects rows).
    `retry_always`: retry whatever BigQuery answers, `REDUCED_MAX_RETRIES` times (for rows that
    are valid by construction); else Beam retries what it deems transient, 10,000 times.
    """

    def __init__(
        self,
        table_spec: str,
        table: Mapping[str, Any],
        options: CustomerPipelineOptions,
        test_client: Any = None,
        *,
        retry_always: bool = False,
    ):
        super().__init__()
        self._table_spec = table_spec
        self._table = table
        self._options = options
        self._test_client = test_client
        self._retry_always = retry_always

    def _sink(self) -> WriteToBigQuery:
        options, endpoint = self._options, self._options.bigquery_endpoint
        client = self._test_client
        if client is None and endpoint:
            client = EndpointClient(endpoint, table_project(self._table_spec))
        extra: dict[str, Any] = {"test_client": client} if client is not None else {}
        strategy = RetryStrategy.RETRY_ON_TRANSIENT_ERROR
        if self._retry_always:
            strategy = RetryStrategy.RETRY_ALWAYS
            extra["max_retries"] = REDUCED_MAX_RETRIES
        # Streaming inserts only: see the note on write methods in pipeline/options.py.
        return WriteToBigQuery(
            table=self._table_spec,
            schema=tables.bigquery_schema(self._table),
            additional_bq_parameters=tables.table_options(self._table),
            create_disposition=CREATE_NEVER if endpoint else options.create_disposition,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            method=WriteToBigQuery.Method.STREAMING_INSERTS,
            insert_retry_strategy=strategy,
            **extra,
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
            f"({insert_error_reasons(errors)}); failing the bundle so that it is retried, not lost "
            "(Dataflow streaming retries it until it succeeds; Beam's direct runner gives up "
            "after 4 attempts and stops the pipeline)"
        )
        yield from ()


class _Sink(beam.PTransform):
    """A sink of the pipeline's options; `test_client` replaces only the BigQuery API call."""

    def __init__(self, options: CustomerPipelineOptions, test_client: Any = None):
        super().__init__()
        self._options = options
        self._test_client = test_client

    def _write(self, table_spec: str, table: Mapping[str, Any], **kwargs) -> WriteTable:
        return WriteTable(table_spec, table, self._options, self._test_client, **kwargs)


class WriteFailuresFn(beam.DoFn):
    """Rows BigQuery refused -> `write` dead letters, and one log line per cause and bundle.

    Beam's sink logs its insert errors verbatim, and the pipeline silences that logger (they may
    quote row values, README "No row value in the logs"): this line is what the worker log
    shows instead, the cause without any value: HTTP status and BigQuery's message with quoted
    parts removed for a refused request, `reason at location` for rejected rows.
    """

    def start_bundle(self):
        self._causes: dict[tuple[str, str], int] = {}

    def process(self, failure: Any) -> Iterator[dict[str, Any]]:
        destination, _, errors = failure
        cause = (
            f"the whole insert request ({loggable_request_error(errors)})"
            if request_error(errors)
            else f"rows ({insert_error_reasons(errors)})"
        )
        key = (str(destination), cause)
        self._causes[key] = self._causes.get(key, 0) + 1
        yield write_failure(failure)

    def finish_bundle(self):
        for (destination, cause), count in self._causes.items():
            _LOG.error(
                "BigQuery refused %d rows of %s: %s; they are write dead letters in the "
                "dead-letter table: once the cause is fixed, make replay ARGS='--stage write' "
                "inserts them",
                count,
                destination,
                cause,
            )


class WriteCustomers(_Sink):
    """Unique rows -> `customers`; returns the `write` dead letters of rows BigQuery refused.

    Beam 2.77's streaming-insert sink turns a request BigQuery refuses whole into an error on
    every row of the batch (io/gcp/bigquery_tools.py `_insert_all_rows`, `except (ClientError,
    GoogleAPICallError)`) and RETRY_ON_TRANSIENT_ERROR never retries 'Forbidden', 'Not Found',
    'Unauthorized' or 'Bad Request' (`RetryStrategy._NON_TRANSIENT_ERRORS`), so a 403 while
    IAM propagates dead-letters the batch. Those rows are kept whole and `make replay` inserts
    them; pipeline/README.md ("When BigQuery refuses a whole request") says why the bundle
    does not fail instead.
    """

    def expand(self, rows):
        failed = (
            rows
            # Counted before the write: BigQuery may still reject a row (dead_letters_write).
            | "CountRowsSent" >> beam.ParDo(metrics.CountFn(metrics.ROWS_SENT_TO_BIGQUERY))
            | "Write" >> self._write(self._options.output_table, tables.CUSTOMERS)
        )
        return failed | "ToDeadLetters" >> beam.ParDo(WriteFailuresFn())


class WriteDeadLetters(_Sink):
    """Dead letters of every stage -> `customers_dlq`."""

    def expand(self, dead_letters):
        table_spec = dlq_table(self._options)
        return (
            dead_letters
            | "CountDeadLetters" >> beam.ParDo(metrics.CountDeadLettersFn())
            | "Write" >> self._write(table_spec, tables.CUSTOMERS_DLQ)
            | "Reduce" >> beam.ParDo(ReduceDeadLetterFn())
            # Retried in the sink's own loop, so that every runner repeats the insert itself
            # (the direct runner retries a failed step alone, never the sink before it).
            | "WriteReduced" >> self._write(table_spec, tables.CUSTOMERS_DLQ, retry_always=True)
            | "FailOnUnwritable" >> beam.ParDo(FailOnUnwritableFn())
        )
