"""The producer, as a process, against the real Pub/Sub emulator: counts, attributes, no
credentials, lossless SIGTERM, and one-line configuration errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

from google.cloud import pubsub_v1

from contract import CREDENTIAL_FIELDS, SCHEMA
from localrun.emulators import start_pubsub_emulator
from tests.support import FIXTURES, ROOT, producer_summary, pull_messages, run_python

PROJECT = "producer-it"


def producer_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCER_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def run_producer(*args: str, env: dict[str, str] | None = None, timeout: float = 120.0):
    return run_python("-m", "producer", *args, env=env or producer_env(), timeout=timeout)


def test_publishes_20000_fake_customers_with_attributes_and_no_credentials(pubsub_topic):
    topic_path, subscription = pubsub_topic
    result = run_producer("--topic", topic_path, "--source", "fake", "--rate", "0",
                          "--count", "20000", "--seed", "it")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = producer_summary(result.stderr)
    assert (report["published"], report["failed"], report["stop_reason"]) == (20000, 0, "count")

    messages = pull_messages(subscription, 20000)
    assert len(messages) == 20000
    ids = set()
    for message in messages:
        user = json.loads(message.data)
        assert not set(CREDENTIAL_FIELDS) & set(user["login"])
        assert dict(message.attributes) == {
            "customer_id": user["login"]["uuid"],
            "event_time": user["registered"]["date"],
            "source": "fake",
            "schema": SCHEMA,
        }
        ids.add(user["login"]["uuid"])
    assert len(ids) == 20000
    for credential in CREDENTIAL_FIELDS:
        assert not any(f'"{credential}"'.encode() in m.data for m in messages)


def test_sigterm_flushes_everything_reported_as_sent(pubsub_topic, tmp_path):
    topic_path, subscription = pubsub_topic
    record = tmp_path / "sent.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "producer", "--topic", topic_path, "--source", "fake",
         "--rate", "3000", "--progress-interval", "0.2", "--record", str(record)],
        stderr=subprocess.PIPE, text=True, env=producer_env(), cwd=ROOT,
    )  # fmt: skip
    lines = []
    try:
        for line in process.stderr:  # wait until publishing is under way
            lines.append(line)
            if '"progress"' in line and json.loads(line)["published"] > 500:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, "".join(lines) + rest
    report = producer_summary("".join(lines) + rest)
    assert report["stop_reason"] == "SIGTERM"
    assert report["failed"] == 0

    sent = [json.loads(line)["login"]["uuid"] for line in record.read_text().splitlines()]
    assert len(sent) == report["published"] > 500
    pulled = pull_messages(subscription, len(sent))
    pulled_ids = [message.attributes["customer_id"] for message in pulled]
    assert sorted(pulled_ids) == sorted(sent)


@contextlib.contextmanager
def frozen(emulator):
    """The emulator stops answering (SIGSTOP, or docker pause) but keeps its connections."""
    if hasattr(emulator, "container"):
        container = emulator.container.get_wrapped_container()
        container.pause()
        try:
            yield
        finally:
            container.unpause()
        return
    emulator.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        emulator.signal(signal.SIGCONT)


def test_a_flush_pubsub_cannot_finish_ends_within_the_stop_grace_with_a_summary(
    tmp_path, monkeypatch
):
    """docker stop sends SIGTERM and SIGKILLs 10 s later: the producer must have reported by
    then, counting what it could not confirm, instead of vanishing mid-flush."""
    emulator = start_pubsub_emulator(tmp_path)  # its own: this test freezes it
    try:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.address)
        env = producer_env()
        topic = f"projects/{PROJECT}/topics/frozen"
        publisher = pubsub_v1.PublisherClient()
        publisher.create_topic(name=topic)
        publisher.stop()
        process = subprocess.Popen(
            [sys.executable, "-m", "producer", "--topic", topic, "--source", "fake",
             "--rate", "0", "--progress-interval", "0.2"],
            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        lines = []
        try:
            for line in process.stderr:
                lines.append(line)
                if '"progress"' in line and json.loads(line)["published"] > 200:
                    break
            with frozen(emulator):
                process.send_signal(signal.SIGTERM)
                try:  # what docker stop does: 10 s, then SIGKILL
                    _, rest = process.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    _, rest = process.communicate()
        finally:
            process.kill()
    finally:
        emulator.stop()
    log = "".join(lines) + rest
    assert process.returncode == 3, log[-3000:]  # exited by itself, not SIGKILLed (-9)
    summary = producer_summary(log)
    assert summary["stop_reason"] == "SIGTERM"
    assert summary["unconfirmed"] > 0
    assert summary["exit_code"] == 3
    assert "stop grace over" in log


def test_replays_a_saved_api_response(pubsub_topic):
    topic_path, subscription = pubsub_topic
    saved = FIXTURES / "28_api_nat_all_v1.4_results50.json"
    result = run_producer("--topic", topic_path, "--source", "file", "--input", str(saved),
                          "--rate", "0", "--log-format", "text")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "summary published=50 failed=0" in result.stderr
    messages = pull_messages(subscription, 50)
    assert {m.attributes["source"] for m in messages} == {"file"}
    assert len(messages) == 50


def test_bad_file_lines_are_one_error_each_and_a_count_never_a_traceback(pubsub_topic, tmp_path):
    topic_path, subscription = pubsub_topic
    good = json.loads((FIXTURES / "01_api_results1.json").read_text())["results"][0]
    surrogate = json.dumps({**good, "name": {"first": "x"}}).replace('"x"', '"\\ud800"')
    lines = [surrogate, "not json", "[" * 100_000 + "]" * 100_000, json.dumps(good)]
    saved = tmp_path / "users.jsonl"
    saved.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_producer("--topic", topic_path, "--source", "file", "--input", str(saved),
                          "--rate", "0", "--log-format", "json")  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 4, result.stderr[-2000:]
    skipped = [json.loads(line) for line in result.stderr.splitlines() if "skipped input" in line]
    assert [(entry["line"], entry["reason"]) for entry in skipped] == [
        (1, "name.first holds a lone surrogate, which UTF-8 cannot encode"),
        (2, "not JSON: Expecting value: line 1 column 1 (char 0)"),
        (3, "JSON nested too deeply"),
    ]
    summary = producer_summary(result.stderr)
    assert (summary["published"], summary["skipped"]) == (1, 3)
    (message,) = pull_messages(subscription, 1)
    assert message.attributes["customer_id"] == good["login"]["uuid"]


def test_publishes_from_a_self_hosted_randomuser_api(pubsub_topic, httpserver):
    """The default source end to end, against a local server answering like the API."""
    topic_path, subscription = pubsub_topic
    body = (FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text()
    httpserver.expect_request("/api/1.4/").respond_with_data(body, content_type="application/json")
    result = run_producer("--topic", topic_path, "--api-url", httpserver.url_for("/api/"),
                          "--batch-size", "10", "--count", "10", "--rate", "0")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    messages = pull_messages(subscription, 10)
    assert sorted(m.attributes["customer_id"] for m in messages) == sorted(
        user["login"]["uuid"] for user in json.loads(body)["results"]
    )
    assert {m.attributes["source"] for m in messages} == {"randomuser"}


def test_a_failing_api_ends_with_exit_4_after_flushing(pubsub_topic, httpserver):
    topic_path, _ = pubsub_topic
    httpserver.expect_request("/api/1.4/").respond_with_data("Not Found", status=404)
    result = run_producer("--topic", topic_path, "--api-url", httpserver.url_for("/api/"))
    assert result.returncode == 4
    assert "404 Not Found: check --api-url and --api-version" in result.stderr
    assert "Traceback" not in result.stderr


def assert_one_line_config_error(result, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert message in line


def test_unknown_topic_is_one_line(pubsub_emulator):
    result = run_producer("--topic", f"projects/{PROJECT}/topics/missing", "--source", "fake")
    assert_one_line_config_error(result, f"topic projects/{PROJECT}/topics/missing does not exist")


def test_unreachable_emulator_is_one_line(pubsub_emulator):
    env = producer_env(PUBSUB_EMULATOR_HOST="127.0.0.1:1")
    result = run_producer("--topic", f"projects/{PROJECT}/topics/any", "--source", "fake", env=env)
    assert_one_line_config_error(result, "the Pub/Sub emulator at 127.0.0.1:1 is not reachable")


def test_missing_credentials_is_one_line(tmp_path):
    env = producer_env(CLOUDSDK_CONFIG=str(tmp_path), HOME=str(tmp_path))
    for name in ("PUBSUB_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        env.pop(name, None)
    result = run_producer("--topic", f"projects/{PROJECT}/topics/any", "--source", "fake", env=env)
    assert_one_line_config_error(result, "gcloud auth application-default login")
