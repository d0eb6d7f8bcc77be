"""Shared fixtures: real emulators on free ports, started once per session, always stopped.

- `pubsub_emulator`: gcloud's Pub/Sub emulator; sets PUBSUB_EMULATOR_HOST for the session.
- `bigquery_emulator`: bqemulator; `.endpoint` (http://127.0.0.1:PORT) and `.project`.
- `fresh_resources`: a new topic, subscription, dataset and both tables per test, on those two
  emulators (`.names`, `.bigquery` client, `.pubsub_address`, `.bigquery_endpoint`).
- `pubsub_topic`: a new topic with one subscription on the Pub/Sub emulator; with
  `tests.support.pull_messages` and `producer_summary` it is what the producer's tests check.
- `away_from_utc`: the process's time zone pinned to Asia/Kolkata (UTC+05:30) for one test.

Each test's tier (unit, integration, e2e, container, static, cloud) is its folder, set here once.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import bigquery, pubsub_v1

from localrun.emulators import OFFLINE_AUTH_ENV, start_bigquery_emulator, start_pubsub_emulator
from localrun.resources import StackNames, create_bigquery, create_pubsub
from pipeline import bigquery_client
from tests.support import TESTS

# The tiers, each a folder under tests/ and a marker: `pytest -m unit`, scripts/test.sh.
TIERS = {
    "unit": "no services",
    "integration": "real Pub/Sub and BigQuery emulators, started by fixtures",
    "e2e": "producer -> emulator -> pipeline subprocess -> BigQuery emulator",
    "container": "real docker build / docker run",
    "static": "hadolint, terraform fmt, checkov, yamllint, ruff",
    "cloud": "the real gcloud against local fakes of Google's APIs (tests/gcp_fakes)",
}

# No test may wait on the GCE metadata server.
os.environ.update(OFFLINE_AUTH_ENV)


def pytest_configure(config: pytest.Config) -> None:
    for tier, description in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {description}")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the folder it is in: `pytest -m unit` selects by it."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: not in a tier folder: {', '.join(TIERS)}")
        item.add_marker(tier)


@pytest.fixture(scope="session")
def emulator_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emulator-logs")


@pytest.fixture(scope="session")
def pubsub_emulator(emulator_log_dir):
    """The real Pub/Sub emulator; sets PUBSUB_EMULATOR_HOST for the client libraries."""
    emulator = start_pubsub_emulator(emulator_log_dir)
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.address
    try:
        yield emulator
    finally:
        emulator.stop()
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous


@pytest.fixture(scope="session")
def bigquery_emulator(emulator_log_dir):
    """The BigQuery emulator (bqemulator, in memory): `.endpoint`, `.project`."""
    emulator = start_bigquery_emulator(emulator_log_dir, project="local-project")
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass(frozen=True)
class Resources:
    names: StackNames
    bigquery: bigquery.Client
    pubsub_address: str
    bigquery_endpoint: str


@pytest.fixture
def fresh_resources(pubsub_emulator, bigquery_emulator) -> Resources:
    """A topic, subscription, dataset and both tables of this test's own."""
    suffix = uuid.uuid4().hex[:10]
    names = StackNames(
        project=bigquery_emulator.project,
        topic=f"customers-{suffix}",
        subscription=f"customers-pipeline-{suffix}",
        dataset=f"test_{suffix}",
    )
    create_pubsub(names)
    client = bigquery_client.client(names.project, bigquery_emulator.endpoint)
    create_bigquery(client, names)
    return Resources(names, client, pubsub_emulator.address, bigquery_emulator.endpoint)


@pytest.fixture
def pubsub_topic(pubsub_emulator):
    """A fresh topic with one subscription: (topic path, subscription path); deleted afterwards."""
    name = f"customers-{uuid.uuid4().hex[:8]}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic_path = publisher.topic_path("test-project", name)
    subscription = subscriber.subscription_path("test-project", name)
    publisher.create_topic(name=topic_path)
    subscriber.create_subscription(name=subscription, topic=topic_path, ack_deadline_seconds=60)
    yield topic_path, subscription
    subscriber.delete_subscription(subscription=subscription)
    publisher.delete_topic(topic=topic_path)
    subscriber.close()


@pytest.fixture
def away_from_utc(monkeypatch):
    """The host's time zone pinned 5 h 30 away from UTC: these machines run in UTC, where
    reading a time as local or as UTC gives the same answer and a mix-up cannot show."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    assert time.timezone == -(5 * 3600 + 30 * 60)
    yield
    monkeypatch.undo()
    time.tzset()
