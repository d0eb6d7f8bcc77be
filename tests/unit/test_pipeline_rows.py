"""The pure functions: every real API user becomes a valid row; nothing else does, silently."""

import base64
import copy
import json
from datetime import UTC, datetime

import pytest

import contract
from pipeline import dead_letters, messages, rows, schema
from tests.support import FIXTURES

# Captured 1.3/1.4 responses with every field; older versions and inc/exc selections
# (`built_*`) are in test_pipeline_versions.py.
RESPONSES = sorted(
    path
    for path in FIXTURES.glob("[0-9]*.json")
    if "results" in json.loads(path.read_text(encoding="utf-8"))
)
USERS = [
    pytest.param(user, id=f"{path.stem}[{index}]")
    for path in RESPONSES
    for index, user in enumerate(json.loads(path.read_text(encoding="utf-8"))["results"])
]
USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
CREDENTIALS = {key: USER["login"][key] for key in contract.CREDENTIAL_FIELDS}
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_fixtures_cover_every_nationality_and_both_api_versions():
    nationalities = {param.values[0]["nat"] for param in USERS}
    assert len(nationalities) == 21
    versions = {
        (json.loads(path.read_text()).get("info") or {}).get("version") for path in RESPONSES
    }
    assert {"1.3", "1.4"} <= versions


@pytest.mark.parametrize("user", USERS)
def test_every_api_user_becomes_a_schema_valid_row_without_credentials(user):
    row = rows.to_customer_row(user, message_id="1", source="randomuser", ingested_at=NOW)

    assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == []
    text = json.dumps(row)
    for key in contract.CREDENTIAL_FIELDS:
        assert user["login"][key] not in text
    assert row["customer_id"] == user["login"]["uuid"]
    assert row["postcode"] == str(user["location"]["postcode"])
    assert row["latitude"] == float(user["location"]["coordinates"]["latitude"])
    assert row["longitude"] == float(user["location"]["coordinates"]["longitude"])
    assert row["street_number"] == user["location"]["street"]["number"]
    assert row["date_of_birth"] == user["dob"]["date"][:10]
    assert row["registered_at"] == contract.to_rfc3339(user["registered"]["date"])
    # Minimised away (docs/privacy.md): the kind of national id is kept, never its value.
    assert row["national_id_name"] == user["id"]["name"]
    assert "national_id_value" not in row
    if user["id"]["value"]:
        assert user["id"]["value"] not in text


def test_postcode_is_text_for_integer_and_string_postcodes():
    postcodes = {}
    for param in USERS:
        user = param.values[0]
        postcodes.setdefault(type(user["location"]["postcode"]), set()).add(user["nat"])
    assert {"CA", "GB", "NO"} <= postcodes[str]
    assert postcodes[int]


def test_lineage_columns():
    published = datetime(2024, 5, 1, 11, 59, 58, 123456, tzinfo=UTC)
    row = rows.to_customer_row(
        USER, message_id="42", publish_time=published, source="fake", ingested_at=NOW
    )
    assert row["message_id"] == "42"
    assert row["publish_time"] == "2024-05-01T11:59:58.123Z"
    assert row["ingested_at"] == "2024-05-01T12:00:00.000Z"
    assert row["source"] == "fake"


def test_credentials_sent_by_a_producer_never_reach_a_row():
    row = rows.to_customer_row(USER)
    for secret in CREDENTIALS.values():
        assert secret not in json.dumps(row)


def test_minimal_user_has_nulls_where_nothing_was_sent():
    row = rows.to_customer_row({"login": {"uuid": USER["login"]["uuid"]}})
    assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == []
    assert row["customer_id"] == USER["login"]["uuid"]
    assert row["email"] is None
    assert row["date_of_birth"] is None
    assert row["registered_at"] is None  # only customer_id is REQUIRED


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ([], "a user must be a JSON object, got array"),
        ({}, "login is missing"),
        ({**USER, "login": {"username": "x"}}, "login.uuid is missing"),
        ({"login": {"uuid": "not-a-uuid"}}, "login.uuid 'not-a-uuid' is not a UUID"),
        ({**USER, "registered": {"date": "now"}}, "registered.date 'now' is not an ISO 8601"),
        ({**USER, "dob": {"date": "1990-01-01"}}, "dob.date '1990-01-01' is not an ISO 8601"),
        ({**USER, "location": "Berlin"}, "location must be an object, got string"),
        ({**USER, "nat": 49}, "nat must be a string, got number"),
        ({**USER, "email": "x" * 3000}, "email is 3000 characters long; the limit is 2048"),
    ],
)
def test_invalid_users_raise_invalid_customer_with_the_reason(user, reason):
    with pytest.raises(rows.InvalidCustomer, match="^" + reason.replace("(", r"\(")):
        rows.to_customer_row(user)


def test_invalid_customer_is_a_value_error():
    assert issubclass(rows.InvalidCustomer, ValueError)


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
        # the walker's way (the typed decoder leaves the message to it): that user's reason
        ({"user_columns": lambda payload: None, "to_customer_row": _broken}, "validate"),
        # the typed decoder itself fails: the message's
        ({"user_columns": _broken}, "parse"),
    ],
    ids=["walker", "typed decoder"],
)
def test_unexpected_errors_become_dead_letters_with_a_stack_trace(monkeypatch, broken, stage):
    for name, replacement in broken.items():
        monkeypatch.setattr(messages, name, replacement)
    outcome = messages.process_message(json.dumps(USER).encode())
    (letter,) = outcome.dead_letters
    assert letter["stage"] == stage
    assert letter["errorMessage"] == "KeyError('surprise')"
    assert "Traceback" in letter["stacktrace"]


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
    row = rows.to_customer_row(USER, message_id="3", publish_time="2024-05-01T11:00:00Z")
    errors = [{"reason": "invalid", "location": "postcode", "message": "no such field"}]
    letter = dead_letters.write_failure(("p:d.customers", row, errors), now=NOW)
    assert letter["stage"] == "write"
    assert letter["errorMessage"] == (
        "BigQuery rejected the row p:d.customers: invalid at postcode: no such field"
    )
    assert json.loads(letter["payloadString"]) == row
    assert letter["message_id"] == "3"
    assert letter["publish_time"] == "2024-05-01T11:00:00.000Z"
    assert schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ)) == []


def test_write_failure_from_storage_write_api():
    letter = dead_letters.write_failure(
        {"failed_row": {"customer_id": "c", "registered_at": NOW}, "error_message": "bad row"},
        now=NOW,
    )
    assert letter["errorMessage"] == "BigQuery rejected the row: bad row"
    assert json.loads(letter["payloadString"])["registered_at"] == str(NOW)
    assert schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ)) == []


def test_the_row_size_bound_holds_for_the_largest_user_text():
    """The builder checks a row's JSON size only when its lineage text could push it past
    BigQuery's limit; every user column at its longest, in astral characters (12 bytes each as
    ASCII-escaped JSON), stays within the bound that decision relies on."""
    longest = "\U0001f600" * rows.MAX_TEXT_LENGTH
    user = copy.deepcopy(USER)
    for parent, key in [
        *((user, key) for key in ("gender", "email", "phone", "cell", "nat")),
        *((user["name"], key) for key in ("title", "first", "last")),
        *((user["location"], key) for key in ("city", "state", "country", "postcode")),
        (user["location"]["street"], "name"),
        (user["location"]["timezone"], "offset"),
        (user["login"], "username"),
        (user["id"], "name"),
        (user["id"], "value"),
        (user["picture"], "large"),
    ]:
        parent[key] = longest
    row = rows.to_customer_row(user, publish_time="2024-05-01T11:00:00Z")
    assert sum(value == longest for value in row.values()) == 17  # id.value is not stored
    assert schema.json_size(row) <= rows.ROW_BOUND_BEFORE_LINEAGE


def test_long_lineage_text_is_measured_and_refused():
    """Past the bound, the size is measured: a source attribute of 9 MB makes the row too big."""
    with pytest.raises(rows.InvalidCustomer, match="bytes as JSON; the limit is 9000000"):
        rows.to_customer_row(USER, source="x" * schema.MAX_STREAMING_ROW_BYTES)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"results": [{}, {} {}]}',
        b'{"results": [{}, ]}',
        b'{"results": [{}, {"a": NaN}]}',
        b'{"results": [{}, {"a": "\x01"}]}',
        b'{"results": [{},',
        b'{"results": [{} ,  ',
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
