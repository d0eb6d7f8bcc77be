"""The publish loop: pull users from a source, pace them, turn each into one message.

Stopping is one event for every reason (count, duration, signal, exhausted source), so each
wait in the program (rate limiter, API back-off) ends as soon as the run should.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from contract import ATTR_CUSTOMER_ID, ATTR_SCHEMA, ATTR_SOURCE, attributes_for, publishable
from producer.pacing import TokenBucket
from producer.publisher import Publisher
from producer.sources import Source

log = logging.getLogger(__name__)


class Stopper:
    """A stop event that remembers the first reason it was set for."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


@dataclass
class Tally:
    """What the publish loop counted so far (read by the summary, even mid-run)."""

    incomplete: int = 0  # users published without the customer_id/event_time attributes


@dataclass(frozen=True)
class Message:
    data: bytes
    attributes: dict[str, str]
    customer_id: str
    problem: str | None = None  # why the contract's attributes could not be derived


def encode(user: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON. orjson is ~10x faster than json here (bench/README.md); what it
    refuses (integers beyond 64 bits) or would change (NaN, which it writes as null: its output
    then does not decode back to the user) goes through json, so every user is published
    exactly as the source gave it."""
    try:
        data = orjson.dumps(user)
    except orjson.JSONEncodeError:
        data = None
    if data is None or (b"null" in data and orjson.loads(data) != user):
        return json.dumps(user, separators=(",", ":"), ensure_ascii=False).encode()
    return data


def to_message(user: Mapping[str, Any], source: str, schema: str) -> Message:
    """The contract's message for one user: `contract.publishable` of it, compact UTF-8 JSON.

    A user without login.uuid or registered.date (older API versions, `inc`/`exc`) is still
    published, with only the `source` and `schema` attributes: the pipeline makes it a row
    when it has a login.uuid and a dead letter with the reason when not, so it stays visible
    in BigQuery instead of vanishing in a producer log.
    """
    data = encode(publishable(user))
    try:
        attributes = attributes_for(user, source, schema)
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"no customer id or registration date ({type(exc).__name__}: {exc})"
        return Message(data, {ATTR_SOURCE: source, ATTR_SCHEMA: schema}, "", reason)
    return Message(data, attributes, attributes[ATTR_CUSTOMER_ID])


# Each user allocates ~50 objects, all acyclic and freed by reference counting; at CPython's
# default threshold (700) the cyclic collector ran every ~14 users over a heap holding every
# in-flight message, ~13 us per customer (bench/README.md). It still runs, less often.
GC_THRESHOLD_WHILE_PRODUCING = 50_000


@contextlib.contextmanager
def rare_gc():
    """Raise the youngest generation's collection threshold while the loop runs."""
    previous = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_WHILE_PRODUCING, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def produce(
    source: Source,
    publisher: Publisher,
    stopper: Stopper,
    *,
    count: int = 0,
    rate: float = 0.0,
    tally: Tally | None = None,
) -> int:
    """Publish until `count`, a stop, or the end of the source; the number of incomplete users."""
    pacer = TokenBucket(rate, wait=stopper.event.wait) if rate else None
    tally = tally or Tally()
    submitted = 0
    with rare_gc(), contextlib.closing(source.users(count or None)) as users:
        for user in users:
            if stopper.is_set() or (pacer and not pacer.take()):
                break
            message = to_message(user, source.name, source.schema)
            if message.problem:
                tally.incomplete += 1
                log.warning(
                    "incomplete user: published without customer_id and event_time attributes",
                    extra={"reason": message.problem},
                )
            publisher.publish(message.data, message.attributes)
            submitted += 1
            if submitted == count:
                stopper.stop("count")
                break
    stopper.stop("source exhausted")
    return tally.incomplete


def report_progress(
    publisher: Publisher, source: Source, done: threading.Event, every: float
) -> None:
    """Log a progress line every `every` seconds until `done` is set."""
    last_count, last_time = 0, time.monotonic()
    while not done.wait(every):
        now, published = time.monotonic(), publisher.published
        log.info(
            "progress",
            extra={
                "published": published,
                "rate": round((published - last_count) / (now - last_time), 1),
                "pending": publisher.pending,
                "failed": publisher.failed,
                "retries": source.retries,
                "skipped": source.skipped,
            },
        )
        last_count, last_time = published, now
