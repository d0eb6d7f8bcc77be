"""The replay plan: which dead letters it re-publishes, and why it leaves the others."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import contract
from pipeline import dead_letters
from replay.plan import (
    ALREADY_REPLAYED,
    ALREADY_WRITTEN,
    CONFLICTING,
    EDITED,
    NO_MESSAGE_ID,
    NO_PAYLOAD,
    REDACTED,
    TRUNCATED,
    UNKNOWN_STATE,
    WRITE_ROW,
    DeadLetter,
    plan,
    written_messages,
)
from tests.support import FIXTURES, dead_letter_row

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _letter(payload: bytes = b'{"login": {}}', **kwargs) -> DeadLetter:
    return DeadLetter.from_row(dead_letter_row(payload, **kwargs))


def test_a_clean_dead_letter_is_replayed_with_replay_of():
    letter = _letter(b'{"a": 1}', message_id="m-7")
    result = plan([letter])
    assert result.to_send == [letter]
    assert letter.data() == b'{"a": 1}'
    assert letter.replay_attributes() == {
        "source": "fake",
        "customer_id": "c-1",
        contract.ATTR_REPLAY_OF: "m-7",
    }


def test_a_replayed_message_that_failed_again_points_at_its_own_dead_letter():
    attributes = {"source": "fake", contract.ATTR_REPLAY_OF: "first"}
    letter = _letter(attributes=attributes, message_id="second")
    assert letter.replay_attributes()[contract.ATTR_REPLAY_OF] == "second"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"payload_state": dead_letters.PAYLOAD_REDACTED}, REDACTED),
        ({"payload_state": dead_letters.PAYLOAD_TRUNCATED}, TRUNCATED),
        ({"payload_state": dead_letters.PAYLOAD_ROW}, WRITE_ROW),
        ({"payload_state": None}, UNKNOWN_STATE),
        ({"payloadString": '{"fixed": true}'}, EDITED),
        ({"message_id": None}, NO_MESSAGE_ID),
        ({"payload_state": dead_letters.PAYLOAD_CORRECTED, "payloadString": None}, NO_PAYLOAD),
        ({"payload_state": dead_letters.PAYLOAD_CORRECTED, "payloadString": ""}, NO_PAYLOAD),
        ({"payloadBytes": None, "payloadString": None}, NO_PAYLOAD),
    ],
)
def test_dead_letters_that_are_not_the_message_are_reported_not_sent(change, reason):
    result = plan([DeadLetter.from_row({**dead_letter_row(b'{"a": 1}'), **change})])
    assert result.to_send == []
    assert list(result.skipped) == [reason]


def test_a_payload_corrected_in_the_table_is_replayed_as_corrected():
    row = dead_letter_row(b'{"a": "caf\xc3\xa9"}', payload_state=dead_letters.PAYLOAD_REDACTED)
    fixed = {**row, "payloadString": '{"a": "caf\u00e9 2"}', "payload_state": "corrected"}
    (sent,) = plan([DeadLetter.from_row(fixed)]).to_send
    assert sent.data() == '{"a": "café 2"}'.encode()
    assert plan([DeadLetter.from_row({**fixed, "payload_state": "original"})]).skipped == {
        EDITED: ["m-1"]
    }


def test_an_envelope_with_several_bad_users_is_replayed_once():
    letters = [_letter(b'{"results": [{}, {}]}', message_id="env") for _ in range(2)]
    result = plan(letters)
    assert (result.dead_letters, result.messages, len(result.to_send)) == (2, 1, 1)


def test_dead_letters_of_one_message_that_disagree_are_not_sent():
    letters = [_letter(b'{"a": 1}', message_id="m"), _letter(b'{"a": 2}', message_id="m")]
    assert list(plan(letters).skipped) == [CONFLICTING]


def test_a_replayed_dead_letter_is_not_sent_twice_unless_asked():
    letter = _letter(message_id="m-1")
    assert plan([letter], replayed={"m-1"}).skipped == {ALREADY_REPLAYED: ["m-1"]}
    assert plan([letter], replayed={"m-1"}, again=True).to_send == [letter]


def test_a_customer_already_written_is_not_sent_unless_asked():
    letters = [_letter(message_id="m-1"), _letter(message_id="m-2", attributes={})]
    written = written_messages(letters, message_ids={"m-2"}, customer_ids={"c-1"})
    assert written == {"m-1", "m-2"}
    result = plan(letters, written=written)
    assert result.skipped == {ALREADY_WRITTEN: ["m-1", "m-2"]}
    assert len(plan(letters, written=written, include_written=True).to_send) == 2


def test_reasons_are_counted_per_message_in_a_fixed_order():
    letters = [
        _letter(message_id="a", payload_state=dead_letters.PAYLOAD_ROW),
        _letter(message_id="b", payload_state=dead_letters.PAYLOAD_REDACTED),
        _letter(message_id="c"),
        _letter(message_id="d"),
    ]
    result = plan(letters, replayed={"c"})
    assert result.skipped == {ALREADY_REPLAYED: ["c"], REDACTED: ["b"], WRITE_ROW: ["a"]}
    assert [letter.message_id for letter in result.to_send] == ["d"]
    assert result.skipped_count == 3
