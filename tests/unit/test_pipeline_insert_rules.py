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
    row["picture_url"] = ""
    row["picture_url"] = "x" * (tables.MAX_STREAMING_ROW_BYTES - tables.json_size(row))
    assert tables.json_size(row) == tables.MAX_STREAMING_ROW_BYTES
    assert insert_rules.insert_errors(row, tables.CUSTOMERS) == []


# Each GoogleSQL type under both of its names (legacy and standard SQL, both of which a
# schema may use), with values of the JSON form insert_rows_json sends that BigQuery takes and
# refuses: cloud.google.com/bigquery/docs/reference/standard-sql/data-types.
TYPE_VALUES = {
    ("STRING",): (["", "caf\u00e9"], ["\ud800", 1, None]),
    ("INTEGER", "INT64"): ([0, 2**63 - 1, -(2**63)], [2**63, -(2**63) - 1, True, "1", 1.0]),
    ("FLOAT", "FLOAT64"): ([1.5, -2, 0.0], [float("inf"), float("nan"), True, "1.5"]),
    ("BOOLEAN", "BOOL"): ([True, False], [1, "true"]),
    ("DATE",): (["2024-02-29", "0001-01-01"], ["2023-02-29", "2024-1-01", 20240101]),
    ("TIMESTAMP",): (["2024-01-01T00:00:00Z"], ["2024-01-01T00:00:00", 5]),
    ("BYTES",): (["YWJj", ""], ["YWJj!", b"YWJj", 5]),
}


@pytest.mark.parametrize(
    ("kind", "value", "valid"),
    [
        (kind, value, valid)
        for kinds, (good, bad) in TYPE_VALUES.items()
        for kind in kinds
        for valid, values in ((True, good), (False, bad))
        for value in values
    ],
)
def test_each_type_takes_its_values_and_refuses_the_rest(kind, value, valid):
    errors = insert_rules.row_errors(
        {"c": value}, [{"name": "c", "type": kind, "mode": "REQUIRED"}]
    )
    if valid:
        assert errors == []
    elif value is None:
        assert errors == ["c: REQUIRED column is null"]
    else:
        assert errors == [f"c: {value!r:.80} is not a valid {kind}"]


def test_a_type_the_rules_do_not_know_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match=r"^unsupported column type GEOGRAPHY$"):
        insert_rules.row_errors({"c": "POINT(0 0)"}, [{"name": "c", "type": "GEOGRAPHY"}])


def _record(kind: str) -> dict:
    return {
        "name": "r",
        "type": kind,
        "mode": "REPEATED",
        "fields": [{"name": "k", "type": "STRING", "mode": "REQUIRED"}],
    }


@pytest.mark.parametrize(
    ("row", "errors"),
    [
        ({"r": [{"k": "a"}, {"k": "b"}]}, []),
        ({"r": []}, []),
        ({"r": None}, ["r: REPEATED column is null"]),  # strict: a list, maybe empty
        ({}, ["r: missing"]),
        ({"r": {"k": "a"}}, ["r: REPEATED column is not a list"]),
        ({"r": [{"k": "a"}, ["k"]]}, ["r: expected an object, got list"]),
        ({"r": [{"k": None}, {}]}, ["r: k: REQUIRED column is null", "r: k: missing"]),
        ({"r": [{"k": "a", "x": 1}]}, ["r: x: not a column"]),
        ({"r": [{"k": None, "x": 1}]}, ["r: x: not a column; k: REQUIRED column is null"]),
        ({"r": [], "s": 1}, ["s: not a column"]),
    ],
)
def test_repeated_records_are_checked_element_by_element(row, errors):
    for kind in ("RECORD", "STRUCT"):
        assert insert_rules.row_errors(row, [_record(kind)]) == errors


def test_a_field_without_a_mode_is_nullable():
    """BigQuery's default mode: cloud.google.com/bigquery/docs/schemas#modes."""
    assert insert_rules.row_errors({"c": None}, [{"name": "c", "type": "STRING"}]) == []


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ({"schema": {"fields": [{"name": "day", "type": "DATE"}]}}, {"day": "1990-01-01"}),
        (
            {
                "timePartitioning": {"type": "DAY"},
                "schema": {"fields": [{"name": "day", "type": "DATE"}]},
            },
            {"day": "1990-01-01"},
        ),
        (
            {
                "timePartitioning": {"type": "DAY", "field": "at"},
                "schema": {"fields": [{"name": "at", "type": "TIMESTAMP"}]},
            },
            {"at": "yesterday"},
        ),
    ],
    ids=["not partitioned", "ingestion-time partitioning", "a value that is no timestamp"],
)
def test_no_partition_error_without_a_partitioning_value(table, row):
    assert insert_rules.partition_error(row, table, NOW) is None


def test_a_timestamp_partition_falls_on_its_utc_day(away_from_utc):
    """00:30 at +05:30 on the first day of the window is still the day before in UTC."""
    table = {
        "timePartitioning": {"type": "DAY", "field": "at"},
        "schema": {"fields": [{"name": "at", "type": "TIMESTAMP"}]},
    }
    assert insert_rules.partition_error({"at": "2016-06-15T05:30:00+05:30"}, table, NOW) is None
    assert insert_rules.partition_error({"at": "2016-06-15T05:29:59+05:30"}, table, NOW) == (
        "at: partition 2016-06-14 is outside the streaming window 2016-06-15 to 2027-06-15 "
        "(10 years back, 1 ahead)"
    )


def test_parse_date_takes_only_the_canonical_form():
    assert insert_rules.parse_date("2024-02-29") == datetime.date(2024, 2, 29)
    with pytest.raises(ValueError, match=r"^not a YYYY-MM-DD date: '2024-2-29'$"):
        insert_rules.parse_date("2024-2-29")
