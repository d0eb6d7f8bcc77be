"""The BigQuery sinks: rows BigQuery rejects become `write` dead letters, never vanish."""

import base64
import json
import pickle
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline import dead_letters, rows, schema, sinks, transforms
from pipeline.options import CustomerPipelineOptions
from tests.support import FIXTURES

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)

USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]
ROWS = [rows.to_customer_row(user, message_id=str(i)) for i, user in enumerate(USERS)]
REJECTED_NATIONALITY = "GB"


def full_dead_letter(row: dict) -> bool:
    """True for a dead letter that still has its payloadString (not reduced)."""
    return row.get("payloadString") is not None


class FakeBigQuery:
    """insert_rows_json like google.cloud.bigquery.Client: keeps rows in one JSONL file per
    table and rejects, the way BigQuery reports invalid rows (insertErrors), rows whose
    nationality is GB and, in `reject_table`, every row `reject_row` picks (default: all)."""

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
        with (self.directory / f"{table}.jsonl").open("a") as stored:
            for index, row in enumerate(json_rows):
                if self._rejects(table, row):
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
        assert schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ)) == []
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
        assert schema.insert_errors(letter, schema.CUSTOMERS_DLQ) == []
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


@pytest.mark.parametrize(
    "letter",
    [
        dead_letters.dead_letter(
            stage="parse", error="x" * 10_000, payload=b"\xff" * 2_000_000, message_id="7"
        ),
        {"stage": "nonsense", "message_id": 5, "publish_time": "yesterday", "payloadBytes": "!"},
        {"payloadString": "caf\u00e9", "errorMessage": None, "attributes": "not a list"},
        "not even a dict",
    ],
    ids=["oversized", "wrong-types", "no-bytes", "not-a-dict"],
)
def test_a_reduced_dead_letter_is_always_schema_valid(letter):
    failure = ("my-project:shop.audit", letter, [{"reason": "invalid", "message": "Bob"}])
    reduced = dead_letters.reduced_dead_letter(failure)
    assert schema.insert_errors(reduced, schema.CUSTOMERS_DLQ) == []
    assert reduced["payloadString"] is None and reduced["attributes"] == []
    assert reduced["stage"] in schema.STAGES
    if isinstance(letter, dict) and "payloadBytes" not in letter:  # only payloadString is left
        assert base64.b64decode(reduced["payloadBytes"]) == letter["payloadString"].encode()


@pytest.mark.parametrize("payload_bytes", [None, "not base64!"], ids=["missing", "undecodable"])
def test_a_payload_rebuilt_from_payload_string_is_never_called_original(payload_bytes):
    """payloadString is the payload decoded with replacement characters: encoded again it is not
    the message's bytes, so the reduced letter's state is unknown, which replay does not send."""
    letter = dead_letters.dead_letter(
        stage="parse", error="e", payload=b"\xffcaf\xc3\xa9", message_id="7"
    )
    assert letter["payload_state"] == schema.PAYLOAD_ORIGINAL
    letter = {**letter, "payloadBytes": payload_bytes}
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert base64.b64decode(reduced["payloadBytes"]) == "\ufffdcaf\u00e9".encode()
    assert reduced["payload_state"] is None
    assert schema.insert_errors(reduced, schema.CUSTOMERS_DLQ) == []


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        (b'{"login": {"uuid": "u", "password": "hunter2"}}', schema.PAYLOAD_REDACTED),
        (b"x" * (dead_letters.MAX_DEAD_LETTER_PAYLOAD + 1), schema.PAYLOAD_TRUNCATED),
        (b"not json", schema.PAYLOAD_ORIGINAL),
    ],
    ids=["redacted", "truncated", "original"],
)
def test_a_reduced_dead_letter_keeps_its_payload_state(payload, state):
    """Its payloadBytes are what the rejected letter kept: a redacted or cut payload must not
    pass for the message's exact bytes, or `python -m replay` would re-publish it."""
    letter = dead_letters.dead_letter(stage="parse", error="e", payload=payload, message_id="7")
    assert letter["payload_state"] == state
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert reduced["payload_state"] == state
    assert schema.insert_errors(reduced, schema.CUSTOMERS_DLQ) == []


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
