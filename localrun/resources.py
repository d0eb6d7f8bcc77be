"""Topic, subscription, dataset, the tables and the views on the emulators.

The tables come from `pipeline/schemas/*.json` (via `pipeline.tables`) and the views from
`views/*.sql`, the files Terraform creates them from in the cloud.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from google.cloud import bigquery, pubsub_v1

import views
from pipeline import bigquery_client as bq
from pipeline.bigquery_client import SHORT_RETRY, TIMEOUT
from pipeline.tables import (
    CUSTOMERS,
    CUSTOMERS_DLQ,
    CUSTOMERS_DLQ_REPLAYS,
    ERASURE_REQUESTS,
    TABLES,
)


@dataclass(frozen=True)
class StackNames:
    """Names of every resource of one local stack (one test gets its own set)."""

    project: str = "local-project"
    topic: str = "customers"
    subscription: str = "customers-pipeline"
    dataset: str = "customer_stream"

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"

    def table(self, resource: dict) -> str:
        """`project.dataset.table` for a table resource such as `CUSTOMERS`: for SQL."""
        return f"{self.project}.{self.dataset}.{resource['tableReference']['tableId']}"

    def beam_table(self, resource: dict) -> str:
        """`project:dataset.table`: the form the pipeline's --output_table takes."""
        return f"{self.project}:{self.dataset}.{resource['tableReference']['tableId']}"

    def view(self, name: str) -> str:
        """`project.dataset.view` of one of `views.VIEWS`: for SQL."""
        return f"{self.project}.{self.dataset}.{name}"

    @property
    def customers(self) -> str:
        return self.table(CUSTOMERS)

    @property
    def customers_dlq(self) -> str:
        return self.table(CUSTOMERS_DLQ)

    @property
    def customers_dlq_replays(self) -> str:
        return self.table(CUSTOMERS_DLQ_REPLAYS)

    @property
    def erasure_requests(self) -> str:
        return self.table(ERASURE_REQUESTS)


def create_pubsub(names: StackNames) -> None:
    """Topic and the pipeline's subscription; needs PUBSUB_EMULATOR_HOST."""
    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise RuntimeError("PUBSUB_EMULATOR_HOST is not set: refusing to touch a real project")
    with pubsub_v1.PublisherClient() as publisher:  # type: ignore[attr-defined]
        publisher.create_topic(name=names.topic_path, retry=SHORT_RETRY, timeout=TIMEOUT)
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.create_subscription(
            name=names.subscription_path,
            topic=names.topic_path,
            ack_deadline_seconds=60,
            retry=SHORT_RETRY,
            timeout=TIMEOUT,
        )


def create_bigquery(client: bigquery.Client, names: StackNames) -> None:
    """Dataset, every table (partitioned and clustered as the schema files say) and the views."""
    client.create_dataset(names.dataset, exists_ok=True, retry=SHORT_RETRY, timeout=TIMEOUT)
    for resource in TABLES:
        table = bigquery.Table.from_api_repr(
            {
                **resource,
                "tableReference": {
                    "projectId": names.project,
                    "datasetId": names.dataset,
                    "tableId": resource["tableReference"]["tableId"],
                },
            }
        )
        client.create_table(table, exists_ok=True, retry=SHORT_RETRY, timeout=TIMEOUT)
    for name in views.VIEWS:
        view = bigquery.Table(names.view(name))
        view.view_query = views.render(name, names.project, names.dataset)
        view.description = views.description(name)
        client.create_table(view, exists_ok=True, retry=SHORT_RETRY, timeout=TIMEOUT)


def _columns(fields) -> list[tuple[str, str, str]]:
    return [(f.name, f.field_type, f.mode) for f in fields]


def update_tables(
    client: bigquery.Client, names: StackNames, resources: Sequence[dict] = TABLES
) -> list[str]:
    """Give each table of `names` the columns of its resource (a schema file, maybe of another
    tree), in place, as Terraform's update does in the cloud: BigQuery appends a new NULLABLE
    column and keeps every row, and refuses what it cannot change in place (a dropped or
    retyped column, a REQUIRED one added). The columns added, as `table.column`."""
    added = []
    for resource in resources:
        table = client.get_table(names.table(resource), retry=SHORT_RETRY, timeout=TIMEOUT)
        wanted = [bigquery.SchemaField.from_api_repr(f) for f in resource["schema"]["fields"]]
        if _columns(table.schema) == _columns(wanted):
            continue
        known = {field.name for field in table.schema}
        added += [f"{table.table_id}.{f.name}" for f in wanted if f.name not in known]
        table.schema = wanted
        client.update_table(table, ["schema"], retry=SHORT_RETRY, timeout=TIMEOUT)
    return added


def with_tables(sql: str, names: StackNames) -> str:
    """`sql` with `{customers}`, `{customers_dlq}`, `{customers_dlq_replays}`,
    `{erasure_requests}` and `{<view>}` (views/*.sql) replaced by the tables and views of
    `names`."""
    return sql.format(
        customers=f"`{names.customers}`",
        customers_dlq=f"`{names.customers_dlq}`",
        customers_dlq_replays=f"`{names.customers_dlq_replays}`",
        erasure_requests=f"`{names.erasure_requests}`",
        **{name: f"`{names.view(name)}`" for name in views.VIEWS},
    )


def query(client: bigquery.Client, sql: str, names: StackNames | None = None) -> list[bigquery.Row]:
    """Run `sql`, with the tables and views of `names` in place of `{customers}` and the like."""
    return bq.query(client, with_tables(sql, names) if names else sql, timeout=60)
