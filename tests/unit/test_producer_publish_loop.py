"""One user -> one message; pacing; the publish loop's stop conditions; publish accounting."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from concurrent.futures import Future

import pytest

from contract import CREDENTIAL_FIELDS, SCHEMA, publishable
from producer.pacing import TokenBucket
from producer.publish_loop import Stopper, encode, produce, to_message
from producer.publisher import Publisher
from producer.sources import FileSource
from tests.support import FIXTURES

USER = json.loads((FIXTURES / "01_api_results1.json").read_text())["results"][0]


def test_a_message_is_compact_json_without_credentials():
    message = to_message(USER, "randomuser", SCHEMA)
    payload = json.loads(message.data)
    assert not set(CREDENTIAL_FIELDS) & set(payload["login"])
    assert payload["login"]["uuid"] == USER["login"]["uuid"]
    assert b": " not in message.data and b", " not in message.data
    assert "password" in USER["login"]  # the source's user is left as it was
    assert payload["id"] == {"name": USER["id"]["name"]}  # never the national id's value
    assert USER["id"]["value"] and USER["id"]["value"].encode() not in message.data
    assert message.customer_id == "abb5423a-5333-405d-98ec-83c3b6f01294"
    assert message.attributes == {
        "customer_id": "abb5423a-5333-405d-98ec-83c3b6f01294",
        "event_time": "2017-08-01T20:36:07.015Z",
        "source": "randomuser",
        "schema": SCHEMA,
    }
    assert message.problem is None


def test_a_message_keeps_non_ascii_text_as_utf8():
    user = {**USER, "name": {"first": "بردیا", "last": "Đuro"}}
    assert "بردیا".encode() in to_message(user, "file", SCHEMA).data


@pytest.mark.parametrize(
    "user",
    [
        USER,
        {**USER, "location": {"street": {"number": 2**70}}},  # beyond orjson's 64-bit integers
        {**USER, "location": {"coordinates": {"latitude": float("nan")}}, "id": {"value": None}},
        {**USER, "dob": {"age": float("inf")}},
    ],
)
def test_a_message_is_exactly_what_json_would_publish(user):
    """The fast encoder never changes a value: NaN stays NaN (the pipeline dead-letters it)."""
    assert encode(user) == json.dumps(user, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "user",
    [
        {"name": {"first": "No"}},
        {**USER, "login": {"username": "x"}},
        {**USER, "registered": {"date": "yesterday"}},
        {**USER, "registered": None},
    ],
)
def test_an_incomplete_user_is_published_for_the_dead_letter_table(user):
    message = to_message(user, "file", SCHEMA)
    assert message.attributes == {"source": "file", "schema": SCHEMA}
    assert message.problem
    assert json.loads(message.data) == json.loads(json.dumps(publishable(user)))


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        return False


def test_token_bucket_paces_smoothly():
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, clock=clock, wait=clock.sleep)
    times = []
    for _ in range(500):
        assert bucket.take()
        times.append(clock.now)
    assert times[-1] == pytest.approx(4.99, abs=0.02)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 0.0101  # never a burst followed by a long pause


def test_token_bucket_bursts_at_most_its_capacity_after_idling():
    clock = FakeClock()
    bucket = TokenBucket(rate=1000.0, clock=clock, wait=clock.sleep)
    clock.now = 60.0  # idle for a minute
    start = clock.now
    for _ in range(100):
        bucket.take()
    assert clock.now - start == pytest.approx((100 - 50) / 1000, abs=0.002)


def test_token_bucket_wait_can_be_abandoned():
    stop = threading.Event()
    stop.set()
    bucket = TokenBucket(rate=0.001, wait=stop.wait)
    assert bucket.take()  # the first token is there
    assert not bucket.take()


class RecordingPublisher:
    def __init__(self):
        self.messages = []

    def publish(self, data, attributes):
        self.messages.append((data, attributes))


class Endless:
    name, schema, retries, skipped = "fake", SCHEMA, 0, 0

    def users(self, limit=None):
        while True:
            yield USER


def test_produce_stops_at_count():
    publisher, stopper = RecordingPublisher(), Stopper()
    produce(Endless(), publisher, stopper, count=25)
    assert len(publisher.messages) == 25
    assert stopper.reason == "count"


def test_produce_stops_when_asked():
    publisher, stopper = RecordingPublisher(), Stopper()
    stopper.stop("SIGTERM")
    produce(Endless(), publisher, stopper)
    assert publisher.messages == []
    assert stopper.reason == "SIGTERM"


def test_produce_ends_with_the_source_and_counts_incomplete_users(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(USER) + "\n" + json.dumps({"gender": "x"}) + "\n")
    publisher, stopper = RecordingPublisher(), Stopper()
    assert produce(FileSource(path), publisher, stopper) == 1
    assert [m[1].get("customer_id") for m in publisher.messages] == [USER["login"]["uuid"], None]
    assert stopper.reason == "source exhausted"


class FutureClient:
    """Returns futures the test settles, like the client's batch threads would."""

    def __init__(self):
        self.futures = []
        self.stopped = False

    def publish(self, topic, data, **attributes):
        if data == b"too big":
            raise ValueError("message too large")
        future = Future()
        self.futures.append(future)
        return future

    def stop(self):
        self.stopped = True


def test_publisher_counts_every_outcome_and_records_only_what_was_accepted(tmp_path, caplog):
    client = FutureClient()
    with (tmp_path / "record.jsonl").open("wb") as record:
        publisher = Publisher(client, "projects/p/topics/topic", record)
        publisher.publish(b'{"a":1}', {})
        publisher.publish(b'{"a":2}', {})
        publisher.publish(b"too big", {})
        assert (publisher.pending, publisher.failed) == (2, 1)
        client.futures[0].set_result("message-id")
        client.futures[1].set_exception(RuntimeError("deadline exceeded"))

        closing = threading.Thread(target=publisher.close)
        closing.start()
        closing.join(5)
        assert not closing.is_alive()
    assert client.stopped
    assert (publisher.published, publisher.failed, publisher.pending) == (1, 2, 0)
    assert (tmp_path / "record.jsonl").read_bytes() == b'{"a":1}\n'
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.error for r in failed] == ["message too large", "deadline exceeded"]
    assert not any(hasattr(r, "customer_id") for r in failed), "personal data in a log line"


def test_publisher_close_waits_for_pending_publishes():
    client = FutureClient()
    publisher = Publisher(client, "projects/p/topics/topic")
    publisher.publish(b"{}", {})
    closing = threading.Thread(target=publisher.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()
    client.futures[0].set_result("message-id")
    closing.join(5)
    assert not closing.is_alive()
    assert publisher.published == 1
