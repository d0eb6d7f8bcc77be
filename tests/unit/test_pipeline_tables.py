"""The schema files are the one source of truth of the tables, in the form BigQuery takes."""

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
