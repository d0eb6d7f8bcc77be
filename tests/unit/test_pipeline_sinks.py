"""The BigQuery sinks: rows BigQuery rejects, or whole requests it refuses, become `write`
dead letters and never vanish."""

import base64
import json
import logging
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from google.api_core import exceptions

from pipeline import rows, sinks, tables, transforms
from pipeline.dead_letters import PAYLOAD_ROW
from pipeline.options import CustomerPipelineOptions
from tests import bigquery_rules
from tests.support import FIXTURES

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)

USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]
ROWS = [rows.to_customer_row(user, rows.Lineage(message_id=str(i))) for i, user in enumerate(USERS)]
REJECTED_NATIONALITY = "GB"
CUSTOMERS, DLQ = "my-project.shop.customers", "my-project.shop.customers_dlq"
DENIED = "Access Denied: Table my-project:shop.customers: Permission bigquery.tables.updateData"


def full_dead_letter(row: dict) -> bool:
    """True for a dead letter that still has its payloadString (not reduced)."""
    return row.get("payloadString") is not None


class FakeBigQuery:
    """insert_rows_json like google.cloud.bigquery.Client: keeps rows in one JSONL file per
    table and rejects, the way BigQuery reports invalid rows (insertErrors), rows whose
    nationality is GB and, in `reject_table`, every row `reject_row` picks (default: all).

    Strict as BigQuery is, unlike its emulator: it also rejects every row that breaks a rule of
    a streaming insert (tests/bigquery_rules.py) of its table (`customers`, else the dead-letter
    table), so no test passes on a row real BigQuery would refuse."""

    def __init__(self, directory: Path, reject_table: str | None = None, reject_row=None):
        self.directory = directory
        self.reject_table = reject_table
        self.reject_row = reject_row or (lambda row: True)

    def _rejects(self, table: str, row: dict) -> bool:
        if table == self.reject_table and self.reject_row(row):
            return True
        return row.get("nationality") == REJECTED_NATIONALITY

    def insert_rows_json(self, table, json_rows, **kwargs):
        errors = []
        resource = tables.CUSTOMERS if str(table).endswith(".customers") else tables.CUSTOMERS_DLQ
        with (self.directory / f"{table}.jsonl").open("a") as stored:
            for index, row in enumerate(json_rows):
                if broken := bigquery_rules.insert_errors(row, resource):
                    message = "; ".join(broken)
                    errors.append(
                        {
                            "index": index,
                            "errors": [{"reason": "invalid", "location": "", "message": message}],
                        }
                    )
                elif self._rejects(table, row):
                    message = f"no such field: {index}"
                    errors.append(
                        {
                            "index": index,
                            "errors": [{"reason": "invalid", "location": "x", "message": message}],
                        }
                    )
                else:
                    stored.write(json.dumps(row) + "\n")
        return errors

    def rows(self, table: str) -> list[dict]:
        path = self.directory / f"{table}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _options(*extra: str) -> CustomerPipelineOptions:
    return PipelineOptions(
        [
            "--input_topic=projects/my-project/topics/customers",
            "--output_table=my-project:shop.customers",
            "--create_disposition=CREATE_NEVER",
            *extra,
        ]
    ).view_as(CustomerPipelineOptions)


def _counter(result, name: str) -> int:
    counters = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    return sum(counter.committed for counter in counters)


def _write(rows, options, client):
    with BeamTestPipeline(runner="BundleBasedDirectRunner") as p:
        failed = p | beam.Create(rows) | sinks.WriteCustomers(options, test_client=client)
        _ = failed | sinks.WriteDeadLetters(options, test_client=client)
    return p.result


def test_rows_bigquery_rejects_land_in_the_dead_letter_table(tmp_path):
    client = FakeBigQuery(tmp_path)
    result = _write(ROWS, _options(), client)

    rejected = [row for row in ROWS if row["nationality"] == REJECTED_NATIONALITY]
    assert rejected, "the fixture must contain rows the fake rejects"
    written = client.rows("my-project.shop.customers")
    assert sorted(row["customer_id"] for row in written) == sorted(
        row["customer_id"] for row in ROWS if row not in rejected
    )
    dead_letters = client.rows("my-project.shop.customers_dlq")
    assert sorted(
        json.loads(letter["payloadString"])["customer_id"] for letter in dead_letters
    ) == (sorted(row["customer_id"] for row in rejected))
    for letter in dead_letters:
        assert letter["stage"] == "write"
        assert letter["errorMessage"].startswith(
            "BigQuery rejected the row my-project:shop.customers: invalid at x: no such field"
        )
        assert json.loads(base64.b64decode(letter["payloadBytes"])) == json.loads(
            letter["payloadString"]
        )
        assert bigquery_rules.row_errors(letter, tables.fields(tables.CUSTOMERS_DLQ)) == []
    # rows_sent_to_bigquery counts every row handed to BigQuery, the rejected ones too.
    assert _counter(result, "rows_sent_to_bigquery") == len(ROWS)
    assert _counter(result, "dead_letters_write") == len(rejected)
    assert _counter(result, "rows_sent_to_bigquery") - len(rejected) == len(written)


def test_rejected_dead_letters_are_written_reduced_never_dropped(tmp_path, caplog):
    """BigQuery refuses the full dead letters: each lands reduced, and no log holds a payload."""
    client = FakeBigQuery(tmp_path, "my-project.shop.audit", reject_row=full_dead_letter)
    result = _write(ROWS, _options("--dlq_table=my-project.shop.audit"), client)

    rejected = [row for row in ROWS if row["nationality"] == REJECTED_NATIONALITY]
    letters = client.rows("my-project.shop.audit")
    assert sorted(letter["message_id"] for letter in letters) == sorted(
        row["message_id"] for row in rejected
    )
    for letter in letters:
        assert letter["stage"] == "write"
        assert letter["payloadString"] is None and letter["attributes"] == []
        assert letter["errorMessage"].startswith(
            "BigQuery rejected the dead letter (invalid at x), kept reduced; "
            "original error: BigQuery rejected the row my-project:shop.customers"
        )
        row = json.loads(base64.b64decode(letter["payloadBytes"]))
        assert row["customer_id"] in {r["customer_id"] for r in rejected}
        assert bigquery_rules.insert_errors(letter, tables.CUSTOMERS_DLQ) == []
    assert _counter(result, "dead_letters_reduced") == len(rejected)
    assert _counter(result, "dead_letters_unwritable") == 0
    logged = " ".join(record.getMessage() for record in caplog.records)
    for row in rejected:
        assert row["email"] not in logged and row["last_name"] not in logged
    assert all(row["message_id"] in logged for row in rejected)


def test_a_dead_letter_bigquery_rejects_even_reduced_fails_the_pipeline(tmp_path, monkeypatch):
    """Acknowledged already, it must not vanish: the bundle fails, so the runner retries it."""
    monkeypatch.setattr(sinks, "REDUCED_MAX_RETRIES", 1)  # not minutes of Beam's backoff
    client = FakeBigQuery(tmp_path, reject_table="my-project.shop.audit")
    with pytest.raises(Exception, match="failing the bundle so that it is retried, not lost"):
        _write(ROWS, _options("--dlq_table=my-project.shop.audit"), client)


def test_endpoint_client_pickles_without_its_connection(httpserver):
    httpserver.expect_request(
        "/bigquery/v2/projects/local-project/datasets/shop/tables/customers/insertAll",
        method="POST",
    ).respond_with_json({"insertErrors": [{"index": 0, "errors": [{"reason": "invalid"}]}]})
    client = sinks.EndpointClient(httpserver.url_for("/").rstrip("/"), "local-project")
    errors = client.insert_rows_json("local-project.shop.customers", [ROWS[0]], timeout=120)
    assert errors == [{"index": 0, "errors": [{"reason": "invalid"}]}]

    copy = pickle.loads(pickle.dumps(client))
    assert copy._client is None
    assert (copy.endpoint, copy.project) == (client.endpoint, "local-project")
    request, _ = httpserver.log[0]
    assert request.json["rows"][0]["json"]["customer_id"] == ROWS[0]["customer_id"]


@pytest.mark.parametrize("runner", ["BundleBasedDirectRunner", "FnApiRunner"])
def test_the_whole_graph_after_the_read_on_a_runner_that_encodes_elements(tmp_path, runner):
    """Messages -> ToCustomerRows -> both sinks, as build_pipeline wires them after the read.

    On the FnApiRunner every element is encoded between stages, as on Dataflow: a poison pill
    (a JSON-escaped lone surrogate) must end as a dead letter, not as a failed bundle.
    """
    user = USERS[0]
    poison = json.dumps({**user, "email": "x"}).replace('"x"', '"\\udc00"').encode()
    messages = [
        PubsubMessage(json.dumps(user).encode(), {"source": "file"}, message_id="good"),
        PubsubMessage(poison, {"source": "file"}, message_id="poison"),
        PubsubMessage(b"\xff", {"source": "file"}, message_id="garbage"),
    ]
    client = FakeBigQuery(tmp_path)
    options = _options()
    with BeamTestPipeline(runner=runner) as p:
        rows, rejected = p | beam.Create(messages) | transforms.ToCustomerRows(600)
        failed = rows | sinks.WriteCustomers(options, test_client=client)
        _ = (rejected, failed) | beam.Flatten() | sinks.WriteDeadLetters(options, client)
    written = client.rows("my-project.shop.customers")
    assert [row["customer_id"] for row in written] == [user["login"]["uuid"]]
    letters = {row["message_id"]: row for row in client.rows("my-project.shop.customers_dlq")}
    assert set(letters) == {"poison", "garbage"}
    assert letters["poison"]["errorMessage"].startswith("email cannot be encoded as UTF-8")


# When BigQuery refuses whole requests, not rows. Beam 2.77's streaming-insert sink
# (io/gcp/bigquery_tools.py `BigQueryWrapper._insert_all_rows`) catches a `ClientError`/
# `GoogleAPICallError` from `insert_rows_json` and reports it on every row of the batch as
# `{"message": e.message, "reason": e.response.reason}`; `RetryStrategy.RETRY_ON_TRANSIENT_ERROR`
# retries any reason but 'Forbidden', 'Not Found', 'Unauthorized', 'Bad Request' (and
# 'invalid', ...). RefusingBigQuery raises what google-cloud-bigquery raises.


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


@pytest.mark.parametrize("error", [exceptions.Forbidden, exceptions.NotFound])
def test_a_refused_request_keeps_every_row_as_a_write_dead_letter(error, caplog):
    caplog.set_level(logging.ERROR, logger="pipeline.sinks")
    _write(ROWS, _options(), RefusingBigQuery({CUSTOMERS: (error, None)}))

    letters = RefusingBigQuery.stored[DLQ]
    assert sorted(json.loads(letter["payloadString"])["customer_id"] for letter in letters) == (
        sorted(row["customer_id"] for row in ROWS)
    )
    status = "HTTP 403 Forbidden" if error is exceptions.Forbidden else "HTTP 404 Not Found"
    for letter in letters:
        assert letter["payload_state"] == PAYLOAD_ROW
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
    _write(ROWS, _options(), client)
    letters = RefusingBigQuery.stored[DLQ]
    assert len(letters) == len(ROWS) and RefusingBigQuery.calls[DLQ] > 3
    assert {letter["payload_state"] for letter in letters} == {PAYLOAD_ROW}
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
