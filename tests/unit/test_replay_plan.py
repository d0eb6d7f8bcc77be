"""The replay plan: which dead letters it re-publishes or inserts, and why it leaves the others.

`write` dead letters hold the row BigQuery refused, and the replay inserts it. A request-level
error (HTTP 403 while IAM propagates, 404 while a table is recreated) makes Beam's
streaming-insert sink hand every row of the batch to `failed_rows_with_errors`, each with the
same error: `{"message": e.message, "reason": e.response.reason}` (apache_beam 2.77,
io/gcp/bigquery_tools.py `BigQueryWrapper._insert_all_rows`, `except (ClientError,
GoogleAPICallError)`), and RetryStrategy.RETRY_ON_TRANSIENT_ERROR does not retry 'Forbidden',
'Not Found', 'Unauthorized' or 'Bad Request' (`RetryStrategy._NON_TRANSIENT_ERRORS`). Those rows
are valid customers: the replay must bring each back once, deduplicated by customer.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

import contract
from pipeline import dead_letters, rows, tables
from replay.erasure import erased_messages
from replay.plan import (
    ALREADY_REPLAYED,
    ALREADY_WRITTEN,
    CONFLICTING,
    EDITED,
    ERASED,
    NO_MESSAGE_ID,
    NO_PAYLOAD,
    NOT_A_ROW,
    REDACTED,
    TRUNCATED,
    UNKNOWN_STATE,
    DeadLetter,
    plan,
    written_messages,
)
from tests import bigquery_rules
from tests.support import FIXTURES, dead_letter_row

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# What Beam hands on for every row of a batch whose insertAll request got HTTP 403.
FORBIDDEN = [
    {
        "message": "POST https://bigquery.googleapis.com/bigquery/v2/projects/p/datasets/d/"
        "tables/customers/insertAll?prettyPrint=false: Access Denied: Table p:d.customers: "
        "Permission bigquery.tables.updateData denied on table p:d.customers",
        "reason": "Forbidden",
    }
]


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
        ({"payload_state": dead_letters.PAYLOAD_ROW}, NOT_A_ROW),
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
    assert result.skipped == {ALREADY_REPLAYED: ["c"], REDACTED: ["b"], NOT_A_ROW: ["a"]}
    assert [letter.message_id for letter in result.to_send] == ["d"]
    assert result.skipped_count == 3


def _read_back(letter: dict) -> DeadLetter:
    """A customers_dlq row as the replay reads it from BigQuery (BYTES come back as bytes)."""
    return DeadLetter.from_row({**letter, "payloadBytes": base64.b64decode(letter["payloadBytes"])})


def _refused(users, errors=FORBIDDEN, message_id="m-1") -> tuple[list[dict], list[DeadLetter]]:
    built = [
        rows.to_customer_row(user, rows.Lineage(message_id=message_id, ingested_at=NOW))
        for user in users
    ]
    letters = [dead_letters.write_failure(("p:d.customers", row, errors), now=NOW) for row in built]
    return built, [_read_back(letter) for letter in letters]


def test_a_batch_bigquery_refused_with_403_is_replayed_as_rows():
    """Before the fix the plan skipped every one: 'write stage: holds the row BigQuery
    rejected, not the message', so these customers never reached `customers`."""
    built, letters = _refused(USERS[:4])
    result = plan(letters)
    assert result.skipped == {}
    assert [letter.row() for letter in result.to_insert] == built
    assert result.to_send == []
    for row in built:
        assert bigquery_rules.insert_errors(row, tables.CUSTOMERS, now=NOW) == []


def test_one_envelope_refused_gives_one_row_per_customer():
    """An envelope's users share a message id: each row is its own unit, by customer_id."""
    built, letters = _refused(USERS[:3], message_id="envelope")
    assert {letter.customer_id for letter in plan(letters).to_insert} == {
        row["customer_id"] for row in built
    }


def test_a_customer_already_in_customers_is_not_inserted_again():
    built, letters = _refused(USERS[:2])
    # An envelope's other users are rows: the message id alone does not make it written.
    assert written_messages(letters, {"m-1"}, {built[0]["customer_id"]}) == set()
    written = {built[0]["customer_id"]}
    result = plan(letters, written={"m-1"}, written_customers=written)
    assert [letter.customer_id for letter in result.to_insert] == [built[1]["customer_id"]]
    assert result.skipped == {ALREADY_WRITTEN: ["m-1"]}
    everything = plan(letters, written_customers=written, include_written=True)
    assert len(everything.to_insert) == 2


def test_an_erased_customers_refused_row_is_never_inserted():
    """make forget erased the customer: their write dead letter stays out, even with
    include_written, while the batch's other customers come back."""
    built, letters = _refused(USERS[:2], message_id="m-1")
    erased_id = built[0]["customer_id"]
    others = [letter for letter in letters if letter.customer_id != erased_id]
    erased = erased_messages(letters[:1], {erased_id.lower()}, set())
    result = plan(
        others + letters[:1],
        erased=erased,
        erased_customers={erased_id.lower()},
        include_written=True,
    )
    assert [letter.customer_id for letter in result.to_insert] == [built[1]["customer_id"]]
    assert result.skipped == {ERASED: ["m-1"]}


def test_two_letters_of_one_customer_insert_it_once():
    _, letters = _refused(USERS[:1])
    result = plan(letters * 2)
    assert len(result.to_insert) == 1 and result.skipped == {ALREADY_WRITTEN: ["m-1"]}


def test_a_reduced_write_letter_still_holds_its_row():
    """BigQuery refused the write letter itself (customers_dlq down too): its reduced form
    keeps the row in payloadBytes only, which is enough."""
    built, _ = _refused(USERS[:1])
    letter = dead_letters.write_failure(("p:d.customers", built[0], FORBIDDEN), now=NOW)
    reduced = dead_letters.reduced_dead_letter(("p:d.customers_dlq", letter, FORBIDDEN))
    assert reduced["payloadString"] is None
    (inserted,) = plan([_read_back(reduced)]).to_insert
    assert inserted.row() == built[0]


def test_a_cut_or_broken_row_is_reported_not_inserted():
    _, (letter,) = _refused(USERS[:1])
    broken = DeadLetter.from_row(
        {
            "message_id": "m-1",
            "stage": "write",
            "payloadBytes": b'{"customer_id": "x", "email": ',
            "payloadString": '{"customer_id": "x", "email": ',
            "attributes": [],
            "payload_state": dead_letters.PAYLOAD_ROW,
            "errorMessage": letter.error,
        }
    )
    result = plan([broken])
    assert result.to_insert == [] and list(result.skipped) == [NOT_A_ROW]


def test_a_row_over_the_payload_limit_is_truncated_not_a_row():
    row = {
        **rows.to_customer_row(USERS[0], rows.Lineage(message_id="m")),
        "street_name": "x" * 1_100_000,
    }
    letter = dead_letters.write_failure(("p:d.customers", row, FORBIDDEN), now=NOW)
    assert letter["payload_state"] == dead_letters.PAYLOAD_TRUNCATED


def test_a_dead_letter_row_keeps_every_column_the_replay_reads():
    letter = _letter(b"{}", stage="parse", message_id="m-9")
    assert (letter.message_id, letter.stage, letter.payload) == ("m-9", "parse", b"{}")
    assert letter.payload_string == "{}"
    assert letter.attributes == {"source": "fake", "customer_id": "c-1"}
    assert letter.payload_state == dead_letters.PAYLOAD_ORIGINAL
    assert letter.error == "registered.date is missing"


def test_a_write_dead_letter_whose_json_is_no_object_has_no_row_and_no_customer():
    letter = _letter(b"[1]", stage="write")
    assert letter.row() is None
    assert letter.customer_id is None
    assert plan([letter]).skipped == {NOT_A_ROW: ["m-1"]}


def test_bytes_that_are_not_utf8_are_not_an_edit():
    """payloadString holds them decoded with U+FFFD, as the pipeline wrote it."""
    letter = _letter(b'\xff{"login": {}}')
    assert letter.payload_string == '\ufffd{"login": {}}'
    assert plan([letter]).to_send == [letter]


def test_every_message_and_row_is_counted_once_and_each_skip_names_its_message():
    letters = [
        _letter(message_id=None),
        _letter(message_id=None),
        _letter(message_id="m-erased"),
        _letter(message_id="m-a"),
        _letter(b'{"login": {"uuid": "x"}}', message_id="m-a"),
        _letter(b"[1]", stage="write", message_id="w-1"),
        _letter(b"[2]", stage="write", message_id="w-2"),
    ]
    result = plan(letters, erased={"m-erased"})
    assert (result.dead_letters, result.messages) == (7, 6)
    assert result.skipped == {
        ERASED: ["m-erased"],
        NOT_A_ROW: ["w-1", "w-2"],
        CONFLICTING: ["m-a"],
        NO_MESSAGE_ID: [None, None],
    }


def test_a_message_whose_dead_letters_all_fail_gives_the_first_reason_in_report_order():
    """REASONS' order, not the alphabet: "redacted ..." before "no payload ..."."""
    redacted = _letter(b'{"login": {"password": "x"}}')
    empty = _letter(b"")
    assert plan([empty, redacted]).skipped == {REDACTED: ["m-1"]}
