"""Paths and helpers the test tiers share; import them from here, never from a conftest.

`pull_messages` and `producer_summary` check what the producer published (integration and
container tiers).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1

from pipeline import dead_letters

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
FIXTURES = TESTS / "data" / "randomuser"
BAD_MESSAGE_CORPUS = TESTS / "data" / "bad_messages"

# The bound every message's dead letter is held to (pipeline/README.md, "Dead letters are
# bounded"): at most DEAD_LETTER_SIZE_FACTOR times the message's size plus DEAD_LETTER_OVERHEAD
# bytes as a JSON insert row. The limits that keep it are in pipeline/dead_letters.py.
DEAD_LETTER_SIZE_FACTOR = 8
DEAD_LETTER_OVERHEAD = 96 * 1024


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


def message_size(payload: bytes | None, attributes: Mapping[str, str] | None = None) -> int:
    """A Pub/Sub message's size as Pub/Sub counts it: data plus attribute keys and values."""
    size = len(payload or b"")
    for key, value in (attributes or {}).items():
        size += len(str(key).encode("utf-8", "surrogatepass"))
        size += len(str(value).encode("utf-8", "surrogatepass"))
    return size


def dead_letter_bound(payload: bytes | None, attributes: Mapping[str, str] | None = None) -> int:
    """The most bytes a message's dead letter takes as a JSON insert row (ASCII-escaped).

    payloadString costs at most 6 bytes per payload byte (a control byte or an invalid byte
    escaped as \\uXXXX), payloadBytes 4/3 (base64), attributes at most 6 per byte; both
    payload copies stop at MAX_DEAD_LETTER_PAYLOAD. The rest (error list, stack trace, lineage,
    JSON keys) is capped by MAX_LISTED_USERS, MAX_REASON_LENGTH, MAX_STACKTRACE_LENGTH.
    """
    return DEAD_LETTER_SIZE_FACTOR * message_size(payload, attributes) + DEAD_LETTER_OVERHEAD


def dead_letter_row(payload: bytes, **columns: Any) -> dict:
    """A customers_dlq row as the pipeline builds it, read back as BigQuery returns it
    (payloadBytes as bytes); `stage`, `attributes` and `message_id` build it, any other
    column given replaces its value."""
    row = dead_letters.dead_letter(
        stage=columns.pop("stage", "validate"),
        error="registered.date is missing",
        payload=payload,
        attributes=columns.pop("attributes", {"source": "fake", "customer_id": "c-1"}),
        message_id=columns.pop("message_id", "m-1"),
        now=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    )
    row["payloadBytes"] = base64.b64decode(row["payloadBytes"])
    return {**row, **columns}


CLASSIFICATION = ROOT / "pipeline" / "schemas" / "classification.json"
PERSONAL_CLASSES = ("direct", "quasi", "pseudonym")


def leaf_fields(fields: list[dict], prefix: str = "") -> dict[str, dict]:
    """{column path: field} of every leaf column; a nested one is named `parent.child`."""
    leaves = {}
    for field in fields:
        path = f"{prefix}{field['name']}"
        if field["type"] in ("RECORD", "STRUCT"):
            leaves.update(leaf_fields(field["fields"], f"{path}."))
        else:
            leaves[path] = field
    return leaves


def classification() -> dict[str, dict[str, dict]]:
    """{table: {column path: {class, masking, why}}} from pipeline/schemas/classification.json."""
    return json.loads(CLASSIFICATION.read_text())["tables"]


def personal_columns(table: str) -> set[str]:
    """The column paths of `table` classified direct, quasi or pseudonym."""
    return {
        path
        for path, entry in classification()[table].items()
        if entry["class"] in PERSONAL_CLASSES
    }


# BigQuery's predefined masking rules and the column types each applies to ("Masking options",
# https://cloud.google.com/bigquery/docs/column-data-masking-intro#masking_options): hashing
# only STRING and BYTES, the e-mail and four-character rules only text, the year only dates
# and times; NULL and the type's default value any type. The names are the provider's
# (tests/static/test_terraform_privacy.py checks them against google 6.50's enum).
MASKING_RULES: dict[str, frozenset[str] | None] = {
    "SHA256": frozenset({"STRING", "BYTES"}),
    "ALWAYS_NULL": None,
    "DEFAULT_MASKING_VALUE": None,
    "LAST_FOUR_CHARACTERS": frozenset({"STRING"}),
    "FIRST_FOUR_CHARACTERS": frozenset({"STRING"}),
    "EMAIL_MASK": frozenset({"STRING"}),
    "DATE_YEAR_MASK": frozenset({"DATE", "DATETIME", "TIMESTAMP"}),
}
