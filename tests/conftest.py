"""Shared fixtures: real emulators on free ports, started once per session, always stopped.

- `pubsub_emulator`: gcloud's Pub/Sub emulator; sets PUBSUB_EMULATOR_HOST for the session.
- `bigquery_emulator`: bqemulator; `.endpoint` (http://127.0.0.1:PORT) and `.project`.
- `fresh_resources`: a new topic, subscription, dataset and both tables per test, on those two
  emulators (`.names`, `.bigquery` client, `.pubsub_address`, `.bigquery_endpoint`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import bigquery

from localrun.emulators import OFFLINE_AUTH_ENV, start_bigquery_emulator, start_pubsub_emulator
from localrun.resources import StackNames, bigquery_client, create_bigquery, create_pubsub

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data" / "randomuser"

# No test may wait on the GCE metadata server.
os.environ.update(OFFLINE_AUTH_ENV)


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
    client = bigquery_client(bigquery_emulator.endpoint, names.project)
    create_bigquery(client, names)
    return Resources(names, client, pubsub_emulator.address, bigquery_emulator.endpoint)
