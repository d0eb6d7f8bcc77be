"""Re-publishing dead letters to the real Pub/Sub emulator: each payload with its attributes
and `replay_of`, every failure reported, none stopping the others."""

from __future__ import annotations

from contract import ATTR_REPLAY_OF
from replay.plan import DeadLetter
from replay.publish import publish
from tests.support import dead_letter_row, pull_messages


def _letter(payload: bytes, message_id: str) -> DeadLetter:
    return DeadLetter.from_row(dead_letter_row(payload, message_id=message_id))


def test_each_payload_is_published_with_its_attributes_and_replay_of(pubsub_topic):
    topic, subscription = pubsub_topic
    letters = [_letter(b'{"n": 1}', "m-1"), _letter(b'{"n": 2}', "m-2")]
    done, failed = publish(topic, letters, again={"m-2"})
    assert failed == []
    assert [(r.letter.message_id, r.again) for r in done] == [("m-1", False), ("m-2", True)]
    received = {m.message_id: m for m in pull_messages(subscription, 2)}
    assert set(received) == {r.replay_message_id for r in done}
    for replayed in done:
        message = received[replayed.replay_message_id]
        assert message.data == replayed.letter.data()
        assert dict(message.attributes) == {
            "source": "fake",
            "customer_id": "c-1",
            ATTR_REPLAY_OF: replayed.letter.message_id,
        }


def test_a_topic_that_does_not_exist_is_a_failure_per_letter_in_one_line(pubsub_emulator):
    letters = [_letter(b"{}", "m-1"), _letter(b"{}", "m-2")]
    done, failed = publish("projects/local-project/topics/no-such-topic", letters)
    assert done == []
    assert [f.letter.message_id for f in failed] == ["m-1", "m-2"]
    assert all("\n" not in f.error and f.error.startswith("NotFound") for f in failed)
