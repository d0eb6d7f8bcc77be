"""Paths and helpers the test tiers share; import them from here, never from a conftest.

`pull_messages` and `producer_summary` check what the producer published (integration and
container tiers).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
FIXTURES = TESTS / "data" / "randomuser"
BAD_MESSAGE_CORPUS = TESTS / "data" / "bad_messages"


def run(
    *command: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess:
    """`command` in the repository root, its output captured as text; any exit code returns."""
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """This interpreter (the venv's) with `args`, as `run` runs it, e.g. `-m producer`."""
    return run(sys.executable, *args, **kwargs)


def pull_messages(subscription: str, at_least: int, timeout: float = 60.0, *, drain=True) -> list:
    """Pull and ack until `at_least` distinct messages came; with `drain`, then until none follow.

    Distinct by message id, so a redelivery cannot make up for a lost message.
    """
    messages: dict[str, object] = {}
    deadline = time.monotonic() + timeout
    with pubsub_v1.SubscriberClient() as subscriber:

        def pull(wait: float) -> list:
            try:
                response = subscriber.pull(
                    request={"subscription": subscription, "max_messages": 1000},
                    timeout=wait,
                    retry=None,
                )
            except DeadlineExceeded:
                return []
            received = response.received_messages
            if received:
                ack_ids = [m.ack_id for m in received]
                subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
            return [m.message for m in received]

        while len(messages) < at_least and time.monotonic() < deadline:
            messages.update((m.message_id, m) for m in pull(10))
        while drain and (batch := pull(2)):
            messages.update((m.message_id, m) for m in batch)
    return list(messages.values())


def producer_summary(log: str) -> dict:
    """The producer's one closing `summary` line from its JSON log output."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    summaries = [line for line in lines if line.get("message") == "summary"]
    assert len(summaries) == 1, f"expected one summary line in the producer's log:\n{log[-2000:]}"
    return summaries[0]
