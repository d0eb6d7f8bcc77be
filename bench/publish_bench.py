"""Customers per second published to the real Pub/Sub emulator, three ways, in one run.

  naive     one `.result()` per message (the pattern the producer avoids): the baseline
  bare      PublisherClient, payloads built before the clock starts: default and best batching
  producer  our producer: fake source -> strip credentials -> JSON -> Publisher (flow control,
            callbacks, counters), i.e. what `python -m producer --source fake --rate 0` does
  fake      the fake source alone, for scale: users generated per second

Every scenario gets its own topic and subscription, so the emulator stores what it receives as
it would for a real subscriber. Absolute numbers depend on the machine; compare the ratios.
Usage (from the repository root): python -m bench.publish_bench [--count 20000] [--naive-count 300]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from concurrent import futures
from pathlib import Path

from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import BatchSettings

from localrun.emulators import OFFLINE_AUTH_ENV, start_pubsub_emulator
from producer.config import Config
from producer.fake import FakeSource
from producer.publish_loop import Stopper, produce, to_message
from producer.publisher import Publisher

PROJECT = "bench"
BEST_BATCH = BatchSettings(max_messages=1000, max_bytes=5_000_000, max_latency=0.05)


_RUN = itertools.count()


class Clock:
    """Wall and CPU time (this process, all threads) of the same window: setup stays outside."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def fresh_topic(name: str) -> str:
    name = f"{name}-{next(_RUN)}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscriber.subscription_path(PROJECT, name), topic=topic)
    subscriber.close()
    return topic


def naive(messages) -> Clock:
    client, topic = pubsub_v1.PublisherClient(), fresh_topic("naive")
    with Clock() as clock:
        for message in messages:
            client.publish(topic, message.data, **message.attributes).result()
    return clock


def bare(messages, batch: BatchSettings) -> Clock:
    client = pubsub_v1.PublisherClient(batch_settings=batch)
    topic = fresh_topic(f"bare-{batch.max_messages}")
    with Clock() as clock:
        pending = [client.publish(topic, m.data, **m.attributes) for m in messages]
        client.stop()
        done, _ = futures.wait(pending)
    assert all(f.exception() is None for f in done)
    return clock


def ours(count: int) -> Clock:
    config = Config(topic=fresh_topic("producer"), source="fake", rate=0, count=count)
    source, publisher = FakeSource(seed="bench"), Publisher.from_config(config)
    with Clock() as clock:
        produce(source, publisher, Stopper(), count=count)
        publisher.close()
    assert (publisher.published, publisher.failed) == (count, 0)
    return clock


def generate(count: int) -> Clock:
    source = FakeSource(seed="bench")
    with Clock() as clock:
        for _ in range(count):
            source.user()
    return clock


def start_fake_source() -> Clock:
    """What every scenario leaves out: building the fake source's pools (once per process)."""
    with Clock() as clock:
        FakeSource(seed="bench")
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="customers for bare/producer")
    parser.add_argument("--naive-count", type=int, default=300, help="customers for naive")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each scenario's best counts")
    args = parser.parse_args()

    os.environ.update(OFFLINE_AUTH_ENV)
    n, n_naive = args.count, args.naive_count
    with tempfile.TemporaryDirectory() as logs:
        emulator = start_pubsub_emulator(Path(logs))
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.address
        try:
            fake = FakeSource(seed="bench")
            messages = [to_message(fake.user(), fake.name, fake.schema) for _ in range(n)]
            scenarios = [
                ("naive: .result() per message", n_naive, lambda: naive(messages[:n_naive])),
                ("bare client, default batching", n, lambda: bare(messages, BatchSettings())),
                ("bare client, best batching", n, lambda: bare(messages, BEST_BATCH)),
                ("producer, fake source, end to end", n, lambda: ours(n)),
                ("(fake source alone, no publishing)", n, lambda: generate(n)),
            ]
            # Rounds interleave the scenarios, so a burst of load elsewhere on the machine
            # slows one round of each rather than all rounds of one.
            best = {name: float("inf") for name, _, _ in scenarios}
            cpu = dict(best)
            for _ in range(args.repeat):
                for name, _, scenario in scenarios:
                    clock = scenario()
                    best[name], cpu[name] = min(best[name], clock.wall), min(cpu[name], clock.cpu)
            startup = start_fake_source()
        finally:
            emulator.stop()

    rates = {name: count / best[name] for name, count, _ in scenarios}
    naive_rate, bare_rate = rates[scenarios[0][0]], rates["bare client, best batching"]
    bare_cpu = cpu["bare client, best batching"] / n
    print(
        f"{'scenario':<40} {'customers':>9} {'seconds':>8} {'customers/s':>12} "
        f"{'x naive':>8} {'of bare':>8} {'CPU us':>7} {'of bare':>8}"
    )
    for name, count, _ in scenarios:
        rate, cpu_per_customer = rates[name], cpu[name] / count
        print(
            f"{name:<40} {count:>9} {best[name]:>8.2f} {rate:>12,.0f} "
            f"{rate / naive_rate:>8.1f} {rate / bare_rate:>8.0%} "
            f"{cpu_per_customer * 1e6:>7.0f} {bare_cpu / cpu_per_customer:>8.0%}"
        )
    print(
        f"(fake source start-up, outside every timing: {startup.wall:.2f} s, "
        f"{startup.cpu:.2f} s CPU)"
    )
    print(
        f"(best of {args.repeat} interleaved rounds; emulator on {os.cpu_count()} cores; "
        "CPU us = this process's CPU per customer, all threads, over the same window as the "
        "wall time, steadier on a shared machine; "
        "compare ratios, not absolute numbers)"
    )


if __name__ == "__main__":
    main()
