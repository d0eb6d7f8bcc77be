"""One user -> one message; the publish loop's stop conditions."""

from __future__ import annotations

import gc
import json
import logging
import threading
from types import SimpleNamespace

import pytest

from contract import CREDENTIAL_FIELDS, SCHEMA, publishable
from producer import publish_loop
from producer.publish_loop import Stopper, Tally, encode, produce, rare_gc, to_message
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
        {**USER, "name": {"first": "Đuro"}, "dob": {"age": float("nan")}},
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
    assert message.problem.startswith("no customer id or registration date (")
    assert message.customer_id == ""
    assert json.loads(message.data) == json.loads(json.dumps(publishable(user)))


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
    assert produce(Endless(), publisher, stopper, count=25) == 0
    message = to_message(USER, Endless.name, Endless.schema)
    assert publisher.messages == [(message.data, message.attributes)] * 25
    assert stopper.reason == "count"


def test_produce_stops_when_asked():
    publisher, stopper = RecordingPublisher(), Stopper()
    stopper.stop("SIGTERM")
    assert produce(Endless(), publisher, stopper) == 0
    assert publisher.messages == []
    assert stopper.reason == "SIGTERM"


def test_produce_ends_with_the_source_and_counts_incomplete_users(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(USER) + "\n" + json.dumps({"gender": "x"}) + "\n")
    publisher, stopper = RecordingPublisher(), Stopper()
    assert produce(FileSource(path), publisher, stopper) == 1
    assert [m[1].get("customer_id") for m in publisher.messages] == [USER["login"]["uuid"], None]
    assert stopper.reason == "source exhausted"


def test_a_message_carries_the_schema_it_was_given():
    assert to_message(USER, "file", "randomuser/1.3").attributes["schema"] == "randomuser/1.3"


def test_the_reason_of_an_incomplete_user_names_what_is_missing():
    message = to_message({"login": {"username": "x"}}, "file", SCHEMA)
    assert message.problem == "no customer id or registration date (KeyError: 'uuid')"


def test_a_stopper_keeps_the_first_reason():
    stopper = Stopper()
    assert not stopper.is_set() and stopper.reason is None
    stopper.stop("SIGTERM")
    stopper.stop("count")
    assert stopper.is_set()
    assert stopper.reason == "SIGTERM"


def test_the_cyclic_collector_runs_rarely_while_producing_and_as_before_after():
    previous = gc.get_threshold()
    with pytest.raises(RuntimeError), rare_gc():
        assert gc.get_threshold() == (
            publish_loop.GC_THRESHOLD_WHILE_PRODUCING,
            *previous[1:],
        )
        raise RuntimeError("the loop failed")
    assert gc.get_threshold() == previous


class LimitedSource(Endless):
    """Records the limit the loop asked for."""

    def users(self, limit=None):
        self.limit = limit
        return super().users(limit)


@pytest.mark.parametrize(("count", "limit"), [(3, 3), (0, None)])
def test_produce_asks_the_source_for_no_more_than_count(count, limit):
    source, stopper = LimitedSource(), Stopper()
    publisher = RecordingPublisher()
    publisher.publish = lambda data, attributes: stopper.stop("SIGTERM") if not count else None
    produce(source, publisher, stopper, count=count)
    assert source.limit == limit


def test_produce_paces_and_a_stop_ends_a_paced_wait():
    """At one user per 1000 s the second waits for its token; SIGTERM ends that wait."""
    publisher, stopper = RecordingPublisher(), Stopper()
    fast = Stopper()
    produce(Endless(), publisher, fast, count=25, rate=1e9)
    assert fast.reason == "count"
    threading.Timer(0.01, stopper.stop, ["SIGTERM"]).start()
    produce(Endless(), publisher, stopper, rate=0.001)
    assert len(publisher.messages) == 25 + 1
    assert stopper.reason == "SIGTERM"


def test_incomplete_users_are_counted_in_the_tally_and_logged_with_the_reason(caplog):
    source = Endless()
    source.users = lambda limit=None: (user for user in [USER, {"gender": "x"}, {"gender": "y"}])
    tally = Tally(incomplete=1)
    with caplog.at_level(logging.WARNING, logger=publish_loop.log.name):
        assert produce(source, RecordingPublisher(), Stopper(), tally=tally) == 3
    assert tally.incomplete == 3
    warnings = [r for r in caplog.records if r.name == publish_loop.log.name]
    assert [(r.levelno, r.getMessage()) for r in warnings] == [
        (
            logging.WARNING,
            "incomplete user: published without customer_id and event_time attributes",
        )
    ] * 2
    assert warnings[0].reason == "no customer id or registration date (KeyError: 'login')"


class Ticks:
    """A `done` event whose waits return at once: each tick publishes more, then it is set."""

    def __init__(self, publisher, published):
        self.publisher, self.published, self.waits = publisher, list(published), []

    def wait(self, timeout):
        self.waits.append(timeout)
        if not self.published:
            return True
        self.publisher.published = self.published.pop(0)
        return False


def test_progress_lines_give_the_counts_and_the_rate_since_the_last_line(monkeypatch, caplog):
    clock = iter([100.0, 103.0, 106.0])
    monkeypatch.setattr(publish_loop.time, "monotonic", lambda: next(clock))
    publisher = SimpleNamespace(published=0, pending=3, failed=1)
    done = Ticks(publisher, [50, 80])
    source = SimpleNamespace(retries=2, skipped=4)
    with caplog.at_level(logging.INFO, logger=publish_loop.log.name):
        publish_loop.report_progress(publisher, source, done, every=30)
    assert done.waits == [30, 30, 30]
    fields = ("published", "rate", "pending", "failed", "retries", "skipped")
    lines = [(r.getMessage(), *(getattr(r, name) for name in fields)) for r in caplog.records]
    assert lines == [("progress", 50, 16.7, 3, 1, 2, 4), ("progress", 80, 10.0, 3, 1, 2, 4)]
