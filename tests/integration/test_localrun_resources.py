"""Topic, subscription, dataset and tables come from the schema files; the summary reads them."""

from __future__ import annotations

import datetime as dt

import pytest
from google.cloud import pubsub_v1

from contract import CREDENTIAL_FIELDS
from localrun.bad_messages import DEFECTS, bad_messages
from localrun.resources import SHORT_RETRY
from localrun.stack import Counts, counts
from localrun.summary import collect, render
from pipeline.tables import TABLES


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


def test_summary_counts_stages_countries_and_latency(fresh_resources):
    r = fresh_resources
    published = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    rows = [
        {
            "customer_id": f"c{i}",
            "country": "Norway" if i < 3 else "Brazil",
            "publish_time": published.isoformat(),
            "ingested_at": (published + dt.timedelta(seconds=i + 1)).isoformat(),
        }
        for i in range(4)
    ]
    letters = [
        {"timestamp": published.isoformat(), "stage": stage, "errorMessage": "x"}
        for stage in ("parse", "validate", "validate")
    ]
    assert not r.bigquery.insert_rows_json(r.names.customers, rows, retry=SHORT_RETRY)
    assert not r.bigquery.insert_rows_json(r.names.customers_dlq, letters, retry=SHORT_RETRY)

    assert counts(r.bigquery, r.names) == Counts(4, 3)
    summary = collect(r.bigquery, r.names)
    assert summary.rows == summary.distinct_customers == 4
    assert summary.dead_letters_by_stage == {"parse": 1, "validate": 2}
    assert summary.top_countries == [("Norway", 3), ("Brazil", 1)]
    assert summary.latency_p50_ms == pytest.approx(2500)
    assert "p50 2.50s" in render(summary)


def test_bad_messages_are_distinct_cover_every_defect_and_hold_no_credential():
    messages = list(bad_messages(2 * len(DEFECTS)))
    assert len({m.data for m in messages}) == len(messages)
    assert {m.kind for m in messages} == set(DEFECTS)
    for message in messages:
        assert not any(f'"{key}"'.encode() in message.data for key in CREDENTIAL_FIELDS)
