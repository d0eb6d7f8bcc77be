"""Customers per second published to the real Pub/Sub emulator, three ways, in one run.

  naive     one `.result()` per message (the pattern the producer avoids): the baseline
  bare      PublisherClient, payloads built before the clock starts: default and best batching
  producer  our producer: fake source -> strip credentials -> JSON -> Publisher (flow control,
            callbacks, counters), i.e. what `python -m producer --source fake --rate 0` does
  fake      the fake source alone, for scale: users generated per second

Every scenario gets its own topic and subscription, so the emulator stores what it receives as
it would for a real subscriber. Absolute numbers depend on the machine; compare the ratios.
Usage: python bench/publish_bench.py [--count 20000] [--naive-count 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from google.cloud import pubsub_v1  # noqa: E402
from google.cloud.pubsub_v1.types import BatchSettings  # noqa: E402

from localrun.emulators import OFFLINE_AUTH_ENV, start_pubsub_emulator  # noqa: E402
from producer.config import Config  # noqa: E402
from producer.fake import FakeSource  # noqa: E402
from producer.publish_loop import Stopper, produce, to_message  # noqa: E402
from producer.publisher import Publisher  # noqa: E402

PROJECT = "bench"
BEST_BATCH = BatchSettings(max_messages=1000, max_bytes=5_000_000, max_latency=0.05)


def fresh_topic(name: str) -> str:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscriber.subscription_path(PROJECT, name), topic=topic)
    subscriber.close()
    return topic


def naive(messages) -> float:
    client, topic = pubsub_v1.PublisherClient(), fresh_topic("naive")
    start = time.perf_counter()
    for message in messages:
        client.publish(topic, message.data, **message.attributes).result()
    return time.perf_counter() - start


def bare(messages, batch: BatchSettings) -> float:
    client = pubsub_v1.PublisherClient(batch_settings=batch)
    topic = fresh_topic(f"bare-{batch.max_messages}")
    start = time.perf_counter()
    pending = [client.publish(topic, m.data, **m.attributes) for m in messages]
    client.stop()
    done, _ = futures.wait(pending)
    assert all(f.exception() is None for f in done)
    return time.perf_counter() - start


def ours(count: int) -> float:
    config = Config(topic=fresh_topic("producer"), source="fake", rate=0, count=count)
    source, publisher = FakeSource(seed="bench"), Publisher.from_config(config)
    start = time.perf_counter()
    produce(source, publisher, Stopper(), count=count)
    publisher.close()
    elapsed = time.perf_counter() - start
    assert (publisher.published, publisher.failed) == (count, 0)
    return elapsed


def generate(count: int) -> float:
    source = FakeSource(seed="bench")
    start = time.perf_counter()
    for _ in range(count):
        source.user()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="customers for bare/producer")
    parser.add_argument("--naive-count", type=int, default=300, help="customers for naive")
    args = parser.parse_args()

    os.environ.update(OFFLINE_AUTH_ENV)
    with tempfile.TemporaryDirectory() as logs:
        emulator = start_pubsub_emulator(Path(logs))
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.address
        try:
            fake = FakeSource(seed="bench")
            messages = [to_message(fake.user(), fake.name, fake.schema) for _ in range(args.count)]
            n, n_naive = args.count, args.naive_count
            results = [
                ("naive: .result() per message", n_naive, naive(messages[:n_naive])),
                ("bare client, default batching", n, bare(messages, BatchSettings())),
                ("bare client, best batching", n, bare(messages, BEST_BATCH)),
                ("producer, fake source, end to end", n, ours(n)),
                ("(fake source alone, no publishing)", n, generate(n)),
            ]
        finally:
            emulator.stop()

    baseline = results[0][1] / results[0][2]
    print(f"{'scenario':<40} {'customers':>9} {'seconds':>8} {'customers/s':>12} {'x naive':>8}")
    for name, count, seconds in results:
        rate = count / seconds
        print(f"{name:<40} {count:>9} {seconds:>8.2f} {rate:>12,.0f} {rate / baseline:>8.1f}")
    print(f"(emulator on {os.cpu_count()} cores; compare ratios, not absolute numbers)")


if __name__ == "__main__":
    main()
