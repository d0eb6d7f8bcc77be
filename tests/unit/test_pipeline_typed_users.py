"""The typed decoder (pipeline/typed_users.py) takes the common user and changes no outcome.

Every payload it accepts must become exactly the row the walker builds; everything else is
left to the walker. The property-based version of this is in test_pipeline_properties.py.
"""

import copy
import json
from datetime import UTC, datetime
from unittest import mock

import pytest

from pipeline import messages, rows, schema, typed_users
from tests.support import BAD_MESSAGE_CORPUS, FIXTURES

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
FIXTURE_FILES = sorted(path for path in FIXTURES.glob("*.json") if "err" not in path.name)
USERS = {
    f"{path.stem}[{n}]": user
    for path in FIXTURE_FILES
    for n, user in enumerate(json.loads(path.read_text(encoding="utf-8")).get("results", []))
}
CURRENT = [key for key in USERS if not key.startswith(("built_v1.0", "built_v1.1", "built_v1.2"))]
MODERN = USERS["08_api_v1.4_results2[0]"]


def outcomes(payload: bytes, attributes=None, publish_time="2026-01-01T11:59:59.123Z"):
    """`process_message`'s outcome as shipped, and the walker's alone."""
    attributes = {"source": "api"} if attributes is None else attributes
    kwargs = {"message_id": "m-1", "publish_time": publish_time, "now": NOW}
    shipped = messages.process_message(payload, attributes, **kwargs)
    with mock.patch.object(messages, "user_columns", return_value=None):
        walker = messages.process_message(payload, attributes, **kwargs)
    return shipped, walker


def encodings(user) -> list[bytes]:
    return [
        json.dumps(user).encode(),  # \u escapes for every non-ASCII character
        json.dumps(user, ensure_ascii=False, separators=(",", ":")).encode(),
    ]


@pytest.mark.parametrize("key", USERS)
def test_every_fixture_user_has_the_same_outcome_either_way(key):
    for payload in encodings(USERS[key]):
        shipped, walker = outcomes(payload)
        assert shipped == walker


@pytest.mark.parametrize("key", CURRENT)
def test_every_user_of_api_1_3_and_1_4_takes_the_typed_way(key):
    """Any `inc`/`exc` selection included; API 1.0-1.2 send dates and streets in older forms."""
    for payload in encodings(USERS[key]):
        assert typed_users.user_columns(payload) is not None
        shipped, walker = outcomes(payload)
        assert shipped == walker
        assert shipped.rows and not shipped.dead_letters


@pytest.mark.parametrize("path", sorted(BAD_MESSAGE_CORPUS.glob("*-*.*")), ids=lambda p: p.name)
def test_no_bad_message_of_the_corpus_takes_the_typed_way(path):
    assert typed_users.user_columns(path.read_bytes()) is None
    shipped, walker = outcomes(path.read_bytes())
    assert shipped == walker


def _with(path: str, value) -> bytes:
    user = copy.deepcopy(MODERN)
    *parents, key = path.split(".")
    node = user
    for parent in parents:
        node = node[parent]
    node[key] = value
    return json.dumps(user).encode()


UUID = MODERN["login"]["uuid"]
# Where msgspec's rules and the walker's differ, and the forms the structs do not take (a null
# object, a number for a coordinate, older versions' forms): the walker decides these alone.
LEFT_TO_THE_WALKER = {
    "uuid with a trailing newline": _with("login.uuid", UUID + "\n"),
    "uuid in another script's digits": _with("login.uuid", "\u0660" * 8 + UUID[8:]),
    "street number past INT64": _with("location.street.number", 2**63),
    "street number as a float": _with("location.street.number", 12.0),
    "street number as a boolean": _with("location.street.number", True),
    "postcode past INT64": _with("location.postcode", -(2**63) - 1),
    "text one character too long": _with("name.first", "é" * (rows.MAX_TEXT_LENGTH + 1)),
    "lone surrogate": _with("name.first", "\ud800"),
    "null object": _with("name", None),
    "object as text": _with("location", "Berlin"),
    "coordinate as a number": _with("location.coordinates.latitude", 45.5),
    "coordinate out of range": _with("location.coordinates.latitude", "90.5"),
    "date without a zone": _with("dob.date", "1990-01-01T00:00:00.000"),
    "date that does not exist": _with("dob.date", "1990-02-30T00:00:00.000Z"),
    "date in another script's digits": _with(
        "dob.date", "\u0661\u0669\u0669\u0660-01-01T00:00:00.000Z"
    ),
    "street as text (API 1.2)": _with("location.street", "8929 valwood pkwy"),
    "dob as Unix seconds (API 1.0)": _with("dob", 631152000),
    "a results key": _with("results", []),
    "a results key spelt with an escape": json.dumps(MODERN).encode()[:-1] + b',"r\\u0065sults":1}',
    "invalid UTF-8": json.dumps(MODERN).encode()[:-1] + b',"extra":"\xc3\x28"}',
    "NaN": _with("name.first", float("nan")),
    "an array": json.dumps([MODERN]).encode(),
    "trailing data": json.dumps(MODERN).encode() + b"{}",
}


# Values no column reads: msgspec skips them, and must refuse there what json.loads refuses.
SKIPPED_VALUES = {
    "trailing comma": b"[1,2,]",
    "NaN": b"NaN",
    "-Infinity": b"-Infinity",
    "raw control character": b'"a\x01b"',
    "bad escape": b'"\\x"',
    "short unicode escape": b'"\\u12"',
    "nesting past the recursion limit": b"[" * 100_000 + b"]" * 100_000,
    "object with a trailing comma": b'{"a":1,}',
    "leading zero": b"01",
    "bare minus": b"-",
    "invalid UTF-8": b'"\xc3\x28"',
    "UTF-8 of a surrogate": b'"\xed\xa0\x80"',
    "missing colon": b'{"a" 1}',
    "unbalanced": b"[1]]",
    "lone surrogate escape": b'"\\ud800"',  # json.loads takes it: the walker then decides
    # json refuses an integer longer than sys.get_int_max_str_digits; msgspec reads it
    "integer of 4,301 digits": b"1" * 4301,
    # json's scanner recurses once per level and may meet the recursion limit where msgspec
    # does not: whatever holds 64 brackets or more is left to the walker
    "64 nested arrays": b"[" * 64 + b"]" * 64,
    "950 nested objects": b'{"a":' * 950 + b"1" + b"}" * 950,
}
LEFT_TO_THE_WALKER |= {
    f"unread {name}": json.dumps(MODERN).encode()[:-1] + b',"extra":' + value + b"}"
    for name, value in SKIPPED_VALUES.items()
}


@pytest.mark.parametrize("payload", LEFT_TO_THE_WALKER.values(), ids=LEFT_TO_THE_WALKER.keys())
def test_what_the_walker_decides_differently_is_left_to_it(payload):
    assert typed_users.user_columns(payload) is None
    shipped, walker = outcomes(payload)
    assert shipped == walker


TAKEN = {
    "text of exactly the limit": _with("name.first", "é" * rows.MAX_TEXT_LENGTH),
    "surrogate pair": _with("name.first", "\U0001f600"),
    "absent objects": json.dumps({"login": {"uuid": UUID}}).encode(),
    "null values": _with("name.first", None),
    "street number at INT64's end": _with("location.street.number", 2**63 - 1),
    "postcode as an integer": _with("location.postcode", 10115),
    "date with an offset": _with("registered.date", "2010-01-01T01:30:00+01:30"),
    "date without milliseconds (API 1.2)": _with("dob.date", "1990-01-01T00:00:00Z"),
    "unknown fields": _with("extra", {"a": [1, 2]}),
    "a key twice": json.dumps(MODERN).encode()[:-1] + b',"nat":"XX"}',
    "white space around": b" \n" + json.dumps(MODERN).encode() + b"\r\n",
    **{
        f"unread {name}": json.dumps(MODERN).encode()[:-1] + b',"extra":' + value + b"}"
        for name, value in {
            "1e999": b"1e999",
            "-0": b"-0",
            "huge integer": b"1" * 400,
            "empty containers": b"[{},[]]",
            "integer of 4,300 digits": b"1" * 4300,
            "61 brackets in all": b"[" * 50 + b"]" * 50,
        }.items()
    },
}


@pytest.mark.parametrize("payload", TAKEN.values(), ids=TAKEN.keys())
def test_what_it_takes_is_the_walkers_row(payload):
    assert typed_users.user_columns(payload) is not None
    shipped, walker = outcomes(payload)
    assert shipped == walker
    assert shipped.rows and not shipped.dead_letters


BAD_LINEAGE = {
    "publish time that is not a timestamp": ({}, "garbage"),
    "publish time without a zone": ({}, datetime(2026, 1, 1)),
    "publish time before year 1 in UTC": ({}, "0001-01-01T00:00:00+01:00"),
    "source UTF-8 cannot encode": ({"source": "\ud800"}, None),
    "source of 9.5 MB": ({"source": "s" * 9_500_000}, None),
}


@pytest.mark.parametrize(("attributes", "publish_time"), BAD_LINEAGE.values(), ids=BAD_LINEAGE)
def test_a_valid_user_with_bad_lineage_is_the_walkers_dead_letter(attributes, publish_time):
    payload = json.dumps(MODERN).encode()
    shipped, walker = outcomes(payload, attributes, publish_time)
    assert shipped == walker
    assert shipped.dead_letters and not shipped.rows


def test_canonical_timestamps_are_kept_and_others_converted():
    assert schema.utc_timestamp("2009-08-07T21:41:23.546Z") == "2009-08-07T21:41:23.546Z"
    assert schema.utc_timestamp("2010-01-01T01:30:00+01:30") == "2010-01-01T00:00:00.000Z"
    with pytest.raises(ValueError):
        schema.utc_timestamp("2009-02-30T21:41:23.546Z")
