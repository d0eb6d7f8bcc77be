"""The pipeline's SDK workers inside the shipped image, as on Dataflow.

- The real graph (`pipeline.main.ingest`: parse -> dedupe -> write) runs on the FnApiRunner with
  an EXTERNAL environment: the image serving Beam's worker pool. Its DoFns are unpickled and run
  by the image's own Python and code, elements are encoded between stages, and the BigQuery sink
  writes into the BigQuery emulator.
- What Beam's boot decides before it starts a worker (apache/beam sdks/python/container/boot.go:
  `setupVenv` unless RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT is set, then `isPackageInstalled`,
  piputil.go: `python -m pip show apache-beam`) is reproduced inside the image.

The boot binary itself cannot be pulled here (see conftest.py): its remaining steps (artifact
retrieval, provisioning, starting `sdk_worker_main`) are not exercised.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.environments import ExternalEnvironment
from apache_beam.utils.timestamp import Timestamp

from contract import attributes_for, strip_credentials
from localrun.emulators import OFFLINE_AUTH_ENV
from localrun.resources import query
from pipeline import dead_letters, tables, timestamps
from pipeline.main import ingest
from pipeline.options import CustomerPipelineOptions
from pipeline.rows import Lineage, to_customer_row
from tests.support import FIXTURES, ROOT

pytestmark = pytest.mark.timeout(600)

USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]
BAD = {  # message id -> (fixture under tests/data/bad_messages, the stage it fails in)
    "bad-1": ("parse-binary_garbage.bin", "parse"),
    "bad-2": ("parse-invalid_utf8_inside_json.json", "parse"),
    "bad-3": ("validate-missing_uuid.json", "validate"),
    "bad-4": ("validate-registered_date_without_zone.json", "validate"),
}
PUBLISHED = Timestamp.from_rfc3339("2026-01-02T03:04:05.678Z")

# boot.go, step by step, in sh: the venv step unless the variable is set, then `pip show`.
BOOT_ENVIRONMENT = """
if [ -z "${RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT:-}" ]; then
  venv=/opt/apache/beam-venv/beam-venv-worker-1
  python -m venv --system-site-packages "$venv" || exit 10
  export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
fi
python -m pip show apache-beam >/dev/null || exit 11
python -c 'import apache_beam, pipeline.main; print(apache_beam.__version__)' || exit 12
"""


@pytest.mark.parametrize("variable", ["1", ""], ids=["default environment", "boot's own venv"])
def test_boot_environment_decision_finds_beam_and_the_pipeline(
    pipeline_image, docker_run, variable
):
    """Both of boot's paths: the image's interpreter (RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT, as
    the image sets it) and the venv boot makes without it, which sees the base interpreter's
    packages (--system-site-packages). An image whose dependencies only its own venv's python
    sees fails the second (exit 11)."""
    result = docker_run(
        "run", "--rm", "--env", f"RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT={variable}",
        "--entrypoint", "sh", pipeline_image, "-c", BOOT_ENVIRONMENT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    assert result.stdout.strip() == beam.__version__


# What the SDK harness does at start with --beam_plugins, which DataflowRunner fills with every
# loaded BeamPlugin (pipeline/row_weight.py): objsize's setting before and after.
PLUGIN_START = """
import objsize
from apache_beam.runners.worker.sdk_worker_main import _import_beam_plugins
before = objsize.default_settings.exclude_modules_globals
_import_beam_plugins(["pipeline.row_weight.RowWeight"])
print(before, objsize.default_settings.exclude_modules_globals)
"""


def test_worker_start_imports_the_row_weight_plugin(pipeline_image, docker_run):
    result = docker_run("run", "--rm", "--entrypoint", "python", pipeline_image, "-c", PLUGIN_START)
    assert result.stdout.split() == ["True", "False"], result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def worker_pool(pipeline_image, docker_run) -> Iterator[str]:
    """The image serving Beam's worker pool on the host network: its address."""
    port, name = _free_port(), f"worker-pool-{uuid.uuid4().hex[:8]}"
    docker_run(
        "run", "--detach", "--rm", "--name", name, "--network", "host",
        *(f"--env={key}={value}" for key, value in OFFLINE_AUTH_ENV.items()),
        "--entrypoint", "python", pipeline_image,
        "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                logs = docker_run("logs", name, check=False)
                assert time.monotonic() < deadline, f"no worker pool:\n{logs.stderr[-2000:]}"
                time.sleep(0.5)
        yield f"localhost:{port}"
    finally:
        docker_run("rm", "--force", name, check=False)


def _messages() -> list[PubsubMessage]:
    """The 10 users of a real API response, one duplicate, and four unusable messages."""
    messages = [
        PubsubMessage(
            json.dumps(strip_credentials(user)).encode(),
            attributes_for(user, "file"),
            message_id=f"user-{index}",
            publish_time=PUBLISHED,
        )
        for index, user in enumerate(USERS)
    ]
    first = messages[0]
    messages.append(PubsubMessage(first.data, first.attributes, "user-0-again", PUBLISHED))
    for message_id, (name, _) in BAD.items():
        data = (ROOT / "tests" / "data" / "bad_messages" / name).read_bytes()
        messages.append(PubsubMessage(data, {"source": "file"}, message_id, PUBLISHED))
    return messages


def _json_form(value, kind: str):
    """A value read back from BigQuery in the JSON form the pipeline wrote."""
    if value is None:
        return None
    if kind == "TIMESTAMP":
        return value.astimezone(UTC)
    if kind == "DATE":
        return value.isoformat() if isinstance(value, date) else value
    return value


def _expected(row: dict) -> dict:
    kinds = {field["name"]: field["type"] for field in tables.fields(tables.CUSTOMERS)}
    return {
        name: timestamps.parse_timestamp(value).astimezone(UTC)
        if kinds[name] == "TIMESTAMP" and value
        else value
        for name, value in row.items()
    }


def test_real_graph_runs_in_the_image_workers(worker_pool, fresh_resources):
    names = fresh_resources.names
    options = PipelineOptions(
        [
            f"--input_subscription={names.subscription_path}",
            f"--output_table={names.beam_table(tables.CUSTOMERS)}",
            f"--bigquery_endpoint={fresh_resources.bigquery_endpoint}",
            f"--project={names.project}",
        ]
    )
    runner = FnApiRunner(default_environment=ExternalEnvironment(worker_pool))
    started = datetime.now(UTC)
    with beam.Pipeline(runner=runner, options=options) as p:
        ingest(p | "Messages" >> beam.Create(_messages()), options.view_as(CustomerPipelineOptions))
        # Only the image has these: the DoFns run there, not in this process.
        where = p | "Variables" >> beam.Create(["PYTHONPATH"]) | beam.Map(os.getenv)
        assert_that(where, equal_to(["/template"]))
    assert os.environ.get("PYTHONPATH") != "/template"

    rows = query(fresh_resources.bigquery, "SELECT * FROM {customers}", names)
    kinds = {field["name"]: field["type"] for field in tables.fields(tables.CUSTOMERS)}
    got = {
        row["customer_id"]: {name: _json_form(row[name], kinds[name]) for name in kinds}
        for row in rows
    }
    assert len(rows) == len(USERS) == len(got)  # the duplicate was dropped
    for index, user in enumerate(USERS):
        expected = to_customer_row(
            strip_credentials(user),
            Lineage(message_id=f"user-{index}", publish_time=PUBLISHED, source="file"),
        )
        actual = got[expected["customer_id"]]
        assert started <= actual.pop("ingested_at") <= datetime.now(UTC)
        expected = _expected(expected)
        del expected["ingested_at"]
        if index == 0:  # either copy may be the first to reach DeduplicatePerKey
            assert actual.pop("message_id") in {"user-0", "user-0-again"}
            del expected["message_id"]
        assert actual == expected

    letters = query(
        fresh_resources.bigquery,
        "SELECT message_id, stage, payloadBytes FROM {customers_dlq}",
        names,
    )
    assert sorted((row["message_id"], row["stage"]) for row in letters) == sorted(
        (message_id, stage) for message_id, (_, stage) in BAD.items()
    )
    for row in letters:
        fixture = ROOT / "tests" / "data" / "bad_messages" / BAD[row["message_id"]][0]
        assert row["payloadBytes"] == dead_letters.redact_credentials(fixture.read_bytes())
