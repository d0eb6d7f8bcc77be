"""The BigQuery sinks: rows BigQuery rejects become `write` dead letters, never vanish."""

import base64
import datetime
import json
import pickle
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline import bigquery, schema, transforms
from pipeline.options import CustomerPipelineOptions
from tests.support import FIXTURES

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)

USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]
ROWS = [transforms.to_customer_row(user, message_id=str(i)) for i, user in enumerate(USERS)]
REJECTED_NATIONALITY = "GB"


class FakeBigQuery:
    """insert_rows_json like google.cloud.bigquery.Client: keeps rows in one JSONL file per
    table and rejects the rows `reject_table` names or whose nationality is GB, the way
    BigQuery reports invalid rows (insertErrors)."""

    def __init__(self, directory: Path, reject_table: str | None = None):
        self.directory = directory
        self.reject_table = reject_table

    def insert_rows_json(self, table, json_rows, **kwargs):
        errors = []
        with (self.directory / f"{table}.jsonl").open("a") as stored:
            for index, row in enumerate(json_rows):
                if table == self.reject_table or row.get("nationality") == REJECTED_NATIONALITY:
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
        failed = p | beam.Create(rows) | bigquery.WriteCustomers(options, test_client=client)
        _ = failed | bigquery.WriteDeadLetters(options, test_client=client)
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
        assert schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ)) == []
    assert _counter(result, "rows_written") == len(ROWS)
    assert _counter(result, "dead_letters_write") == len(rejected)


def test_dead_letters_bigquery_rejects_are_logged_and_counted(tmp_path, caplog):
    client = FakeBigQuery(tmp_path, reject_table="my-project.shop.audit")
    result = _write(ROWS, _options("--dlq_table=my-project.shop.audit"), client)

    rejected = [row for row in ROWS if row["nationality"] == REJECTED_NATIONALITY]
    assert _counter(result, "dead_letters_unwritable") == len(rejected)
    lost = [record for record in caplog.records if "rejected a dead letter" in record.message]
    assert len(lost) == len(rejected)


def test_endpoint_client_pickles_without_its_connection(httpserver):
    httpserver.expect_request(
        "/bigquery/v2/projects/local-project/datasets/shop/tables/customers/insertAll",
        method="POST",
    ).respond_with_json({"insertErrors": [{"index": 0, "errors": [{"reason": "invalid"}]}]})
    client = bigquery.EndpointClient(httpserver.url_for("/").rstrip("/"), "local-project")
    errors = client.insert_rows_json("local-project.shop.customers", [ROWS[0]], timeout=120)
    assert errors == [{"index": 0, "errors": [{"reason": "invalid"}]}]

    copy = pickle.loads(pickle.dumps(client))
    assert copy._client is None
    assert (copy.endpoint, copy.project) == (client.endpoint, "local-project")
    request, _ = httpserver.log[0]
    assert request.json["rows"][0]["json"]["customer_id"] == ROWS[0]["customer_id"]


def test_storage_write_api_rows_carry_native_types():
    letter = transforms.dead_letter(
        stage="parse", error="x", payload=b"\x00\xff", publish_time="2024-05-01T10:00:00Z"
    )
    native = bigquery.to_storage_write_row(letter, schema.fields(schema.CUSTOMERS_DLQ))
    assert native["payloadBytes"] == b"\x00\xff"
    assert native["publish_time"].to_rfc3339() == "2024-05-01T10:00:00Z"
    row = bigquery.to_storage_write_row(ROWS[0], schema.fields(schema.CUSTOMERS))
    assert str(row["date_of_birth"]) == ROWS[0]["date_of_birth"]
    assert row["street_number"] == ROWS[0]["street_number"]


def test_storage_write_api_sink_settings():
    """The Storage Write API cannot run offline (Java expansion service), so check its wiring."""
    options = _options("--write_method=STORAGE_WRITE_API")
    sink = bigquery.WriteTable(options.output_table, schema.CUSTOMERS, options)._sink()
    assert sink.method == "STORAGE_WRITE_API"
    assert sink.test_client is None
    assert sink.triggering_frequency == bigquery.STORAGE_WRITE_TRIGGERING_SECONDS
    assert sink._type_overrides == {"DATE": datetime.date}
    assert sink.schema == schema.bigquery_schema(schema.CUSTOMERS)
