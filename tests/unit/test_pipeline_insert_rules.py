"""pipeline/insert_rules.py: each documented rule of a streaming insert (the strict layer's
rules, and the replay's check of a `write` dead letter's row)."""

import datetime
import json

import pytest

from pipeline import dead_letters, insert_rules, rows, tables
from tests.support import FIXTURES

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]


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
    errors = insert_rules.row_errors(row, tables.fields(tables.CUSTOMERS))
    assert len(errors) == 1
    assert error in errors[0]


def test_row_errors_reports_missing_columns_and_bad_records():
    row = rows.to_customer_row(USER)
    del row["email"]
    assert insert_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == ["email: missing"]
    letter = dead_letters.dead_letter(stage="write", error="x", payload=b"{}")
    letter["attributes"] = [{"key": "a", "value": 1}]
    letter["payloadBytes"] = "not base64!"
    errors = insert_rules.row_errors(letter, tables.fields(tables.CUSTOMERS_DLQ))
    assert errors == [
        "payloadBytes: 'not base64!' is not a valid BYTES",
        "attributes: value: 1 is not a valid STRING",
    ]


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
    errors = insert_rules.insert_errors(row, tables.CUSTOMERS, now=NOW)
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
    assert insert_rules.insert_errors({"day": "2020-01-01"}, table, now=NOW) == []
    assert insert_rules.insert_errors({"day": "2006-01-01"}, table, now=NOW) == [
        "day: partition 2006-01-01 is outside the streaming window 2016-06-15 to 2027-06-15 "
        "(10 years back, 1 ahead)"
    ]
    # the __NULL__ partition
    assert insert_rules.insert_errors({"day": None}, table, now=NOW) == []


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
    errors = insert_rules.insert_errors(row, tables.CUSTOMERS)
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
    row["picture_url"] = "x" * (tables.MAX_STREAMING_ROW_BYTES - tables.json_size(row) + 51)
    assert tables.json_size(row) > tables.MAX_STREAMING_ROW_BYTES
    assert insert_rules.insert_errors(row, tables.CUSTOMERS) == [
        f"row is {tables.json_size(row)} bytes as JSON; "
        f"the limit is {tables.MAX_STREAMING_ROW_BYTES}"
    ]
    row["picture_url"] = row["picture_url"][:-100]
    assert insert_rules.insert_errors(row, tables.CUSTOMERS) == []
