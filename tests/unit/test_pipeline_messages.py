"""process_message: a message's rows, and at most one dead letter that names every reason.

A message's dead letter is bounded by its size (tests/support.py, `dead_letter_bound`): at most
DEAD_LETTER_SIZE_FACTOR (8) times the message's size plus DEAD_LETTER_OVERHEAD bytes as a JSON
insert row, measured as `json.dumps(letter)` (ASCII escapes: the longest form a client sends).
"""

import base64
import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contract
from pipeline import dead_letters, messages, rows, tables
from tests import bigquery_rules
from tests.strategies import ELEMENT_CODER, SECRETS, hostile_text, payloads
from tests.support import BAD_MESSAGE_CORPUS, FIXTURES, dead_letter_bound

USERS = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text(encoding="utf-8"))["results"]
USER = USERS[0]
MB = 1_000_000
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _envelope(users: list[bytes]) -> bytes:
    return b'{"results": [' + b",".join(users) + b'], "info": {"version": "1.4"}}'


def _bytes(letter: dict) -> int:
    return len(json.dumps(letter).encode())


def _one_bounded_letter(payload: bytes, attributes: dict | None = None) -> dict:
    outcome = messages.process_message(payload, attributes, message_id="m")
    (letter,) = outcome.dead_letters
    assert bigquery_rules.row_errors(letter, tables.fields(tables.CUSTOMERS_DLQ)) == []
    assert _bytes(letter) <= dead_letter_bound(payload, attributes)
    return letter


def test_an_envelope_of_4000_empty_users_is_one_dead_letter_naming_each_reason():
    """Was 4,000 dead letters of the whole payload each: 151 MB for a 12 KB message."""
    payload = _envelope([b"{}"] * 4000)
    letter = _one_bounded_letter(payload)
    message = letter["errorMessage"]
    assert message.startswith("4000 of 4000 users in the envelope are invalid: results[0]: ")
    listed = [f"results[{i}]: login is missing" for i in range(dead_letters.MAX_LISTED_USERS)]
    assert all(reason in message for reason in listed)
    assert f"results[{dead_letters.MAX_LISTED_USERS}]" not in message
    assert message.endswith(f"; and {4000 - dead_letters.MAX_LISTED_USERS} more")
    assert base64.b64decode(letter["payloadBytes"]) == payload  # stored once, whole
    assert _bytes(letter) < 4 * len(payload)


def test_good_users_of_an_envelope_are_rows_and_the_bad_ones_share_one_dead_letter():
    good, bad = USERS
    bad = {**bad, "login": {"uuid": "nope"}}
    users = [json.dumps(good).encode(), json.dumps(bad).encode(), b"7", json.dumps(good).encode()]
    outcome = messages.process_message(_envelope(users), message_id="m")
    assert [row["customer_id"] for row in outcome.rows] == [good["login"]["uuid"]] * 2
    (letter,) = outcome.dead_letters
    assert letter["errorMessage"] == (
        "2 of 4 users in the envelope are invalid: results[1]: login.uuid 'nope' is not a UUID; "
        "results[2]: a user must be a JSON object, got number"
    )


def test_a_single_user_dead_letter_keeps_its_plain_reason():
    letter = _one_bounded_letter(json.dumps({**USERS[0], "email": 5}).encode())
    assert letter["errorMessage"] == "email must be a string, got number"
    assert letter["stacktrace"] is None  # an expected reason needs no stack trace


def test_unexpected_errors_keep_one_clipped_stack_trace(monkeypatch):
    def broken(user, lineage):
        raise KeyError("k" * 10_000)

    monkeypatch.setattr(messages, "to_customer_row", broken)
    letter = _one_bounded_letter(_envelope([b"{}"] * 50))
    assert letter["errorMessage"].startswith("50 of 50 users in the envelope are invalid: ")
    assert "results[0]: KeyError('kkk" in letter["errorMessage"]
    assert len(letter["stacktrace"]) < dead_letters.MAX_STACKTRACE_LENGTH + 100
    assert letter["stacktrace"].startswith("Traceback")


@pytest.mark.parametrize(
    ("name", "payload", "attributes"),
    [
        ("1 MB of NUL bytes (6 bytes each as JSON)", b"\x00" * MB, None),
        ("2 MB of NUL bytes (cut at 1 MB)", b"\x00" * (2 * MB), None),
        ("1 MB of bytes that are not UTF-8", b"\xff" * MB, None),
        ("empty credentials that redaction lengthens", b'{"md5":"",' * 100_000, None),
        ("control characters in attributes", b"{}", {"\x01" * 200: "\x02" * 1000}),
        ("an empty message", b"", None),
        ("a 1.2 MB envelope of 400,000 empty users", _envelope([b"{}"] * 400_000), None),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_worst_case_dead_letters_stay_within_the_bound(name, payload, attributes):
    letter = _one_bounded_letter(payload, attributes)
    if len(payload) > dead_letters.MAX_DEAD_LETTER_PAYLOAD:
        assert "payload truncated to 1000000 of" in letter["errorMessage"]


def test_memory_stays_flat_on_a_10_mb_envelope_of_bad_users():
    """Users are decoded and checked one at a time: peak memory is a small multiple of the
    message (its text, the redacted payload copy), not of the number of users in it."""
    uuid = USERS[0]["login"]["uuid"].encode()
    bad = b'{"login": {"uuid": "%s"}, "name": {"first": "\\ud800"}}' % uuid
    users = (10 * MB - 100) // (len(bad) + 1)
    payload = _envelope([bad] * users)
    assert 9.9 * MB < len(payload) <= 10 * MB
    tracemalloc.start()
    try:
        outcome = messages.process_message(payload, {"source": "file"}, message_id="big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.rows == []
    (letter,) = outcome.dead_letters
    assert letter["errorMessage"].startswith(
        f"{users} of {users} users in the envelope are invalid: "
        "results[0]: name.first cannot be encoded as UTF-8"
    )
    assert _bytes(letter) <= dead_letter_bound(payload, {"source": "file"})
    assert peak < 3 * len(payload), f"peak {peak / MB:.1f} MB for a {len(payload) / MB:.1f} MB"


def test_an_error_whose_text_cannot_be_rendered_is_still_one_dead_letter(monkeypatch):
    deep: list = []
    for _ in range(100_000):
        deep = [deep]

    def broken(user, lineage):
        raise ValueError(deep)  # repr() of it exceeds the recursion limit

    monkeypatch.setattr(messages, "to_customer_row", broken)
    letter = _one_bounded_letter(_envelope([b"{}"]))
    assert letter["errorMessage"].endswith(
        "results[0]: ValueError (its text could not be rendered)"
    )


def test_process_message_fans_out_an_envelope():
    payload = (FIXTURES / "03_api_results100_seed_kbs.json").read_bytes()
    outcome = messages.process_message(payload, {"source": "file"}, message_id="5", now=NOW)
    assert len(outcome.rows) == 100
    assert not outcome.dead_letters
    assert {row["message_id"] for row in outcome.rows} == {"5"}
    assert {row["source"] for row in outcome.rows} == {"file"}


def test_process_message_keeps_the_message_in_a_dead_letter():
    attributes = {contract.ATTR_SOURCE: "file", contract.ATTR_CUSTOMER_ID: "x"}
    outcome = messages.process_message(
        b"\xff{", attributes, message_id="8", publish_time="2024-05-01T11:00:00Z", now=NOW
    )
    assert outcome.rows == []
    (letter,) = outcome.dead_letters
    assert letter["stage"] == "parse"
    assert letter["errorMessage"].startswith("payload is not UTF-8")
    assert base64.b64decode(letter["payloadBytes"]) == b"\xff{"
    assert letter["payloadString"] == "\ufffd{"
    assert letter["attributes"] == [
        {"key": "customer_id", "value": "x"},
        {"key": "source", "value": "file"},
    ]
    assert letter["message_id"] == "8"
    assert letter["publish_time"] == "2024-05-01T11:00:00.000Z"
    assert letter["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert letter["stacktrace"] is None


def _broken(*args, **kwargs):
    raise KeyError("surprise")


@pytest.mark.parametrize(
    ("broken", "stage"),
    [
        # building a user's row fails: that user's reason
        ({"to_customer_row": _broken}, "validate"),
        # reading the message's users fails: the message's
        ({"iter_users": _broken}, "parse"),
    ],
    ids=["user", "message"],
)
def test_unexpected_errors_become_dead_letters_with_a_stack_trace(monkeypatch, broken, stage):
    for name, replacement in broken.items():
        monkeypatch.setattr(messages, name, replacement)
    outcome = messages.process_message(json.dumps(USER).encode())
    (letter,) = outcome.dead_letters
    assert letter["stage"] == stage
    assert letter["errorMessage"] == "KeyError('surprise')"
    assert "Traceback" in letter["stacktrace"]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"results": [{}, {} {}]}',
        b'{"results": [{}, ]}',
        b'{"results": [{}, {"a": NaN}]}',
        b'{"results": [{}, {"a": "\x01"}]}',
        b'{"results": [{},',
        b'{"results": [{} ,  ',
        b"{1: 2}",
        b'{"a" 1}',
        b'{"a": 1 "b": 2}',
        b'{"a": 1',
        b'{"a": 1 ',
        b'{} "results"',
        b'{"a" X1}',
        b'{"a": 1X "b": 2}',
    ],
)
def test_a_broken_envelope_names_the_fault_as_json_loads_does(payload):
    """The envelope scanner's fast loop hands a fault back to the decoder: same message."""
    try:
        json.loads(payload, parse_constant=lambda name: 1 / 0)
    except ZeroDivisionError:
        expected = "NaN is not valid JSON"
    except ValueError as error:
        expected = str(error)
    (letter,) = messages.process_message(payload).dead_letters
    assert letter["stage"] == "parse"
    assert letter["errorMessage"] == f"payload is not JSON: {expected}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads(), st.dictionaries(hostile_text, hostile_text, max_size=3))
def test_process_message_never_raises_and_accounts_for_the_message(payload, attributes):
    outcome = messages.process_message(payload, attributes, message_id="1")

    assert outcome.rows or outcome.dead_letters
    assert len(outcome.dead_letters) <= 1
    for row in outcome.rows:
        assert bigquery_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == []
        ELEMENT_CODER.encode(row)
    for letter in outcome.dead_letters:
        assert bigquery_rules.row_errors(letter, tables.fields(tables.CUSTOMERS_DLQ)) == []
        ELEMENT_CODER.encode(letter)
        assert len(json.dumps(letter)) <= dead_letter_bound(payload, attributes)
        assert letter["stage"] in ("parse", "validate")
        assert letter["errorMessage"]
    stored = [json.dumps(row) for row in outcome.rows]
    stored += [letter["payloadString"] for letter in outcome.dead_letters]
    assert not any(secret in text for secret in SECRETS for text in stored)


def test_the_replay_of_attribute_becomes_the_lineage_column():
    payload = json.dumps(USER).encode()
    attributes = {"source": "fake", contract.ATTR_REPLAY_OF: "dead-1"}
    (row,) = messages.process_message(payload, attributes, message_id="new-2").rows
    assert (row["message_id"], row["replay_of"]) == ("new-2", "dead-1")
    (first,) = messages.process_message(payload, {"source": "fake"}, message_id="3").rows
    assert first["replay_of"] is None


# Each class of the bad-message corpus (tests/data/bad_messages) with the reason its one dead
# letter must give, written by hand: the graph test of test_pipeline_transforms.py checks only
# each message's stage, so a reason gone wrong (a latitude limit, a check dropped) showed nowhere.
_NOT_AN_OBJECT = "payload must be a JSON object (a user or an API envelope), got "
_NO_UUID = "login.uuid is missing: it is the customer_id (API versions 1.0 and 1.1 send none)"
_NO_LOGIN = "login is missing: login.uuid is the customer_id"
_NOT_ISO = "is not an ISO 8601 timestamp with a time zone"
CORPUS_REASONS = {
    "parse-api_error_response.json": 'payload is an API error response: "Whoa, ease up there',
    "parse-binary_garbage.bin": "payload is not UTF-8: ",
    "parse-deeply_nested.json": _NOT_AN_OBJECT + "array",
    "parse-empty.bin": "payload is empty",
    "parse-envelope_results_empty.json": "envelope results is empty",
    "parse-envelope_results_not_array.json": "envelope results must be an array, got object",
    "parse-invalid_utf8_inside_json.json": "payload is not UTF-8: ",
    "parse-json_array.json": _NOT_AN_OBJECT + "array",
    "parse-json_boolean.json": _NOT_AN_OBJECT + "boolean",
    "parse-json_null.json": _NOT_AN_OBJECT + "null",
    "parse-json_number.json": _NOT_AN_OBJECT + "number",
    "parse-json_string.json": _NOT_AN_OBJECT + "string",
    "parse-nan_literal.json": "payload is not JSON: NaN is not valid JSON",
    "parse-plain_text_404.txt": "payload is not JSON: Expecting value: line 1 column 1",
    "parse-raw_control_characters.json": "payload is not JSON: Invalid control character",
    "parse-trailing_garbage.json": "payload is not JSON: Extra data",
    "parse-truncated_json.json": "payload is not JSON: Unterminated string",
    "parse-two_results_arrays.json": "envelope has more than one results array",
    "parse-utf16_encoded.json": "payload is not UTF-8: ",
    "parse-xml.xml": "payload is not JSON: Expecting value: line 1 column 1",
    "validate-all_fields_null.json": _NO_LOGIN,
    "validate-api_version_1.0_envelope.json": "3 of 3 users in the envelope are invalid: "
    f"results[0]: {_NO_UUID}; results[1]: {_NO_UUID}; results[2]: {_NO_UUID}",
    "validate-api_version_1.1_user.json": _NO_UUID,
    "validate-bad_dob_date.json": f"dob.date 'yesterday' {_NOT_ISO}",
    "validate-email_is_number.json": "email must be a string, got number",
    "validate-empty_object.json": _NO_LOGIN,
    "validate-empty_uuid.json": "login.uuid '' is not a UUID",
    "validate-envelope_4000_empty_users.json": "4000 of 4000 users in the envelope are invalid: "
    f"results[0]: {_NO_LOGIN}; results[1]: ",
    "validate-envelope_one_bad_user_among_good.json": "1 of 6 users in the envelope are "
    f"invalid: results[3]: {_NO_UUID}",
    "validate-envelope_user_not_object.json": "1 of 1 users in the envelope are invalid: "
    "results[0]: a user must be a JSON object, got string",
    "validate-gender_is_list.json": "gender must be a string, got array",
    "validate-huge_first_name.json": "name.first is 10000 characters long; the limit is 2048",
    "validate-impossible_registered_date.json": f"registered.date '2020-13-45T00:00:00.000Z' "
    f"{_NOT_ISO}",
    "validate-latitude_not_a_number.json": "location.coordinates.latitude 'north' is not a number",
    "validate-latitude_out_of_range.json": "location.coordinates.latitude '123.4' is outside "
    "[-90, 90]",
    "validate-login_is_string.json": "login must be an object, got string",
    "validate-missing_login.json": _NO_LOGIN,
    "validate-missing_uuid.json": _NO_UUID,
    "validate-name_is_string.json": "name must be an object, got string",
    "validate-null_uuid.json": _NO_UUID,
    "validate-postcode_is_object.json": "location.postcode must be a string or an integer, "
    "got object",
    "validate-registered_date_is_number.json": "registered.date must be a string, got number",
    "validate-registered_date_without_zone.json": f"registered.date '2020-01-01T00:00:00' "
    f"{_NOT_ISO}",
    "validate-street_deeply_nested_wrong_type.json": "location.street.number must be an "
    "integer, got array",
    "validate-street_number_is_boolean.json": "location.street.number must be an integer, "
    "got boolean",
    "validate-street_number_is_float.json": "location.street.number must be an integer, got number",
    "validate-street_number_is_string.json": "location.street.number must be an integer, "
    "got string",
    "validate-street_number_too_big.json": "location.street.number 1180591620717411303424 does "
    "not fit in INT64",
    "validate-surrogate_in_city_among_good.json": "1 of 2 users in the envelope are invalid: "
    "results[1]: location.city cannot be encoded as UTF-8: surrogates not allowed",
    "validate-surrogate_in_first_name.json": "name.first cannot be encoded as UTF-8: surrogates "
    "not allowed at character 0 ('\\ud800')",
    "validate-uuid_is_number.json": "login.uuid must be a string, got number",
    "validate-uuid_not_a_uuid.json": "login.uuid 'customer-42' is not a UUID",
}
CORPUS_ROWS = json.loads((BAD_MESSAGE_CORPUS / "expected_rows.json").read_text(encoding="utf-8"))


def test_every_corpus_file_has_its_reason_here():
    assert set(CORPUS_REASONS) == {path.name for path in BAD_MESSAGE_CORPUS.glob("*-*.*")}


@pytest.mark.parametrize("name", sorted(CORPUS_REASONS))
def test_each_bad_message_is_its_rows_and_one_dead_letter_with_its_reason(name):
    payload = (BAD_MESSAGE_CORPUS / name).read_bytes()
    outcome = messages.process_message(payload, message_id="m", now=NOW)
    assert [row["customer_id"] for row in outcome.rows] == CORPUS_ROWS.get(name, [])
    letter = _one_bounded_letter(payload)
    assert letter["stage"] == name.split("-", 1)[0]
    assert letter["errorMessage"].startswith(CORPUS_REASONS[name])
    assert outcome.dead_letters[0]["errorMessage"] == letter["errorMessage"]


def test_a_user_with_an_error_field_is_a_user_not_an_api_error():
    (row,) = messages.process_message(json.dumps({**USER, "error": "x"}).encode()).rows
    assert row["customer_id"] == USER["login"]["uuid"]


def test_an_api_error_response_is_quoted_up_to_200_characters():
    (letter,) = messages.process_message(json.dumps({"error": "e" * 300}).encode()).dead_letters
    assert letter["errorMessage"] == "payload is an API error response: '" + "e" * 199


def test_a_stack_trace_that_cannot_be_rendered_is_said_so(monkeypatch):
    def unrenderable():
        raise RecursionError

    monkeypatch.setattr(messages, "to_customer_row", _broken)
    monkeypatch.setattr(messages.traceback, "format_exc", unrenderable)
    (letter,) = messages.process_message(json.dumps(USER).encode()).dead_letters
    assert letter["stacktrace"] == "(the stack trace could not be rendered)"


def test_json_nested_too_deep_for_the_decoder_is_named():
    """json.loads raises RecursionError here; the scanner says where, as for any other fault."""
    (letter,) = messages.process_message(b'{"a": ' + b"[" * 100_000).dead_letters
    assert (
        letter["errorMessage"] == "payload is not JSON: Nesting too deep: line 1 column 7 (char 6)"
    )


@pytest.mark.parametrize(
    "key",
    [b'"\\u0072esults"', b'"results"'],
    ids=["spelt with an escape", "plain"],
)
def test_an_envelope_is_an_envelope_however_its_results_key_is_spelt(key):
    payload = b"{" + key + b": [" + json.dumps(USER).encode() + b"]}"
    (row,) = messages.process_message(payload).rows
    assert row["customer_id"] == USER["login"]["uuid"]


@pytest.mark.parametrize(
    ("length", "reason"),
    [
        (dead_letters.MAX_REASON_LENGTH, "r" * dead_letters.MAX_REASON_LENGTH),
        (
            dead_letters.MAX_REASON_LENGTH + 1,
            "r" * dead_letters.MAX_REASON_LENGTH + "... [1 more characters]",
        ),
    ],
)
def test_a_reason_is_kept_whole_up_to_its_limit_and_cut_after(monkeypatch, length, reason):
    def invalid(user, lineage):
        raise rows.InvalidCustomer("r" * length)

    monkeypatch.setattr(messages, "to_customer_row", invalid)
    (letter,) = messages.process_message(json.dumps(USER).encode()).dead_letters
    assert letter["errorMessage"] == reason


def test_each_row_of_a_message_carries_its_publish_time_and_ingestion_time():
    outcome = messages.process_message(
        json.dumps(USER).encode(), message_id="m", publish_time="2024-05-01T11:00:00Z", now=NOW
    )
    (row,) = outcome.rows
    assert (row["publish_time"], row["ingested_at"]) == (
        "2024-05-01T11:00:00.000Z",
        "2024-05-01T12:00:00.000Z",
    )
