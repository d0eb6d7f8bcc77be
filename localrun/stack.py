"""The local stack's moving parts: pipeline and producer subprocesses, publishing, waiting.

`python -m localrun` strings them together; the end-to-end tests use the same functions on
the emulators their fixtures start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from google.cloud import bigquery, pubsub_v1

from localrun.emulators import OFFLINE_AUTH_ENV
from localrun.paths import ROOT
from localrun.processes import ManagedProcess, spawn
from localrun.pubsub_channel import PULL_FAILED
from localrun.resources import StackNames, query
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ


class StackError(RuntimeError):
    """The local run failed; the message says what happened and where the logs are."""


def child_env(pubsub_address: str) -> dict[str, str]:
    """What the pipeline and the producer need to find the emulator and skip cloud auth."""
    return {**OFFLINE_AUTH_ENV, "PUBSUB_EMULATOR_HOST": pubsub_address, "PYTHONPATH": str(ROOT)}


def pipeline_argv(
    names: StackNames, bigquery_endpoint: str, *extra: str, module: str = "localrun.local_pipeline"
) -> list[str]:
    """The pipeline on Beam's direct runner, against the emulators: by default through
    localrun.local_pipeline, whose Pub/Sub read takes messages up to 10 MB as on Dataflow, 100
    per bundle."""
    return [
        sys.executable,
        "-m",
        module,
        "--runner=BundleBasedDirectRunner",
        "--streaming",
        f"--project={names.project}",
        f"--input_subscription={names.subscription_path}",
        f"--output_table={names.beam_table(CUSTOMERS)}",
        f"--dlq_table={names.beam_table(CUSTOMERS_DLQ)}",
        f"--bigquery_endpoint={bigquery_endpoint}",
        "--create_disposition=CREATE_NEVER",
        *extra,
    ]


def producer_argv(names: StackNames, count: int, source: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "producer",
        f"--topic={names.topic_path}",
        f"--source={source}",
        f"--count={count}",
        "--log-format=text",
        *extra,
    ]


def start_pipeline(
    names: StackNames,
    pubsub_address: str,
    bigquery_endpoint: str,
    log_dir: Path,
    *extra: str,
    tree: Path = ROOT,
) -> ManagedProcess:
    """The pipeline of the source tree `tree` (default: this one; `make deploy-local` passes
    another version's) on the local stack."""
    argv = pipeline_argv(names, bigquery_endpoint, *extra)
    env = {**child_env(pubsub_address), "PYTHONPATH": str(tree)}
    return spawn("pipeline", argv, log_dir, env=env, cwd=tree)


def start_producer(
    names: StackNames, pubsub_address: str, log_dir: Path, count: int, source: str, *extra: str
) -> ManagedProcess:
    argv = producer_argv(names, count, source, *extra)
    return spawn("producer", argv, log_dir, env=child_env(pubsub_address))


class Publishable(Protocol):
    data: bytes
    attributes: dict[str, str]


def publish(topic_path: str, messages: Iterable[Publishable]) -> list[str]:
    """Publish with google-cloud-pubsub (batched) and wait for every message id."""
    publisher = pubsub_v1.PublisherClient()
    try:
        futures = [publisher.publish(topic_path, m.data, **m.attributes) for m in messages]
        return [future.result(timeout=30) for future in futures]
    finally:
        publisher.stop()


@dataclass(frozen=True)
class Counts:
    rows: int
    dead_letters: int


def counts(client: bigquery.Client, names: StackNames) -> Counts:
    sql = "SELECT (SELECT COUNT(*) FROM {customers}), (SELECT COUNT(*) FROM {customers_dlq})"
    rows, dead = query(client, sql, names)[0]
    return Counts(rows, dead)


def failed_pulls(pipeline: ManagedProcess) -> int:
    """Pulls the local pipeline could not read (each logged once by EmulatorSubscriberClient)."""
    try:
        with pipeline.log_path.open(encoding="utf-8", errors="replace") as log:
            return sum(PULL_FAILED in line for line in log)
    except OSError:
        return 0


def _check_alive(watch: Iterable[ManagedProcess]) -> None:
    for process in watch:
        if not process.running() and process.process.returncode != 0:
            raise StackError(
                f"the {process.name} exited with code {process.process.returncode}; "
                f"last lines of {process.log_path}:\n{process.log_tail()}"
            )


def follow(
    process: ManagedProcess,
    client: bigquery.Client,
    names: StackNames,
    *,
    watch: Iterable[ManagedProcess] = (),
    progress: Callable[[Counts], None] | None = None,
    interval: float = 1.0,
) -> int:
    """Show the tables filling up until `process` exits; its exit code."""
    while process.running():
        if progress:
            progress(counts(client, names))
        _check_alive(watch)
        process.wait(interval)
    return process.process.returncode


def wait_for(
    client: bigquery.Client,
    names: StackNames,
    expected: Counts,
    timeout: float,
    *,
    watch: Iterable[ManagedProcess] = (),
    progress: Callable[[Counts], None] | None = None,
    interval: float = 1.0,
) -> Counts:
    """Poll the tables until they hold `expected` rows and dead letters.

    Fails early, with the log's last lines, when a watched process dies meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        now = counts(client, names)
        if progress:
            progress(now)
        if now.rows >= expected.rows and now.dead_letters >= expected.dead_letters:
            return now
        _check_alive(watch)
        if time.monotonic() > deadline:
            unread = sum(failed_pulls(p) for p in watch if p.name == "pipeline")
            raise StackError(
                f"timed out after {timeout:.0f}s: {now.rows}/{expected.rows} rows and "
                f"{now.dead_letters}/{expected.dead_letters} dead letters arrived"
                + (f"; {unread} Pub/Sub pulls failed (see the pipeline log)" if unread else "")
            )
        time.sleep(interval)
