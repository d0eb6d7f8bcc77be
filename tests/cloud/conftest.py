"""The cloud tier's fixture: `cloud`, the fakes of Google's APIs and the real gcloud aimed at them.

Each test gets its own fakes (tests/gcp_fakes) and its own throwaway gcloud configuration and
HOME (`cloud.env`); `cloud.run("make deploy PROJECT=...")` runs a command as typed. The test
fails when gcloud is not installed (with how to install it), and when any request reached an
API no fake serves. `emulated` adds the data plane: the topic, subscription and tables on the
real Pub/Sub and BigQuery emulators (tests/conftest.py starts them once per run), and bq
pointed at them (cloud_support.emulate; `.aim_client_libraries(cloud)` points the Python
clients too).
"""

from __future__ import annotations

import shutil

import pytest

from tests.cloud.cloud_support import Cloud, emulate
from tests.gcp_fakes import FakeGoogle
from tests.gcp_fakes.schema import INSTALL_GCLOUD


@pytest.fixture
def cloud(tmp_path):
    if shutil.which("gcloud") is None:
        pytest.fail(INSTALL_GCLOUD, pytrace=False)
    with FakeGoogle() as google:
        yield Cloud.start(google, tmp_path)
        unfaked = google.unfaked()
        assert not unfaked, "requests to APIs no fake serves:\n" + "\n".join(
            str(record.request) for record in unfaked
        )


@pytest.fixture
def emulated(cloud, pubsub_emulator, bigquery_emulator):
    data = emulate(cloud, pubsub_emulator.address, bigquery_emulator.endpoint)
    yield data
    data.delete()
