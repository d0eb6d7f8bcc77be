"""One user -> one message; the publish loop's stop conditions."""

from __future__ import annotations

import json

import pytest

from contract import CREDENTIAL_FIELDS, SCHEMA, publishable
from producer.publish_loop import Stopper, encode, produce, to_message
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
