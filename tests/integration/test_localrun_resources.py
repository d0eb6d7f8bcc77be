"""Topic, subscription, dataset, tables and views of a local stack, as the schema files say."""

from __future__ import annotations

from google.cloud import pubsub_v1

from localrun.resources import SHORT_RETRY
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
