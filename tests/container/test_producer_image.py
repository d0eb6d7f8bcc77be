"""The producer image as users run it: `docker run` against Pub/Sub (here the real emulator)."""

from __future__ import annotations

import json

from testcontainers.core.container import DockerContainer

from contract import ATTR_CUSTOMER_ID, CREDENTIAL_FIELDS
from localrun.emulators import OFFLINE_AUTH_ENV
from tests.support import producer_summary, pull_messages


def producer_container(image: str, emulator_address: str, *args: str) -> DockerContainer:
    container = DockerContainer(image).with_command(["--log-format=json", *args])
    for key, value in {**OFFLINE_AUTH_ENV, "PUBSUB_EMULATOR_HOST": emulator_address}.items():
        container = container.with_env(key, value)
    return container.with_kwargs(network_mode="host")  # reaches the emulator on 127.0.0.1


def test_runs_as_non_root(producer_image, docker_run):
    config = json.loads(
        docker_run("image", "inspect", "--format", "{{json .Config}}", producer_image).stdout
    )
    assert config["User"] not in ("", "0", "root", "0:0")
    assert config["Entrypoint"] == ["python", "-m", "producer"]  # exec form: PID 1 gets SIGTERM
    assert (
        docker_run("run", "--rm", "--entrypoint", "id", producer_image, "-u").stdout.strip() != "0"
    )


def test_image_has_no_beam_and_no_pip(producer_image, docker_run):
    probe = (
        "import importlib.util as u; print([m for m in ('apache_beam', 'pip') if u.find_spec(m)])"
    )
    result = docker_run("run", "--rm", "--entrypoint", "python", producer_image, "-c", probe)
    assert result.stdout.strip() == "[]"


def test_n_customers_arrive(producer_image, pubsub_emulator, pubsub_topic):
    topic_path, subscription = pubsub_topic
    count = 300
    container = producer_container(
        producer_image,
        pubsub_emulator.address,
        f"--topic={topic_path}",
        "--source=fake",
        f"--count={count}",
        "--rate=0",
        "--seed=7",
    )
    with container:
        wrapped = container.get_wrapped_container()
        exit_code = wrapped.wait(timeout=120)["StatusCode"]
        logs = wrapped.logs().decode()
    assert exit_code == 0, logs[-2000:]
    assert producer_summary(logs)["published"] == count

    messages = pull_messages(subscription, at_least=count)
    ids = {m.attributes[ATTR_CUSTOMER_ID] for m in messages}
    assert len(ids) == count
    for message in messages:
        login = json.loads(message.data)["login"]
        assert not set(CREDENTIAL_FIELDS) & set(login)


def test_docker_stop_flushes_and_exits_zero(
    producer_image, pubsub_emulator, pubsub_topic, docker_run
):
    topic_path, subscription = pubsub_topic
    container = producer_container(
        producer_image,
        pubsub_emulator.address,
        f"--topic={topic_path}",
        "--source=fake",
        "--count=0",
        "--rate=200",
    )
    with container:
        wrapped = container.get_wrapped_container()
        first = pull_messages(subscription, at_least=50, drain=False)
        assert len(first) >= 50, wrapped.logs().decode()[-2000:]
        wrapped.stop(timeout=20)  # docker stop: SIGTERM, SIGKILL only after 20 s
        state = docker_run("inspect", "--format", "{{json .State}}", wrapped.id).stdout
        logs = wrapped.logs().decode()
    state = json.loads(state)
    assert state["ExitCode"] == 0, logs[-2000:]
    assert not state["OOMKilled"]
    closing = producer_summary(logs)
    assert closing["stop_reason"] == "SIGTERM"
    assert closing["failed"] == 0
    # Flushed: everything the producer counted as published is in the subscription.
    rest = pull_messages(subscription, at_least=closing["published"] - len(first), timeout=30)
    ids = {m.attributes[ATTR_CUSTOMER_ID] for m in first + rest}
    assert len(ids) == closing["published"]
