"""Topic, subscription, dataset, tables and views of a local stack, as the schema files say."""

from __future__ import annotations

import copy

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1

from localrun.resources import SHORT_RETRY, update_tables
from pipeline.tables import CUSTOMERS, TABLES, column_names


def test_tables_match_the_schema_files(fresh_resources):
    r = fresh_resources
    for resource in TABLES:
        table = r.bigquery.get_table(r.names.table(resource), retry=SHORT_RETRY)
        assert [f.to_api_repr()["name"] for f in table.schema] == [
            f["name"] for f in resource["schema"]["fields"]
        ]
        assert [(f.field_type, f.mode) for f in table.schema] == [
            (f["type"], f["mode"]) for f in resource["schema"]["fields"]
        ]
        assert table.time_partitioning.field == resource["timePartitioning"]["field"]


def test_topic_and_subscription_exist(fresh_resources):
    names = fresh_resources.names
    with pubsub_v1.SubscriberClient() as subscriber:
        subscription = subscriber.get_subscription(subscription=names.subscription_path)
    assert subscription.topic == names.topic_path


def _with_column(resource: dict, column: dict) -> dict:
    copied = copy.deepcopy(resource)
    copied["schema"]["fields"].append(column)
    return copied


def test_update_tables_adds_a_new_column_in_place_keeping_the_rows(fresh_resources):
    r = fresh_resources
    row = {**dict.fromkeys(column_names(CUSTOMERS)), "customer_id": "c-1"}
    assert r.bigquery.insert_rows_json(r.names.customers, [row], retry=SHORT_RETRY) == []
    assert update_tables(r.bigquery, r.names) == [], "the tables match their files already"
    widened = _with_column(CUSTOMERS, {"name": "loyalty_tier", "type": "STRING"})
    assert update_tables(r.bigquery, r.names, [widened]) == ["customers.loyalty_tier"]
    assert update_tables(r.bigquery, r.names, [widened]) == []
    table = r.bigquery.get_table(r.names.customers, retry=SHORT_RETRY)
    assert table.schema[-1].name == "loyalty_tier"
    stored = list(r.bigquery.list_rows(table))
    assert [(x["customer_id"], x["loyalty_tier"]) for x in stored] == [("c-1", None)]


def test_update_tables_refuses_what_bigquery_cannot_change_in_place(fresh_resources):
    r = fresh_resources
    narrowed = copy.deepcopy(CUSTOMERS)
    narrowed["schema"]["fields"].pop()
    with pytest.raises(exceptions.BadRequest, match="is missing in new schema"):
        update_tables(r.bigquery, r.names, [narrowed])
