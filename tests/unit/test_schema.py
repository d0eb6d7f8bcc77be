"""The schema files are the one source of truth, and the row builders emit exactly them."""

import datetime
import json

import pytest

from pipeline import dead_letters, rows, schema
from tests.support import FIXTURES, ROOT

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
# The Python types a JSON-form row may hold per BigQuery type (None aside).
PYTHON_TYPES = {
    "STRING": str,
    "INTEGER": int,
    "FLOAT": float,
    "DATE": str,
    "TIMESTAMP": str,
    "BYTES": str,
    "RECORD": list,
}


@pytest.mark.parametrize("table", schema.TABLES)
def test_schema_files_are_bigquery_table_resources(table):
    name = table["tableReference"]["tableId"]
    on_disk = json.loads((ROOT / "pipeline" / "schemas" / f"{name}.json").read_text())
    assert table == on_disk
    assert table["timePartitioning"]["field"] in schema.column_names(table)
    for column in table.get("clustering", {}).get("fields", []):
        assert column in schema.column_names(table)
    assert len(set(schema.column_names(table))) == len(schema.column_names(table))


def test_every_schema_file_is_a_table():
    files = {path.stem for path in (ROOT / "pipeline" / "schemas").glob("*.json")}
    files.remove("classification")  # which columns are personal: test_pipeline_classification.py
    assert files == {table["tableReference"]["tableId"] for table in schema.TABLES}


def test_payload_states_are_documented_in_the_dead_letter_table():
    (field,) = [f for f in schema.fields(schema.CUSTOMERS_DLQ) if f["name"] == "payload_state"]
    for state in schema.PAYLOAD_STATES:
        assert state in field["description"]
    assert set(schema.REPLAYABLE_PAYLOADS) < set(schema.PAYLOAD_STATES)


def test_no_column_can_hold_a_credential():
    for table in schema.TABLES:
        names = {name.lower() for name in schema.column_names(table)}
        assert not names & {"password", "salt", "md5", "sha1", "sha256"}


def assert_fits(row: dict, table: dict) -> None:
    """`row` has exactly the table's columns, in order, each set and of its column's type."""
    fields = schema.fields(table)
    assert list(row) == [field["name"] for field in fields]
    for field in fields:
        value = row[field["name"]]
        assert value is not None, f"{field['name']} is empty"
        assert type(value) is PYTHON_TYPES[field["type"]], field["name"]
    assert schema.row_errors(row, fields) == []


def test_customer_row_has_exactly_the_schema_columns_and_types():
    row = rows.to_customer_row(
        USER,
        message_id="7",
        publish_time="2024-05-01T10:00:00.123456Z",
        source="fake",
        replay_of="5",
    )
    assert_fits(row, schema.CUSTOMERS)


def test_dead_letter_has_exactly_the_schema_columns_and_types():
    letter = dead_letters.dead_letter(
        stage="parse",
        error="payload is not JSON",
        payload=b"\xffnot json",
        attributes={"source": "file"},
        message_id="9",
        publish_time="2024-05-01T10:00:00Z",
        stacktrace="Traceback ...",
    )
    assert_fits(letter, schema.CUSTOMERS_DLQ)


def test_row_builder_output_is_json_serialisable_for_insert_rows_json():
    row = rows.to_customer_row(USER)
    assert json.loads(json.dumps(row)) == row


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"customer_id": None}, "customer_id: REQUIRED column is null"),
        ({"street_number": "12"}, "street_number: '12' is not a valid INTEGER"),
        ({"street_number": True}, "street_number: True is not a valid INTEGER"),
        ({"street_number": 2**63}, "is not a valid INTEGER"),
        ({"latitude": "1.5"}, "latitude: '1.5' is not a valid FLOAT"),
        ({"latitude": float("nan")}, "latitude: nan is not a valid FLOAT"),
        ({"date_of_birth": "1990-02-30"}, "date_of_birth: '1990-02-30' is not a valid DATE"),
        ({"date_of_birth": "19900201"}, "is not a valid DATE"),
        ({"registered_at": "2020-01-01T00:00:00"}, "is not a valid TIMESTAMP"),
        ({"registered_at": "20200101T000000Z"}, "is not a valid TIMESTAMP"),
        ({"postcode": 12345}, "postcode: 12345 is not a valid STRING"),
        ({"password": "x"}, "password: not a column"),
    ],
)
def test_row_errors_reports_each_problem(change, error):
    row = {**rows.to_customer_row(USER), **change}
    errors = schema.row_errors(row, schema.fields(schema.CUSTOMERS))
    assert len(errors) == 1
    assert error in errors[0]


def test_row_errors_reports_missing_columns_and_bad_records():
    row = rows.to_customer_row(USER)
    del row["email"]
    assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == ["email: missing"]
    letter = dead_letters.dead_letter(stage="write", error="x", payload=b"{}")
    letter["attributes"] = [{"key": "a", "value": 1}]
    letter["payloadBytes"] = "not base64!"
    errors = schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ))
    assert errors == [
        "payloadBytes: 'not base64!' is not a valid BYTES",
        "attributes: value: 1 is not a valid STRING",
    ]


def test_table_options_and_schema_for_write_to_bigquery():
    assert schema.table_options(schema.CUSTOMERS) == {
        "timePartitioning": {"type": "DAY", "field": "ingested_at"},
        "clustering": {"fields": ["country", "state", "gender"]},
    }
    assert schema.bigquery_schema(schema.CUSTOMERS_DLQ)["fields"] == schema.fields(
        schema.CUSTOMERS_DLQ
    )


# --- the rules of a streaming insert that the BigQuery emulator does not enforce -----------

NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)


def _at(years: int, days: int = 0) -> str:
    return (NOW.replace(year=NOW.year + years) + datetime.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("ingested_at", "accepted"),
    [
        (NOW.isoformat(), True),
        (_at(-10), True),
        (_at(-10, days=-1), False),
        (_at(1), True),
        (_at(1, days=1), False),
    ],
)
def test_partition_window_of_streamed_rows(ingested_at, accepted):
    """Streaming into a partitioned table accepts a partitioning value from 10 years back to
    1 year ahead: cloud.google.com/bigquery/docs/streaming-data-into-bigquery ("Streaming into
    partitioned tables") and cloud.google.com/bigquery/docs/write-api ("Stream into
    partitions"). The emulator accepts any value."""
    row = {**rows.to_customer_row(USER), "ingested_at": ingested_at}
    errors = schema.insert_errors(row, schema.CUSTOMERS, now=NOW)
    assert (errors == []) is accepted
    if not accepted:
        assert errors == [
            f"ingested_at: partition {ingested_at[:10]} is outside the streaming window "
            "2016-06-15 to 2027-06-15 (10 years back, 1 ahead)"
        ]


def test_partition_window_follows_the_tables_partitioning_column():
    """Any table, any partitioning column (DATE too): the rule reads timePartitioning."""
    table = {
        "timePartitioning": {"type": "DAY", "field": "day"},
        "schema": {"fields": [{"name": "day", "type": "DATE", "mode": "NULLABLE"}]},
    }
    assert schema.insert_errors({"day": "2020-01-01"}, table, now=NOW) == []
    assert schema.insert_errors({"day": "2006-01-01"}, table, now=NOW) == [
        "day: partition 2006-01-01 is outside the streaming window 2016-06-15 to 2027-06-15 "
        "(10 years back, 1 ahead)"
    ]
    assert schema.insert_errors({"day": None}, table, now=NOW) == []  # the __NULL__ partition


def test_customers_registered_long_ago_are_rows():
    """randomuser.me registration dates go back about 20 years: never the partitioning column."""
    user = {**USER, "registered": {**USER["registered"], "date": "2004-03-01T10:00:00.000Z"}}
    row = rows.to_customer_row(user)
    assert schema.insert_errors(row, schema.CUSTOMERS) == []


# GoogleSQL data types: cloud.google.com/bigquery/docs/reference/standard-sql/data-types
@pytest.mark.parametrize(
    ("change", "error"),
    [
        # TIMESTAMP: 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC
        ({"registered_at": "0001-01-01T00:00:00Z"}, None),
        ({"registered_at": "9999-12-31T23:59:59.999999Z"}, None),
        ({"registered_at": "0001-01-01T00:30:00+01:00"}, "is not a valid TIMESTAMP"),
        ({"registered_at": "9999-12-31T23:30:00-01:00"}, "is not a valid TIMESTAMP"),
        # DATE: 0001-01-01 to 9999-12-31
        ({"date_of_birth": "0001-01-01"}, None),
        ({"date_of_birth": "9999-12-31"}, None),
        ({"date_of_birth": "0000-12-31"}, "is not a valid DATE"),
        # INT64: -2^63 to 2^63 - 1
        ({"street_number": 2**63 - 1}, None),
        ({"street_number": -(2**63) - 1}, "is not a valid INTEGER"),
        # FLOAT64 in a JSON row: a finite number
        ({"longitude": float("inf")}, "is not a valid FLOAT"),
        # REQUIRED: the emulator accepts NULL there, BigQuery does not
        ({"customer_id": None}, "customer_id: REQUIRED column is null"),
    ],
)
def test_value_ranges_and_modes(change, error):
    row = {**rows.to_customer_row(USER), **change}
    errors = schema.insert_errors(row, schema.CUSTOMERS)
    if error is None:
        assert errors == []
    else:
        assert len(errors) == 1
        assert error in errors[0]


def test_row_size_limit():
    """Streaming inserts: maximum row size and HTTP request size 10 MB
    (cloud.google.com/bigquery/quotas#streaming_inserts); Beam's sink refuses rows of 9 MiB and
    more (apache_beam/io/gcp/bigquery.py, MAX_INSERT_PAYLOAD_SIZE). Measured as the JSON sent."""
    row = rows.to_customer_row(USER)
    row["picture_url"] = "x" * (schema.MAX_STREAMING_ROW_BYTES - schema.json_size(row) + 51)
    assert schema.json_size(row) > schema.MAX_STREAMING_ROW_BYTES
    assert schema.insert_errors(row, schema.CUSTOMERS) == [
        f"row is {schema.json_size(row)} bytes as JSON; "
        f"the limit is {schema.MAX_STREAMING_ROW_BYTES}"
    ]
    row["picture_url"] = row["picture_url"][:-100]
    assert schema.insert_errors(row, schema.CUSTOMERS) == []


def test_the_largest_dead_letter_fits_a_streaming_insert():
    """Whatever the message (Pub/Sub's limits: 10 MB of data, 100 attributes of 256-byte keys
    and 1024-byte values), its dead letter fits: each byte that is not UTF-8 costs 6 bytes as
    JSON (a replacement character escaped as \\ufffd), so the payload is cut to fit."""
    attributes = {f"{index:03d}".ljust(256, "\x01"): "\x01" * 1024 for index in range(100)}
    letter = dead_letters.dead_letter(
        stage="parse",
        error="\x01" * 100_000,
        payload=b"\xff" * 10_000_000,
        attributes=attributes,
        message_id="1" * 100,
        stacktrace="\x01" * 100_000,
    )
    assert schema.insert_errors(letter, schema.CUSTOMERS_DLQ) == []
