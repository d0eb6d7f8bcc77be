"""The schema files are the one source of truth, and the row builders emit exactly them."""

import json

import pytest

from pipeline import schema, transforms
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


@pytest.mark.parametrize("table", [schema.CUSTOMERS, schema.CUSTOMERS_DLQ])
def test_schema_files_are_bigquery_table_resources(table):
    name = table["tableReference"]["tableId"]
    on_disk = json.loads((ROOT / "pipeline" / "schemas" / f"{name}.json").read_text())
    assert table == on_disk
    assert table["timePartitioning"]["field"] in schema.column_names(table)
    for column in table.get("clustering", {}).get("fields", []):
        assert column in schema.column_names(table)
    assert len(set(schema.column_names(table))) == len(schema.column_names(table))


def test_no_column_can_hold_a_credential():
    for table in (schema.CUSTOMERS, schema.CUSTOMERS_DLQ):
        names = {name.lower() for name in schema.column_names(table)}
        assert not names & {"password", "salt", "md5", "sha1", "sha256"}


def test_customer_row_has_exactly_the_schema_columns_and_types():
    row = transforms.to_customer_row(
        USER, message_id="7", publish_time="2024-05-01T10:00:00.123456Z", source="fake"
    )
    fields = schema.fields(schema.CUSTOMERS)
    assert list(row) == [field["name"] for field in fields]
    for field in fields:
        value = row[field["name"]]
        assert value is not None, f"{field['name']} is empty for a complete user"
        assert type(value) is PYTHON_TYPES[field["type"]], field["name"]
    assert schema.row_errors(row, fields) == []


def test_dead_letter_has_exactly_the_schema_columns_and_types():
    letter = transforms.dead_letter(
        stage="parse",
        error="payload is not JSON",
        payload=b"\xffnot json",
        attributes={"source": "file"},
        message_id="9",
        publish_time="2024-05-01T10:00:00Z",
        stacktrace="Traceback ...",
    )
    fields = schema.fields(schema.CUSTOMERS_DLQ)
    assert list(letter) == [field["name"] for field in fields]
    for field in fields:
        assert type(letter[field["name"]]) is PYTHON_TYPES[field["type"]], field["name"]
    assert schema.row_errors(letter, fields) == []


def test_row_builder_output_is_json_serialisable_for_insert_rows_json():
    row = transforms.to_customer_row(USER)
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
    row = {**transforms.to_customer_row(USER), **change}
    errors = schema.row_errors(row, schema.fields(schema.CUSTOMERS))
    assert len(errors) == 1
    assert error in errors[0]


def test_row_errors_reports_missing_columns_and_bad_records():
    row = transforms.to_customer_row(USER)
    del row["email"]
    assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == ["email: missing"]
    letter = transforms.dead_letter(stage="write", error="x", payload=b"{}")
    letter["attributes"] = [{"key": "a", "value": 1}]
    letter["payloadBytes"] = "not base64!"
    errors = schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ))
    assert errors == [
        "payloadBytes: 'not base64!' is not a valid BYTES",
        "attributes: value: 1 is not a valid STRING",
    ]


def test_table_options_and_schema_for_write_to_bigquery():
    assert schema.table_options(schema.CUSTOMERS) == {
        "timePartitioning": {"type": "DAY", "field": "registered_at"},
        "clustering": {"fields": ["country"]},
    }
    assert schema.bigquery_schema(schema.CUSTOMERS_DLQ)["fields"] == schema.fields(
        schema.CUSTOMERS_DLQ
    )
