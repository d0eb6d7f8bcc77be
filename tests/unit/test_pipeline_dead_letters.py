"""Dead letters: credentials redacted, payloads cut, rejected rows and dead letters kept."""

import base64
import json
from datetime import UTC, datetime

import pytest

import contract
from pipeline import dead_letters, messages, rows, tables
from tests import bigquery_rules
from tests.bigquery_rules import assert_fits
from tests.support import FIXTURES, dead_letter_row

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]


CREDENTIALS = {key: USER["login"][key] for key in contract.CREDENTIAL_FIELDS}


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_dead_letters_never_keep_a_credential():
    user = {**USER, "login": {**USER["login"], "uuid": None}}
    payload = json.dumps(user).encode()
    for data in (payload, payload[:-40]):  # valid JSON, and JSON cut short
        letter = messages.process_message(data).dead_letters[0]
        stored = letter["payloadString"] + base64.b64decode(letter["payloadBytes"]).decode()
        for secret in CREDENTIALS.values():
            assert secret not in stored
    cleaned = json.loads(messages.process_message(payload).dead_letters[0]["payloadString"])
    assert cleaned["login"] == {
        **{key: None for key in contract.CREDENTIAL_FIELDS},
        "uuid": None,
        "username": USER["login"]["username"],
    }


# A credential whose value holds every kind of character the redaction must step over: a
# plain one, an escaped quote and an escaped backslash.
ODD_SECRET = 'pa\\ss"w\\"0rd'


def _cut_points(payload: bytes, key: str) -> tuple[int, range]:
    """Where `key`'s value starts in `payload` (its opening quote), and every offset from just
    after that quote up to just before the closing one: a message cut there ends mid-value."""
    start = payload.index(f'"{key}": "'.encode()) + len(key) + 4
    value = json.dumps(USER["login"][key] if key != "password" else ODD_SECRET).encode()
    assert payload[start : start + len(value)] == value
    return start, range(start + 1, start + len(value))


@pytest.mark.parametrize("key", contract.CREDENTIAL_FIELDS)
def test_a_credential_cut_off_at_any_byte_of_its_value_is_redacted(key):
    """A message that breaks off inside a credential's value (a truncated publish, a cut
    envelope) still loses what it holds of it: the value's end is the payload's end."""
    user = {**USER, "login": {**USER["login"], "password": ODD_SECRET}}
    payload = json.dumps(user).encode()
    start, offsets = _cut_points(payload, key)
    for offset in offsets:
        cut = payload[:offset]
        redacted = dead_letters.redact_credentials(cut)
        assert redacted == dead_letters.redact_credentials(payload[:start]) + b"null", offset
        (letter,) = messages.process_message(cut).dead_letters
        assert letter["payload_state"] == dead_letters.PAYLOAD_REDACTED
        assert base64.b64decode(letter["payloadBytes"]) == redacted


def test_redaction_leaves_everything_else_byte_for_byte():
    payload = b'{"a": "\xff", "login": {"password" : "p\\"w", "md5":"x"}, "b": 1}'
    assert dead_letters.redact_credentials(payload) == (
        b'{"a": "\xff", "login": {"password" : null, "md5":null}, "b": 1}'
    )


def test_huge_payloads_are_truncated_in_the_dead_letter():
    payload = b"x" * (dead_letters.MAX_DEAD_LETTER_PAYLOAD + 10)
    (letter,) = messages.process_message(payload).dead_letters
    assert len(base64.b64decode(letter["payloadBytes"])) == dead_letters.MAX_DEAD_LETTER_PAYLOAD
    assert letter["errorMessage"].endswith(
        f"[payload truncated to {dead_letters.MAX_DEAD_LETTER_PAYLOAD} of {len(payload)} bytes]"
    )


def test_write_failure_from_streaming_inserts():
    row = rows.to_customer_row(
        USER, rows.Lineage(message_id="3", publish_time="2024-05-01T11:00:00Z")
    )
    errors = [{"reason": "invalid", "location": "postcode", "message": "no such field"}]
    letter = dead_letters.write_failure(("p:d.customers", row, errors), now=NOW)
    assert letter["stage"] == "write"
    assert letter["errorMessage"] == (
        "BigQuery rejected the row p:d.customers: invalid at postcode: no such field"
    )
    assert json.loads(letter["payloadString"]) == row
    assert letter["message_id"] == "3"
    assert letter["publish_time"] == "2024-05-01T11:00:00.000Z"
    assert bigquery_rules.row_errors(letter, tables.fields(tables.CUSTOMERS_DLQ)) == []


def test_write_failure_from_storage_write_api():
    letter = dead_letters.write_failure(
        {"failed_row": {"customer_id": "c", "registered_at": NOW}, "error_message": "bad row"},
        now=NOW,
    )
    assert letter["errorMessage"] == "BigQuery rejected the row: bad row"
    assert json.loads(letter["payloadString"])["registered_at"] == str(NOW)
    assert bigquery_rules.row_errors(letter, tables.fields(tables.CUSTOMERS_DLQ)) == []


@pytest.mark.parametrize(
    "letter",
    [
        dead_letters.dead_letter(
            stage="parse", error="x" * 10_000, payload=b"\xff" * 2_000_000, message_id="7"
        ),
        {"stage": "nonsense", "message_id": 5, "publish_time": "yesterday", "payloadBytes": "!"},
        {"payloadString": "caf\u00e9", "errorMessage": None, "attributes": "not a list"},
        "not even a dict",
    ],
    ids=["oversized", "wrong-types", "no-bytes", "not-a-dict"],
)
def test_a_reduced_dead_letter_is_always_schema_valid(letter):
    failure = ("my-project:shop.audit", letter, [{"reason": "invalid", "message": "Bob"}])
    reduced = dead_letters.reduced_dead_letter(failure)
    assert bigquery_rules.insert_errors(reduced, tables.CUSTOMERS_DLQ) == []
    assert reduced["payloadString"] is None and reduced["attributes"] == []
    assert reduced["stage"] in dead_letters.STAGES
    if isinstance(letter, dict) and "payloadBytes" not in letter:  # only payloadString is left
        assert base64.b64decode(reduced["payloadBytes"]) == letter["payloadString"].encode()


@pytest.mark.parametrize(
    "payload_bytes",
    [None, "not base64!", "YWJj!"],
    ids=["missing", "undecodable", "base64-with-a-stray-character"],
)
def test_a_payload_rebuilt_from_payload_string_is_never_called_original(payload_bytes):
    """payloadString is the payload decoded with replacement characters: encoded again it is not
    the message's bytes, so the reduced letter's state is unknown, which replay does not send."""
    letter = dead_letters.dead_letter(
        stage="parse", error="e", payload=b"\xffcaf\xc3\xa9", message_id="7"
    )
    assert letter["payload_state"] == dead_letters.PAYLOAD_ORIGINAL
    letter = {**letter, "payloadBytes": payload_bytes}
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert base64.b64decode(reduced["payloadBytes"]) == "\ufffdcaf\u00e9".encode()
    assert reduced["payload_state"] is None
    assert bigquery_rules.insert_errors(reduced, tables.CUSTOMERS_DLQ) == []


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        (b'{"login": {"uuid": "u", "password": "hunter2"}}', dead_letters.PAYLOAD_REDACTED),
        (b"x" * (dead_letters.MAX_DEAD_LETTER_PAYLOAD + 1), dead_letters.PAYLOAD_TRUNCATED),
        (b"not json", dead_letters.PAYLOAD_ORIGINAL),
    ],
    ids=["redacted", "truncated", "original"],
)
def test_a_reduced_dead_letter_keeps_its_payload_state(payload, state):
    """Its payloadBytes are what the rejected letter kept: a redacted or cut payload must not
    pass for the message's exact bytes, or `python -m replay` would re-publish it."""
    letter = dead_letters.dead_letter(stage="parse", error="e", payload=payload, message_id="7")
    assert letter["payload_state"] == state
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert reduced["payload_state"] == state
    assert bigquery_rules.insert_errors(reduced, tables.CUSTOMERS_DLQ) == []


def test_payload_states_are_documented_in_the_dead_letter_table():
    (field,) = [f for f in tables.fields(tables.CUSTOMERS_DLQ) if f["name"] == "payload_state"]
    for state in dead_letters.PAYLOAD_STATES:
        assert state in field["description"]
    assert set(dead_letters.REPLAYABLE_PAYLOADS) < set(dead_letters.PAYLOAD_STATES)


def test_dead_letter_has_exactly_the_schema_columns_and_types():
    letter = dead_letters.dead_letter(
        stage="parse",
        error="payload is not JSON",
        payload=b"\xffnot json",
        attributes={"source": "file"},
        message_id="9",
        publish_time="2024-05-01T10:00:00Z",
        stacktrace="Traceback ...",
    )
    assert_fits(letter, tables.CUSTOMERS_DLQ)


def test_the_largest_dead_letter_fits_a_streaming_insert():
    """Whatever the message (Pub/Sub's limits: 10 MB of data, 100 attributes of 256-byte keys
    and 1024-byte values), its dead letter fits: each byte that is not UTF-8 costs 6 bytes as
    JSON (a replacement character escaped as \\ufffd), so the payload is cut to fit."""
    attributes = {f"{index:03d}".ljust(256, "\x01"): "\x01" * 1024 for index in range(100)}
    letter = dead_letters.dead_letter(
        stage="parse",
        error="\x01" * 100_000,
        payload=b"\xff" * 10_000_000,
        attributes=attributes,
        message_id="1" * 100,
        stacktrace="\x01" * 100_000,
    )
    assert bigquery_rules.insert_errors(letter, tables.CUSTOMERS_DLQ) == []


def test_a_clean_payload_is_kept_as_the_original():
    payload = json.dumps({"login": {"uuid": "x", "password": None}}).encode()
    assert dead_letter_row(payload)["payload_state"] == dead_letters.PAYLOAD_ORIGINAL


def test_a_payload_with_a_credential_is_marked_redacted():
    payload = json.dumps({"login": {"uuid": "x", "password": "hunter2"}}).encode()
    row = dead_letter_row(payload)
    assert b"hunter2" not in row["payloadBytes"]
    assert row["payload_state"] == dead_letters.PAYLOAD_REDACTED


def test_a_cut_payload_is_marked_truncated_even_when_also_redacted():
    payload = (
        b'{"login": {"password": "hunter2"}, "x": "' + b"y" * dead_letters.MAX_DEAD_LETTER_PAYLOAD
    )
    assert dead_letter_row(payload)["payload_state"] == dead_letters.PAYLOAD_TRUNCATED


def test_a_write_dead_letter_holds_a_row_not_a_message():
    row = rows.to_customer_row(
        USER, rows.Lineage(message_id="3", publish_time="2024-05-01T11:00:00Z")
    )
    letter = dead_letters.write_failure(("p:d.customers", row, [{"reason": "invalid"}]), now=NOW)
    assert letter["payload_state"] == dead_letters.PAYLOAD_ROW


def test_every_dead_letter_of_the_pipeline_has_a_known_payload_state():
    for payload in (None, b"", b"\xff", b"[1]", json.dumps({"results": [{}, {}]}).encode()):
        for letter in messages.process_message(payload, {}, message_id="1").dead_letters:
            assert letter["payload_state"] in dead_letters.PAYLOAD_STATES


NOW_TEXT = "2024-05-01T12:00:00.000Z"


def test_an_unknown_stage_is_refused_with_the_stages():
    with pytest.raises(
        ValueError, match=r"^unknown stage 'load'; expected one of parse, validate, write$"
    ):
        dead_letters.dead_letter(stage="load", error="e", payload=b"x")


@pytest.mark.parametrize(("payload", "kept"), [(None, None), (b"", "")], ids=["none", "empty"])
def test_a_message_without_data_keeps_no_payload_and_is_the_original(payload, kept):
    letter = dead_letters.dead_letter(stage="parse", error="payload is empty", payload=payload)
    assert (letter["payloadString"], letter["payloadBytes"]) == (kept, kept)
    assert letter["payload_state"] == dead_letters.PAYLOAD_ORIGINAL


def test_a_payload_of_exactly_the_limit_is_kept_whole():
    payload = b"x" * dead_letters.MAX_DEAD_LETTER_PAYLOAD
    letter = dead_letters.dead_letter(stage="parse", error="not JSON", payload=payload)
    assert letter["errorMessage"] == "not JSON"
    assert letter["payload_state"] == dead_letters.PAYLOAD_ORIGINAL
    assert base64.b64decode(letter["payloadBytes"]) == payload


def test_a_long_stack_trace_is_cut_and_made_utf8():
    trace = "\ud800" + "t" * dead_letters.MAX_DEAD_LETTER_TEXT
    letter = dead_letters.dead_letter(stage="parse", error="e", payload=b"x", stacktrace=trace)
    assert letter["stacktrace"] == "\\ud800" + "t" * (dead_letters.MAX_DEAD_LETTER_TEXT - 1)


def _padded_letter(padding: int) -> dict:
    """A dead letter of 1 MB of NUL bytes (6 bytes each in payloadString's JSON) and an
    attribute of `padding` ASCII characters."""
    return dead_letters.dead_letter(
        stage="parse",
        error="e",
        payload=b"\x00" * dead_letters.MAX_DEAD_LETTER_PAYLOAD,
        attributes={"pad": "a" * padding},
        now=NOW,
    )


def test_payload_string_is_left_out_only_when_the_letter_would_not_fit():
    """BigQuery's row limit is measured with payloadString; payloadBytes keep every byte."""
    limit = tables.MAX_STREAMING_ROW_BYTES
    exact = _padded_letter(limit - tables.json_size(_padded_letter(0)))
    assert tables.json_size(exact) == limit
    assert exact["payloadString"] == "\x00" * dead_letters.MAX_DEAD_LETTER_PAYLOAD
    over = _padded_letter(limit - tables.json_size(_padded_letter(0)) + 1)
    assert over["payloadString"] is None
    assert over["errorMessage"] == ("e [payloadString left out to fit BigQuery's row size limit]")
    assert base64.b64decode(over["payloadBytes"]) == b"\x00" * dead_letters.MAX_DEAD_LETTER_PAYLOAD
    assert bigquery_rules.insert_errors(over, tables.CUSTOMERS_DLQ) == []


# BigQuery's insertErrors entries as Beam hands them over, and the three ways they are told.
@pytest.mark.parametrize(
    ("errors", "described", "reasons", "refused"),
    [
        ("boom", "boom", "unknown error", None),
        (None, "None", "unknown error", None),
        ([], "", "unknown error", None),
        (
            ["oops", {"reason": "invalid", "location": "x", "message": "bad 'v'"}],
            "oops; invalid at x: bad 'v'",
            "invalid at x",
            None,
        ),
        ([{"reason": "stopped", "location": ""}], "stopped: ", "stopped", None),
        ([{}], "error: ", "error", None),
        (
            [{"reason": "Forbidden", "message": "denied"}],
            "Forbidden: denied",
            "Forbidden",
            ("HTTP 403 Forbidden"),
        ),
        ([{"reason": "Not Found"}], "Not Found: ", "Not Found", "HTTP 404 Not Found"),
        (
            [{"reason": "Forbidden"}, {"reason": "Forbidden"}],
            "Forbidden: ; Forbidden: ",
            "Forbidden, Forbidden",
            None,
        ),
        ([{"reason": "Forbidden", "location": "x"}], "Forbidden at x: ", "Forbidden at x", None),
        (["Forbidden"], "Forbidden", "unknown error", None),
    ],
)
def test_insert_errors_are_described_reduced_to_reasons_and_told_whole(
    errors, described, reasons, refused
):
    """Only a single location-less entry whose reason is an HTTP phrase is a refused request
    (Beam reports one on every row of the batch); the reasons never quote a message."""
    assert dead_letters.describe_insert_errors(errors) == described
    assert dead_letters.insert_error_reasons(errors) == reasons
    assert dead_letters.request_error(errors) == refused


@pytest.mark.parametrize(
    ("errors", "told"),
    [
        (
            [{"reason": "Forbidden", "message": "Access Denied: Table p:d.customers"}],
            ("HTTP 403 Forbidden: Access Denied: Table p:d.customers"),
        ),
        ([{"reason": "Not Found"}], "HTTP 404 Not Found: "),
    ],
)
def test_a_row_of_a_refused_request_says_the_whole_request_was_refused(errors, told):
    row = {"customer_id": "c", "message_id": "m-3", "publish_time": "2024-05-01T11:00:00Z"}
    letter = dead_letters.write_failure(("p:d.customers", row, errors), now=NOW)
    assert letter["errorMessage"] == (
        f"BigQuery refused the whole insert request into p:d.customers: {told}"
    )
    assert letter["payload_state"] == dead_letters.PAYLOAD_ROW
    assert (letter["message_id"], letter["timestamp"]) == ("m-3", NOW_TEXT)


@pytest.mark.parametrize(
    ("failed_row", "payload_string", "message_id"),
    [
        ("garbage", '{"row": "garbage"}', None),
        ({"message_id": 5, "email": "\ud800"}, '{"message_id": 5, "email": "\\ud800"}', None),
        (
            {"message_id": "m", "last_name": "\u0110uro"},
            '{"message_id": "m", "last_name": "\u0110uro"}',
            "m",
        ),
    ],
    ids=["not-an-object", "lone-surrogate-and-a-numeric-id", "non-ascii"],
)
def test_any_rejected_row_becomes_a_readable_schema_valid_dead_letter(
    failed_row, payload_string, message_id
):
    """Whatever the sink hands back: a non-object row is wrapped, text UTF-8 cannot encode is
    escaped, a message_id that is not text is dropped, and other text stays as it was, so an
    operator can read and correct it in payloadString."""
    letter = dead_letters.write_failure({"failed_row": failed_row, "error_message": "x"}, now=NOW)
    assert bigquery_rules.insert_errors(letter, tables.CUSTOMERS_DLQ) == []
    assert letter["payloadString"] == payload_string
    assert letter["message_id"] == message_id
    assert letter["timestamp"] == NOW_TEXT


def test_a_reduced_dead_letter_keeps_its_stage_ids_times_and_both_reasons():
    letter = dead_letters.dead_letter(
        stage="validate",
        error="email must be a string, got number",
        payload=b"{}",
        message_id="7",
        publish_time="2024-05-01T11:00:00Z",
        now=NOW,
    )
    failure = ("p:d.customers_dlq", letter, [{"reason": "invalid", "location": "attributes"}])
    reduced = dead_letters.reduced_dead_letter(failure, now=NOW)
    assert reduced["stage"] == "validate"
    assert reduced["errorMessage"] == (
        "BigQuery rejected the dead letter (invalid at attributes), kept reduced; "
        "original error: email must be a string, got number"
    )
    assert (reduced["message_id"], reduced["publish_time"], reduced["timestamp"]) == (
        "7",
        "2024-05-01T11:00:00.000Z",
        NOW_TEXT,
    )
    assert base64.b64decode(reduced["payloadBytes"]) == b"{}"


@pytest.mark.parametrize(
    ("message_id", "kept"),
    [
        ("m" * dead_letters.MAX_REDUCED_TEXT, True),
        ("m" * (dead_letters.MAX_REDUCED_TEXT + 1), False),
    ],
)
def test_a_reduced_dead_letter_keeps_a_message_id_up_to_its_limit(message_id, kept):
    letter = {"message_id": message_id, "payloadString": "x", "stage": "parse"}
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert reduced["message_id"] == (message_id if kept else None)


def test_a_reduced_dead_letter_forgets_a_payload_state_it_does_not_know():
    letter = {"payloadBytes": base64.b64encode(b"x").decode(), "payload_state": "bogus"}
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert reduced["payload_state"] is None


def test_payload_text_that_utf8_cannot_encode_still_gives_a_reduced_dead_letter():
    letter = {"payloadString": "a\ud800", "stage": "parse"}
    reduced = dead_letters.reduced_dead_letter(("p:d.t", letter, [{"reason": "invalid"}]))
    assert base64.b64decode(reduced["payloadBytes"]) == b"a?"
    assert bigquery_rules.insert_errors(reduced, tables.CUSTOMERS_DLQ) == []


@pytest.mark.parametrize(
    ("errors", "logged"),
    [
        (
            [{"reason": "Forbidden", "message": "Denied: 'bob@example.com' in \"Bob\" of 'x'"}],
            "HTTP 403 Forbidden: Denied: <value> in <value> of <value>",
        ),
        ([{"reason": "Not Found"}], "HTTP 404 Not Found: "),
        (
            [{"reason": "Not Found", "message": "t" * (dead_letters.MAX_REASON_LENGTH + 1)}],
            "HTTP 404 Not Found: " + "t" * dead_letters.MAX_REASON_LENGTH,
        ),
    ],
    ids=["quoted-values", "no-message", "long-message"],
)
def test_a_refused_request_is_logged_without_any_quoted_value(errors, logged):
    """BigQuery's message may quote a row's values: the worker log gets it without them."""
    assert dead_letters.loggable_request_error(errors) == logged
