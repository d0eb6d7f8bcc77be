"""replay/plan.py: `write` dead letters hold the row BigQuery refused, and replay inserts it.

A request-level error (HTTP 403 while IAM propagates, 404 while a table is recreated) makes
Beam's streaming-insert sink hand every row of the batch to `failed_rows_with_errors`, each with
the same error: `{"message": e.message, "reason": e.response.reason}` (apache_beam 2.77,
io/gcp/bigquery_tools.py `BigQueryWrapper._insert_all_rows`, `except (ClientError,
GoogleAPICallError)`), and RetryStrategy.RETRY_ON_TRANSIENT_ERROR does not retry 'Forbidden',
'Not Found', 'Unauthorized' or 'Bad Request' (`RetryStrategy._NON_TRANSIENT_ERRORS`). Those rows
are valid customers: the replay must bring each back once, deduplicated by customer.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from pipeline import dead_letters, rows, schema
from replay.erasure import erased_messages
from replay.plan import ALREADY_WRITTEN, ERASED, NOT_A_ROW, DeadLetter, plan, written_messages
from tests.support import FIXTURES

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


def _read_back(letter: dict) -> DeadLetter:
    """A customers_dlq row as the replay reads it from BigQuery (BYTES come back as bytes)."""
    return DeadLetter.from_row({**letter, "payloadBytes": base64.b64decode(letter["payloadBytes"])})


def _refused(users, errors=FORBIDDEN, message_id="m-1") -> tuple[list[dict], list[DeadLetter]]:
    built = [rows.to_customer_row(user, message_id=message_id, ingested_at=NOW) for user in users]
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
        assert schema.insert_errors(row, schema.CUSTOMERS, now=NOW) == []


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
            "payload_state": schema.PAYLOAD_ROW,
            "errorMessage": letter.error,
        }
    )
    result = plan([broken])
    assert result.to_insert == [] and list(result.skipped) == [NOT_A_ROW]


def test_a_row_over_the_payload_limit_is_truncated_not_a_row():
    row = {**rows.to_customer_row(USERS[0], message_id="m"), "street_name": "x" * 1_100_000}
    letter = dead_letters.write_failure(("p:d.customers", row, FORBIDDEN), now=NOW)
    assert letter["payload_state"] == schema.PAYLOAD_TRUNCATED
