"""The pipeline image: Flex Template launcher image and Dataflow SDK container in one.

Exercised here: the dependencies (`pip check`), the launcher's entry file, `--help`, a short
streaming run of the image's own Python and code on Beam's direct runner against the emulators,
and replay/README's `docker run ... IMAGE -m replay` as typed, with the mounted gcloud
configuration's Application Default Credentials.
Not exercised offline: Google's template launcher and Beam's boot binary (see conftest.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from contract import attributes_for, strip_credentials
from localrun.emulators import OFFLINE_AUTH_ENV
from localrun.resources import SHORT_RETRY, query
from localrun.stack import counts, pipeline_argv
from pipeline import dead_letters
from tests.cloud.cloud_support import Cloud, emulate, terraform_outputs
from tests.gcp_fakes import FakeGoogle
from tests.support import FIXTURES, ROOT, pull_messages


def image_config(docker_run, image: str) -> dict:
    return json.loads(docker_run("image", "inspect", "--format", "{{json .Config}}", image).stdout)


def test_dependencies_are_consistent(pipeline_image, docker_run):
    result = docker_run("run", "--rm", "--entrypoint", "pip", pipeline_image, "check", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_flex_template_entry_file_runs_the_pipeline(pipeline_image, docker_run):
    """The launcher runs `python $FLEX_TEMPLATE_PYTHON_PY_FILE ARGS`: do exactly that."""
    env = dict(item.split("=", 1) for item in image_config(docker_run, pipeline_image)["Env"])
    # Nothing may be pip-installed at launch: no requirements or setup file for the launcher.
    assert "FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE" not in env
    assert "FLEX_TEMPLATE_PYTHON_SETUP_FILE" not in env
    launch = (
        'test -f "$FLEX_TEMPLATE_PYTHON_PY_FILE" && python "$FLEX_TEMPLATE_PYTHON_PY_FILE" --help'
    )
    result = docker_run("run", "--rm", "--entrypoint", "sh", pipeline_image, "-c", launch)
    assert "--input_subscription" in result.stdout
    assert "--output_table" in result.stdout


# The Flex Template launcher is closed source: which `python` it runs is not documented, nor the
# environment it gives it. Every name it could use must be an interpreter that holds the
# pipeline's dependencies, as in Google's tested layout (python-docs-samples dataflow/
# flex-templates/pipeline_with_dependencies: everything installed into the base interpreter).
LAUNCHER_PYTHONS = ("python", "python3", "/usr/local/bin/python")
MINIMAL_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.mark.parametrize("python", LAUNCHER_PYTHONS)
def test_every_python_the_launcher_may_run_runs_the_pipeline(pipeline_image, docker_run, python):
    """With the image's environment, and with none but a default PATH (from /, no PYTHONPATH):
    `PYTHON $FLEX_TEMPLATE_PYTHON_PY_FILE --help`, the imports, and Beam boot's `pip show`."""
    entry = "/template/main.py"
    checks = {
        "image environment": f'{python} "$FLEX_TEMPLATE_PYTHON_PY_FILE" --help',
        "imports": f"{python} -c 'import apache_beam, google.cloud.bigquery, pipeline.main'",
        "boot's check": f"{python} -m pip show apache-beam >/dev/null && echo --output_table",
        "no environment": f"cd / && env -i {MINIMAL_PATH} {python} {entry} --help",
    }
    for what, command in checks.items():
        result = docker_run(
            "run", "--rm", "--entrypoint", "sh", pipeline_image, "-c", command, check=False
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{python}, {what}: exit {result.returncode}\n{output}"
        if "--help" in command or "echo" in command:
            assert "--output_table" in result.stdout, f"{python}, {what}:\n{output}"


def test_help(pipeline_image, docker_run):
    result = docker_run(
        "run", "--rm", "--entrypoint", "python", pipeline_image, "-m", "pipeline", "--help"
    )
    for option in ("--input_subscription", "--input_topic", "--output_table", "--dlq_table"):
        assert option in result.stdout


def test_sdk_container_layout(pipeline_image, docker_run):
    """Entrypoint and binaries where Dataflow expects them (offline: placeholders, see conftest)."""
    assert image_config(docker_run, pipeline_image)["Entrypoint"] == ["/opt/apache/beam/boot"]
    docker_run(
        "run", "--rm", "--entrypoint", "test", pipeline_image,
        "-x", "/opt/apache/beam/boot", "-a", "-x", "/opt/google/dataflow/python_template_launcher",
    )  # fmt: skip


def publish_fixture_users(topic_path: str) -> int:
    """The 100 real API users of one fixture (without credentials) plus one unusable message."""
    users = json.loads((FIXTURES / "03_api_results100_seed_kbs.json").read_text())["results"]
    publisher = pubsub_v1.PublisherClient()
    try:
        futures = [
            publisher.publish(
                topic_path, json.dumps(strip_credentials(u)).encode(), **attributes_for(u, "file")
            )
            for u in users
        ]
        futures.append(publisher.publish(topic_path, b"this is not JSON", source="file"))
        for future in futures:
            future.result(timeout=30)
    finally:
        publisher.stop()
    return len(users)


def test_streaming_run_on_the_emulators(pipeline_image, fresh_resources, docker_run):
    names = fresh_resources.names
    name = f"pipeline-test-{uuid.uuid4().hex[:8]}"
    env = {**OFFLINE_AUTH_ENV, "PUBSUB_EMULATOR_HOST": fresh_resources.pubsub_address}
    # the image holds the pipeline package only; drop the host's python
    args = pipeline_argv(names, fresh_resources.bigquery_endpoint, module="pipeline")[1:]
    docker_run(
        "run", "--detach", "--name", name, "--network", "host",
        *(f"--env={key}={value}" for key, value in env.items()),
        "--entrypoint", "python", pipeline_image, *args,
    )  # fmt: skip
    try:
        expected = publish_fixture_users(names.topic_path)
        deadline = time.monotonic() + 240
        while (
            now := counts(fresh_resources.bigquery, names)
        ).rows < expected or not now.dead_letters:
            running = docker_run("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
            logs = docker_run("logs", "--tail", "30", name).stderr
            assert running == "true", f"the pipeline container exited:\n{logs}"
            assert time.monotonic() < deadline, f"only {now} after 240 s:\n{logs}"
            time.sleep(1)
        assert (now.rows, now.dead_letters) == (expected, 1)
    finally:
        docker_run("rm", "--force", name, check=False)


def documented_replay() -> str:
    """replay/README's command for the replay from the pipeline image, as the README has it."""
    readme = (ROOT / "replay" / "README.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"`(docker run [^`]*-m replay [^`]*)`", readme)
    return command


@pytest.fixture
def operator(tmp_path, pubsub_emulator, bigquery_emulator):
    """A user's HOME whose gcloud configuration holds Application Default Credentials (a
    service-account key the OAuth fake exchanges, cloud_support's `aim_client_libraries`), and
    the data `make infra` would hold, on the emulators."""
    with FakeGoogle() as google:
        cloud = Cloud(google, tmp_path)
        emulated = emulate(cloud, pubsub_emulator.address, bigquery_emulator.endpoint)
        emulated.aim_client_libraries(cloud)
        adc = tmp_path / ".config" / "gcloud" / "application_default_credentials.json"
        adc.parent.mkdir(parents=True)
        adc.write_bytes(Path(cloud.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_bytes())
        try:
            yield cloud, emulated
        finally:
            emulated.delete()


def test_replay_from_the_image_as_documented(pipeline_image, operator):
    """replay/README "In the cloud": `docker run --rm --entrypoint python -v
    $HOME/.config/gcloud:/root/.config/gcloud:ro IMAGE -m replay ...` as typed, with only IMAGE,
    $HOME and the `...` values filled in. What the test adds, and a user in the cloud does not
    need: `--network host` and the client libraries' own emulator variables (the emulators and
    the OAuth fake listen on the host's 127.0.0.1). google-auth finds the mounted
    `application_default_credentials.json` at root's well-known path
    (https://cloud.google.com/docs/authentication/application-default-credentials#personal)."""
    cloud, emulated = operator
    names, outputs = emulated.names, terraform_outputs()
    user = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
    payload = dead_letters.redact_credentials(json.dumps(user).encode())
    letter = dead_letters.dead_letter(
        stage="validate", error="registered.date is missing", payload=payload,
        attributes={"source": "randomuser"}, message_id="m-1",
        now=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    errors = emulated.bigquery.insert_rows_json(names.customers_dlq, [letter], retry=SHORT_RETRY)
    assert not errors
    test_only = " ".join(
        f"-e {name}={cloud.env[name]}"
        for name in ("PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST")
    )
    command = (
        documented_replay()
        .replace("docker run ", f"docker run --network host {test_only} ", 1)
        .replace("$HOME", str(cloud.home))
        .replace(" IMAGE ", f" {pipeline_image} ")
        .replace("--topic=...", f"--topic={outputs['topic']}")
        .replace("--dlq-table=...", f"--dlq-table={outputs['dlq_table']}")
    )
    assert "..." not in command, command

    def run(line: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", line], capture_output=True, text=True, timeout=120, check=False
        )

    dry = run(command)
    assert dry.returncode == 0, f"{command}\n{dry.stdout}{dry.stderr}"
    assert "dry run: nothing published" in dry.stdout, dry.stdout
    assert pull_messages(names.subscription_path, at_least=0) == []
    replays = f"SELECT message_id, replay_message_id FROM `{names.customers_dlq_replays}`"
    assert query(emulated.bigquery, replays) == []

    done = run(command + " --execute")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published 1/1 to {names.topic_path} with replay_of" in done.stdout, done.stdout
    (message,) = pull_messages(names.subscription_path, at_least=1, timeout=30)
    assert message.data == payload
    assert dict(message.attributes) == {"source": "randomuser", "replay_of": "m-1"}
    ((replayed, sent_as),) = query(emulated.bigquery, replays)
    assert (replayed, sent_as) == ("m-1", message.message_id)
    assert cloud.google.oauth.scopes  # the mounted credentials' token, exchanged as on Google
