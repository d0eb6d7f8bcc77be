"""The publish benchmark counts what it claims to: every scenario's messages reach the emulator.

Timings are never asserted (bench/README.md): this checks each scenario's work, and that
`make bench-publish`'s command runs and prints its table.
"""

from __future__ import annotations

import pytest
from google.cloud.pubsub_v1.types import BatchSettings

from bench import publish_bench
from producer.fake import FakeSource
from producer.publish_loop import to_message
from tests.support import pull_messages, run_python

pytestmark = pytest.mark.timeout(300)

COUNT = 40


@pytest.fixture
def topics(pubsub_emulator, monkeypatch) -> list[str]:
    """Every topic a scenario creates, in order."""
    created: list[str] = []
    fresh_topic = publish_bench.fresh_topic

    def recording(name: str) -> str:
        created.append(fresh_topic(name))
        return created[-1]

    monkeypatch.setattr(publish_bench, "fresh_topic", recording)
    return created


def test_every_scenario_publishes_each_of_its_messages(topics):
    fake = FakeSource(seed="bench-test")
    messages = [to_message(fake.user(), fake.name, fake.schema) for _ in range(COUNT)]
    publish_bench.naive(messages[:5])
    publish_bench.bare(messages, BatchSettings())
    publish_bench.ours(COUNT)
    for topic, expected in zip(topics, (5, COUNT, COUNT), strict=True):
        subscription = topic.replace("/topics/", "/subscriptions/")
        assert len(pull_messages(subscription, expected)) == expected, topic


def test_the_make_target_runs_and_prints_every_scenario():
    result = run_python(
        "-m", "bench.publish_bench", "--count=200", "--naive-count=5", "--repeat=1", timeout=240
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for scenario in ("naive", "bare client, best batching", "producer, fake source"):
        assert scenario in result.stdout
