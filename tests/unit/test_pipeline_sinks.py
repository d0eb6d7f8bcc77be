"""pipeline/sinks.py when BigQuery refuses whole requests, not rows: nothing is lost.

Beam 2.77's streaming-insert sink (io/gcp/bigquery_tools.py `BigQueryWrapper._insert_all_rows`)
catches a `ClientError`/`GoogleAPICallError` from `insert_rows_json` and reports it on every row
of the batch as `{"message": e.message, "reason": e.response.reason}`; `RetryStrategy.
RETRY_ON_TRANSIENT_ERROR` retries any reason but 'Forbidden', 'Not Found', 'Unauthorized',
'Bad Request' (and 'invalid', ...). These fakes raise what google-cloud-bigquery raises.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import ClassVar

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from google.api_core import exceptions

from pipeline import rows, schema, sinks
from pipeline.options import CustomerPipelineOptions
from tests.support import FIXTURES

pytestmark = pytest.mark.timeout(180)

USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]
ROWS = [rows.to_customer_row(user, message_id=str(i)) for i, user in enumerate(USERS)]
CUSTOMERS, DLQ = "my-project.shop.customers", "my-project.shop.customers_dlq"
DENIED = "Access Denied: Table my-project:shop.customers: Permission bigquery.tables.updateData"


class RefusingBigQuery:
    """insert_rows_json that raises `error` for `table` on its first `times` calls (every call
    when None), then stores the rows in memory (the test process is the runner's)."""

    stored: ClassVar[dict[str, list[dict]]] = {}
    calls: ClassVar[dict[str, int]] = {}

    def __init__(self, refusals: dict[str, tuple[type, int | None]]):
        self.refusals = refusals
        RefusingBigQuery.stored, RefusingBigQuery.calls = {}, {}

    def insert_rows_json(self, table, json_rows, **kwargs):
        calls = RefusingBigQuery.calls[table] = RefusingBigQuery.calls.get(table, 0) + 1
        if table in self.refusals:
            error, times = self.refusals[table]
            if times is None or calls <= times:
                reason = error.__name__ if error is not exceptions.NotFound else "Not Found"
                raise error(DENIED, response=SimpleNamespace(reason=reason))
        RefusingBigQuery.stored.setdefault(table, []).extend(json_rows)
        return []


def _write(client) -> None:
    options = PipelineOptions(
        ["--output_table=my-project:shop.customers", "--create_disposition=CREATE_NEVER"]
    ).view_as(CustomerPipelineOptions)
    with BeamTestPipeline(runner="BundleBasedDirectRunner") as p:
        failed = p | beam.Create(ROWS) | sinks.WriteCustomers(options, test_client=client)
        _ = failed | sinks.WriteDeadLetters(options, test_client=client)


@pytest.mark.parametrize("error", [exceptions.Forbidden, exceptions.NotFound])
def test_a_refused_request_keeps_every_row_as_a_write_dead_letter(error, caplog):
    caplog.set_level(logging.ERROR, logger="pipeline.sinks")
    _write(RefusingBigQuery({CUSTOMERS: (error, None)}))

    letters = RefusingBigQuery.stored[DLQ]
    assert sorted(json.loads(letter["payloadString"])["customer_id"] for letter in letters) == (
        sorted(row["customer_id"] for row in ROWS)
    )
    status = "HTTP 403 Forbidden" if error is exceptions.Forbidden else "HTTP 404 Not Found"
    for letter in letters:
        assert letter["payload_state"] == schema.PAYLOAD_ROW
        assert letter["errorMessage"].startswith(
            f"BigQuery refused the whole insert request into my-project:shop.customers: {status}: "
        )
    # The cause is in the worker log (Beam's own logger is silenced), without a row's values.
    logged = [r.getMessage() for r in caplog.records if "BigQuery refused" in r.getMessage()]
    assert logged and all(status in line and "--stage write" in line for line in logged)
    assert sum(int(line.split()[2]) for line in logged) == len(ROWS)
    for row in ROWS:
        assert not any(row["email"] in line or row["last_name"] in line for line in logged)


def test_dead_letters_are_retried_until_the_dead_letter_table_takes_them():
    """customers and customers_dlq both refuse (the dataset's IAM binding is propagating):
    the dead letters are retried in the sink, reduced, until they are stored; none is lost."""
    client = RefusingBigQuery(
        {CUSTOMERS: (exceptions.Forbidden, None), DLQ: (exceptions.Forbidden, 3)}
    )
    _write(client)
    letters = RefusingBigQuery.stored[DLQ]
    assert len(letters) == len(ROWS) and RefusingBigQuery.calls[DLQ] > 3
    assert {letter["payload_state"] for letter in letters} == {schema.PAYLOAD_ROW}
    assert all(letter["payloadString"] is None for letter in letters)  # the reduced form


def test_the_local_client_retries_what_the_cloud_client_retries(httpserver):
    """HTTP 503 then 200: google.cloud.bigquery's DEFAULT_RETRY, as Beam's client on Dataflow."""
    path = "/bigquery/v2/projects/local-project/datasets/shop/tables/customers/insertAll"
    body = {"error": {"code": 503, "message": "x", "errors": [{"reason": "backendError"}]}}
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(body, status=503)
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json({})
    client = sinks.EndpointClient(httpserver.url_for("/").rstrip("/"), "local-project")
    assert client.insert_rows_json("local-project.shop.customers", [ROWS[0]]) == []
    assert len(httpserver.log) == 2
