"""The schema files are the one source of truth of the tables, in the form BigQuery takes."""

import datetime
import json

import pytest

from pipeline import tables
from tests.support import ROOT


@pytest.mark.parametrize("table", tables.TABLES)
def test_schema_files_are_bigquery_table_resources(table):
    name = table["tableReference"]["tableId"]
    on_disk = json.loads((ROOT / "pipeline" / "schemas" / f"{name}.json").read_text())
    assert table == on_disk
    assert table["timePartitioning"]["field"] in tables.column_names(table)
    for column in table.get("clustering", {}).get("fields", []):
        assert column in tables.column_names(table)
    assert len(set(tables.column_names(table))) == len(tables.column_names(table))


def test_every_schema_file_is_a_table():
    files = {path.stem for path in (ROOT / "pipeline" / "schemas").glob("*.json")}
    files.remove("classification")  # which columns are personal: test_pipeline_classification.py
    assert files == {table["tableReference"]["tableId"] for table in tables.TABLES}


def test_no_column_can_hold_a_credential():
    for table in tables.TABLES:
        names = {name.lower() for name in tables.column_names(table)}
        assert not names & {"password", "salt", "md5", "sha1", "sha256"}


def test_table_options_and_schema_for_write_to_bigquery():
    assert tables.table_options(tables.CUSTOMERS) == {
        "timePartitioning": {"type": "DAY", "field": "ingested_at"},
        "clustering": {"fields": ["country", "state", "gender"]},
    }
    assert tables.bigquery_schema(tables.CUSTOMERS_DLQ)["fields"] == tables.fields(
        tables.CUSTOMERS_DLQ
    )


@pytest.mark.parametrize("table", tables.TABLES)
def test_load_table_reads_the_schema_file(table):
    name = table["tableReference"]["tableId"]
    on_disk = json.loads((ROOT / "pipeline" / "schemas" / f"{name}.json").read_text())
    assert tables.load_table(name) == on_disk


@pytest.mark.parametrize(
    ("today", "window"),
    [
        (datetime.date(2026, 12, 6), (datetime.date(2016, 12, 6), datetime.date(2027, 12, 6))),
        (datetime.date(2024, 2, 29), (datetime.date(2014, 2, 28), datetime.date(2025, 2, 28))),
        (datetime.date(2028, 2, 29), (datetime.date(2018, 2, 28), datetime.date(2029, 2, 28))),
    ],
)
def test_the_streaming_window_is_10_years_back_and_1_ahead(today, window):
    """BigQuery's window for a streamed row's partition (pipeline/tables.py cites it); a 29
    February moves to the 28th in a year without one."""
    assert tables.streaming_window.__wrapped__(today) == window


def test_the_window_is_taken_on_the_utc_day(away_from_utc):
    """Just after midnight in Kolkata it is still the day before in UTC."""
    kolkata = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    now = datetime.datetime(2026, 12, 7, 0, 30, tzinfo=kolkata)  # 2026-12-06 19:00 UTC
    assert tables.partition_error_of_day("d", datetime.date(2016, 12, 6), now) is None
    assert tables.partition_error_of_day("d", datetime.date(2016, 12, 5), now) == (
        "d: partition 2016-12-05 is outside the streaming window 2016-12-06 to 2027-12-06 "
        "(10 years back, 1 ahead)"
    )
