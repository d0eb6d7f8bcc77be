"""to_customer_row: every user of every API version becomes a valid row; nothing else does.

The 1.3/1.4 responses are captured; 1.0-1.2 and the inc/exc ones are built to the server's
shapes (tests/data/randomuser/README.md says how). Only `login.uuid` is required.
"""

import copy
import json
import re
import tracemalloc
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings

import contract
from pipeline import messages, rows, tables
from tests import bigquery_rules
from tests.bigquery_rules import assert_fits
from tests.strategies import ELEMENT_CODER, key_paths, mutated_users, nested
from tests.support import FIXTURES

# Captured 1.3/1.4 responses with every field; older versions and inc/exc selections
# (`built_*`) further down.
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
    row = rows.to_customer_row(
        user, rows.Lineage(message_id="1", source="randomuser", ingested_at=NOW)
    )

    assert bigquery_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == []
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


# Where each column of `customers` comes from in a user, written out by hand: rows.USER_COLUMNS
# is what is under test, so a test that read it would agree with a mistake in it (city and state
# swapped, say). Lineage columns and the two dates are checked elsewhere.
SOURCE_PATHS = {
    "customer_id": "login.uuid",
    "username": "login.username",
    "title": "name.title",
    "first_name": "name.first",
    "last_name": "name.last",
    "gender": "gender",
    "email": "email",
    "phone": "phone",
    "cell": "cell",
    "street_number": "location.street.number",
    "street_name": "location.street.name",
    "city": "location.city",
    "state": "location.state",
    "country": "location.country",
    "postcode": "location.postcode",
    "latitude": "location.coordinates.latitude",
    "longitude": "location.coordinates.longitude",
    "timezone_offset": "location.timezone.offset",
    "nationality": "nat",
    "national_id_name": "id.name",
    "picture_url": "picture.large",
}
LINEAGE = {"message_id", "publish_time", "ingested_at", "source", "replay_of"}
ANY_UUID = "0b6b4f4e-2d1c-4c57-9a3e-5f2a8e1d7c90"


def _at(user: dict, path: str):
    """The value at a dotted path of `user`; None where the path is missing or not an object."""
    value = user
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _expected(user: dict, column: str):
    value = _at(user, SOURCE_PATHS[column])
    street = _at(user, "location.street")
    if isinstance(street, str) and column in ("street_number", "street_name"):
        number, name = street.split(" ", 1)  # API 1.0-1.2: "<number> <name>"
        value = int(number) if column == "street_number" else name
    if value is not None and column == "postcode":
        value = str(value)
    if value is not None and column in ("latitude", "longitude"):
        value = float(value)
    return value


FIXTURE_USERS = [
    pytest.param(user, id=f"{path.stem}[{index}]")
    for path in sorted(FIXTURES.glob("*.json"))
    for index, user in enumerate(json.loads(path.read_text(encoding="utf-8")).get("results", []))
]


def test_the_source_map_names_every_column_but_the_dates_and_lineage():
    columns = set(tables.column_names(tables.CUSTOMERS))
    assert set(SOURCE_PATHS) == columns - LINEAGE - {"date_of_birth", "registered_at"}
    text = {f["name"] for f in tables.fields(tables.CUSTOMERS) if f["type"] == "STRING"}
    assert len(text - LINEAGE) >= 15
    assert len(FIXTURE_USERS) > 170


@pytest.mark.parametrize("user", FIXTURE_USERS)
def test_every_column_of_every_fixture_user_is_the_value_at_its_source_path(user):
    """Column by column, every fixture user of every API version and field selection."""
    if _at(user, "login.uuid") is None:  # API 1.0 and 1.1 send none
        user = {**user, "login": {**user["login"], "uuid": ANY_UUID}}
    row = rows.to_customer_row(user)
    for column in SOURCE_PATHS:
        assert row[column] == _expected(user, column), column


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
        USER,
        rows.Lineage(message_id="42", publish_time=published, source="fake", ingested_at=NOW),
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
    assert bigquery_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == []
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
        (
            {**USER, "location": {"postcode": "x" * 3000}},
            "location.postcode is 3000 characters long; the limit is 2048",
        ),
        (
            {**USER, "location": {"coordinates": "north"}},
            "location.coordinates must be an object, got string",
        ),
        (
            {**USER, "location": {"street": "1 " + "x" * 3000}},
            "location.street is 3002 characters long; the limit is 2048",
        ),
        (
            {**USER, "location": {"street": {"number": 1, "name": 5}}},
            "location.street.name must be a string, got number",
        ),
        (
            {**USER, "location": {"street": {"number": 2**63}}},
            "location.street.number 9223372036854775808 does not fit in INT64",
        ),
    ],
)
def test_invalid_users_raise_invalid_customer_with_the_reason(user, reason):
    with pytest.raises(rows.InvalidCustomer, match="^" + reason.replace("(", r"\(")):
        rows.to_customer_row(user)


GOOD_UUID = USER["login"]["uuid"]


@pytest.mark.parametrize(
    "uuid",
    [
        f"{GOOD_UUID}x",
        f"x{GOOD_UUID}",
        f"{GOOD_UUID}\n",
        f"\n{GOOD_UUID}",
        f" {GOOD_UUID}",
        f"{GOOD_UUID} ",
        f"{GOOD_UUID}{GOOD_UUID}",
        f"{GOOD_UUID[:8]}\n{GOOD_UUID[9:]}",
        GOOD_UUID[:-1],
        GOOD_UUID.replace("-", ""),
        GOOD_UUID[:-1] + "g",
    ],
    ids=[
        "trailing text",
        "leading text",
        "trailing newline",
        "leading newline",
        "leading space",
        "trailing space",
        "two uuids",
        "newline for a hyphen",
        "one digit short",
        "no hyphens",
        "not hex",
    ],
)
def test_a_uuid_with_anything_around_or_in_it_is_refused(uuid):
    """customer_id is the dedupe key: a UUID is exactly 36 characters, nothing before or after."""
    with pytest.raises(rows.InvalidCustomer, match=r"^login\.uuid .* is not a UUID$"):
        rows.to_customer_row({**USER, "login": {"uuid": uuid}})


def test_a_uuid_in_upper_case_is_accepted_as_sent():
    row = rows.to_customer_row({**USER, "login": {"uuid": GOOD_UUID.upper()}})
    assert row["customer_id"] == GOOD_UUID.upper()


def test_invalid_customer_is_a_value_error():
    assert issubclass(rows.InvalidCustomer, ValueError)


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
    row = rows.to_customer_row(user, rows.Lineage(publish_time="2024-05-01T11:00:00Z"))
    assert sum(value == longest for value in row.values()) == 17  # id.value is not stored
    assert tables.json_size(row) <= rows.ROW_BOUND_BEFORE_LINEAGE


def test_long_lineage_text_is_measured_and_refused():
    """Past the bound, the size is measured: a source attribute of 9 MB makes the row too big."""
    with pytest.raises(rows.InvalidCustomer, match="bytes as JSON; the limit is 9000000"):
        rows.to_customer_row(USER, rows.Lineage(source="x" * tables.MAX_STREAMING_ROW_BYTES))


# Every API version the randomuser.me server serves (1.0-1.4), every `inc`/`exc` selection.


def _response(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


V10, V11, V12 = (_response(f"built_v1.{minor}_results3.json") for minor in (0, 1, 2))
INC = _response("built_v1.4_inc_login_name_nat.json")
EXC = _response("built_v1.4_exc_registered_dob_location_id.json")
CAPTURED = _response("08_api_v1.4_results2.json")


def _valid(row: dict) -> dict:
    assert bigquery_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == []
    assert not set(contract.CREDENTIAL_FIELDS) & set(row)
    return row


def test_the_fixtures_cover_every_served_version():
    versions = {
        (_response(path.name).get("info") or {}).get("version")
        for path in FIXTURES.glob("*.json")
        if "results" in _response(path.name)
    }
    assert {"1.0", "1.1", "1.2", "1.3", "1.4"} <= versions


@pytest.mark.parametrize("user", V12["results"], ids=lambda user: user["nat"])
def test_version_1_2_users_become_rows(user):
    """Street as "<number> <name>" text, no country, dates without milliseconds."""
    row = _valid(rows.to_customer_row(user))
    number, name = user["location"]["street"].split(" ", 1)
    assert (row["street_number"], row["street_name"]) == (int(number), name)
    assert row["country"] is None
    assert row["registered_at"] == contract.to_rfc3339(user["registered"]["date"])
    assert row["date_of_birth"] == user["dob"]["date"][:10]
    assert row["latitude"] == float(user["location"]["coordinates"]["latitude"])
    assert row["timezone_offset"] == user["location"]["timezone"]["offset"]
    assert row["postcode"] == str(user["location"]["postcode"])
    assert row["national_id_name"] == user["id"]["name"]  # never its value (docs/privacy.md)


@pytest.mark.parametrize("response", [V10, V11], ids=["1.0", "1.1"])
def test_versions_without_login_uuid_are_one_dead_letter_that_says_so(response):
    payload = json.dumps(response).encode()
    outcome = messages.process_message(payload, message_id="old")
    assert outcome.rows == []
    (letter,) = outcome.dead_letters
    assert letter["stage"] == "validate"
    assert letter["errorMessage"].startswith("3 of 3 users in the envelope are invalid: ")
    for index in range(3):
        assert f"results[{index}]: login.uuid is missing" in letter["errorMessage"]
    assert "API versions 1.0 and 1.1 send none" in letter["errorMessage"]


def test_version_1_0_fields_map_once_a_uuid_is_there():
    """1.0: dates are Unix seconds, no coordinates, no time zone, no country."""
    user = {**V10["results"][0], "login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}}
    row = _valid(rows.to_customer_row(user))
    assert row["registered_at"] == "2009-03-16T04:14:53.000Z"  # 1237176893
    assert row["date_of_birth"] == "1999-07-25"  # 932871968
    assert row["street_number"] == 9278
    assert row["street_name"] == "new road"
    assert (row["latitude"], row["longitude"], row["timezone_offset"]) == (None, None, None)
    assert row["country"] is None


@pytest.mark.parametrize(
    ("seconds", "stored"),
    [(-62_135_596_800, "0001-01-01T00:00:00.000Z"), (253_402_300_799, "9999-12-31T23:59:59.000Z")],
)
def test_version_1_0_dates_at_the_ends_of_the_timestamp_range(seconds, stored):
    user = {"login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}, "registered": seconds}
    assert rows.to_customer_row(user)["registered_at"] == stored


def test_version_1_1_dates_without_a_zone_are_read_as_utc():
    user = {**V11["results"][1], "login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}}
    row = _valid(rows.to_customer_row(user))
    assert row["registered_at"] == contract.to_rfc3339(user["registered"].replace(" ", "T") + "Z")
    assert row["date_of_birth"] == user["dob"][:10]
    assert row["postcode"] == user["location"]["postcode"]  # GB: a string


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "yesterday",
            "registered 'yesterday' is neither an object with a date (API 1.2+), a "
            "'YYYY-MM-DD HH:MM:SS' string (1.1) nor Unix seconds (1.0)",
        ),
        (-62_135_596_801, "registered -62135596801 is neither"),
        (253_402_300_800, "registered 253402300800 is neither"),
        ("2015-13-45 10:00:00", "registered '2015-13-45 10:00:00' is neither"),
        (10**20, "registered 100000000000000000000 is neither"),
        (True, "registered True is neither"),
        (1.5, "registered 1.5 is neither"),
    ],
)
def test_legacy_dates_that_are_not_dates_are_rejected(value, reason):
    """Unix seconds only within TIMESTAMP's range, 0001-01-01 to 9999-12-31."""
    user = {"login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}, "registered": value}
    with pytest.raises(rows.InvalidCustomer, match="^" + re.escape(reason)):
        rows.to_customer_row(user)


@pytest.mark.parametrize("street", ["", "rue sans numéro", "12", "99999999999 long road"])
def test_legacy_streets_without_a_leading_number_keep_the_text(street):
    user = {"login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}}
    user["location"] = {"street": street}
    row = _valid(rows.to_customer_row(user))
    assert (row["street_number"], row["street_name"]) == (None, street)


@pytest.mark.parametrize("response", [INC, EXC], ids=["inc=login,name,nat", "exc=registered,..."])
def test_field_limited_users_become_rows_with_nulls(response):
    payload = json.dumps(response).encode()
    outcome = messages.process_message(payload, message_id="limited")
    assert outcome.dead_letters == []
    assert [row["customer_id"] for row in outcome.rows] == [
        user["login"]["uuid"] for user in CAPTURED["results"]
    ]
    for row in outcome.rows:
        _valid(row)
        assert row["registered_at"] is None
        assert row["date_of_birth"] is None
        assert row["country"] is None


def test_a_user_with_login_excluded_is_a_dead_letter_that_says_so():
    payload = json.dumps({"results": [{"name": {"first": "a"}}], "info": {}}).encode()
    (letter,) = messages.process_message(payload).dead_letters
    assert "results[0]: login is missing: login.uuid is the customer_id" in letter["errorMessage"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_users())
def test_to_customer_row_returns_a_valid_row_or_raises_invalid_customer(user):
    try:
        row = rows.to_customer_row(user)
    except rows.InvalidCustomer as error:
        assert str(error)
    else:
        assert bigquery_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == []
        ELEMENT_CODER.encode(row)


HOSTILE_VALUES = {
    "lone surrogate": "\ud800",
    "trailing surrogate": "ok\udc00",
    "control characters": "\x00\x01\x1b\x7f",
    "huge string": "x" * 100_000,
    "5000 nested arrays": nested(5_000),
    "nested objects": {"a": {"b": {"c": {}}}},
    "empty array": [],
    "integer": 12,
    "float": -1.5,
    "boolean": True,
    "null": None,
}


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_a_hostile_value_in_any_field_is_a_row_or_a_reason(value):
    """Every path of a real user (intermediate objects included), replaced by `value`."""
    user = USERS[0]
    for path in key_paths(user):
        mangled = copy.deepcopy(user)
        node = mangled
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        try:
            row = rows.to_customer_row(mangled)
        except rows.InvalidCustomer as error:
            assert str(error)
            ELEMENT_CODER.encode(str(error))
        else:
            assert bigquery_rules.row_errors(row, tables.fields(tables.CUSTOMERS)) == []
            ELEMENT_CODER.encode(row)


def test_customer_row_has_exactly_the_schema_columns_and_types():
    row = rows.to_customer_row(
        USER,
        rows.Lineage(
            message_id="7",
            publish_time="2024-05-01T10:00:00.123456Z",
            source="fake",
            replay_of="5",
        ),
    )
    assert_fits(row, tables.CUSTOMERS)


def test_row_builder_output_is_json_serialisable_for_insert_rows_json():
    row = rows.to_customer_row(USER)
    assert json.loads(json.dumps(row)) == row


def test_customers_registered_long_ago_are_rows():
    """randomuser.me registration dates go back about 20 years: never the partitioning column."""
    user = {**USER, "registered": {**USER["registered"], "date": "2004-03-01T10:00:00.000Z"}}
    row = rows.to_customer_row(user)
    assert bigquery_rules.insert_errors(row, tables.CUSTOMERS) == []


def _ingested(years: int, days: int) -> datetime:
    """Now moved by whole years (as BigQuery counts the window) and then by days."""
    now = datetime.now(UTC)
    return now.replace(year=now.year + years, day=min(now.day, 28)) + timedelta(days=days)


@pytest.mark.parametrize(
    ("years", "days", "refused"),
    [
        (-tables.PARTITION_YEARS_PAST, -3, True),
        (-tables.PARTITION_YEARS_PAST, 3, False),
        (0, 0, False),
        (tables.PARTITION_YEARS_FUTURE, -3, False),
        (tables.PARTITION_YEARS_FUTURE, 3, True),
    ],
    ids=["11 years back", "10 years back", "today", "1 year ahead", "past 1 year ahead"],
)
def test_a_row_whose_partition_is_outside_the_streaming_window_is_refused(years, days, refused):
    """`customers` is partitioned by ingested_at; BigQuery refuses a streamed row whose
    partition is over 10 years back or 1 year ahead (pipeline/tables.py cites the rule). The
    emulator stores it: the builder must refuse it itself."""
    lineage = rows.Lineage(ingested_at=_ingested(years, days))
    if refused:
        outside = r"schema: ingested_at: partition .* is outside the streaming window"
        with pytest.raises(rows.InvalidCustomer, match=outside):
            rows.to_customer_row(USER, lineage)
    else:
        row = rows.to_customer_row(USER, lineage)
        assert bigquery_rules.insert_errors(row, tables.CUSTOMERS) == []


def _with_coordinates(latitude, longitude) -> dict:
    location = {**USER["location"], "coordinates": {"latitude": latitude, "longitude": longitude}}
    return {**USER, "location": location}


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        ("90", "180", (90.0, 180.0)),
        ("-90.0000", "-180", (-90.0, -180.0)),
        (45, -12.5, (45.0, -12.5)),
        ("0", "0", (0.0, 0.0)),
    ],
)
def test_coordinates_up_to_their_limits_are_rows(latitude, longitude, expected):
    row = rows.to_customer_row(_with_coordinates(latitude, longitude))
    assert (row["latitude"], row["longitude"]) == expected


@pytest.mark.parametrize(
    ("latitude", "longitude", "reason"),
    [
        ("90.0001", "0", r"location\.coordinates\.latitude '90\.0001' is outside \[-90, 90\]"),
        ("-90.5", "0", r"location\.coordinates\.latitude '-90\.5' is outside \[-90, 90\]"),
        ("0", "180.01", r"location\.coordinates\.longitude '180\.01' is outside \[-180, 180\]"),
        ("0", -181, r"location\.coordinates\.longitude -181 is outside \[-180, 180\]"),
        ("nan", "0", r"location\.coordinates\.latitude 'nan' is outside \[-90, 90\]"),
        ("0", "inf", r"location\.coordinates\.longitude 'inf' is outside \[-180, 180\]"),
        ("0", True, r"location\.coordinates\.longitude must be a decimal string, got boolean"),
        ("north", "0", r"location\.coordinates\.latitude 'north' is not a number"),
    ],
)
def test_coordinates_beyond_their_limits_are_refused(latitude, longitude, reason):
    with pytest.raises(rows.InvalidCustomer, match="^" + reason + "$"):
        rows.to_customer_row(_with_coordinates(latitude, longitude))


@pytest.mark.parametrize(
    ("street", "number", "name"),
    [
        ({"number": 2**63 - 1, "name": "Main"}, 2**63 - 1, "Main"),
        ({"number": -(2**63), "name": "Main"}, -(2**63), "Main"),
        ({"number": None, "name": "Main"}, None, "Main"),
        ({"number": 7}, 7, None),
    ],
    ids=["INT64 max", "INT64 min", "null number", "no name"],
)
def test_a_street_object_keeps_any_int64_number_and_nulls(street, number, name):
    row = rows.to_customer_row({**USER, "location": {"street": street}})
    assert (row["street_number"], row["street_name"]) == (number, name)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        ({}, "object"),
        (MappingProxyType({}), "object"),
        (True, "boolean"),
        (1, "number"),
        (1.5, "number"),
        ("s", "string"),
        ([], "array"),
        (b"x", "bytes"),
    ],
)
def test_json_type_names_what_a_value_is(value, kind):
    assert rows.json_type(value) == kind


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x" * 100, "'" + "x" * 79),
        (12, "12"),
        (None, "None"),
        ([1], "(a JSON array)"),
        ({"a": 1}, "(a JSON object)"),
    ],
)
def test_shown_gives_a_scalar_as_repr_cut_and_a_container_by_its_type(value, text):
    assert rows.shown(value) == text


def test_shown_never_renders_a_whole_long_string():
    """A reason quotes at most 80 characters of a value: a 10 MB string is not copied to say so."""
    value = "x" * 10_000_000
    tracemalloc.start()
    try:
        text = rows.shown(value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text == "'" + "x" * 79
    assert peak < 10_000


@pytest.mark.parametrize(
    ("limit", "value", "result"),
    [
        (90, "90", 90.0),
        (90, "-90", -90.0),
        (180, 45, 45.0),
        (180, -12.5, -12.5),
        (90, "90.0001", "p '90.0001' is outside [-90, 90]"),
        (90, "-90.5", "p '-90.5' is outside [-90, 90]"),
        (180, "nan", "p 'nan' is outside [-180, 180]"),
        (180, "-inf", "p '-inf' is outside [-180, 180]"),
        (90, True, "p must be a decimal string, got boolean"),
        (90, [], "p must be a decimal string, got array"),
        (90, "north", "p 'north' is not a number"),
    ],
)
def test_a_coordinate_check_takes_decimal_text_or_numbers_within_its_limit(limit, value, result):
    """The check each coordinate column is built with (USER_COLUMNS builds it at import)."""
    check = rows._coordinate(limit)
    if isinstance(result, float):
        assert check("p", value) == result
    else:
        with pytest.raises(rows.InvalidCustomer, match="^" + re.escape(result) + "$"):
            check("p", value)


def test_a_column_is_read_from_the_object_at_its_dotted_path():
    """USER_COLUMNS is built at import: its extractors, built afresh."""
    check = rows._coordinate(90)
    assert rows._column("latitude", "location.coordinates.latitude", check) == (
        "latitude",
        ("location", "coordinates"),
        "latitude",
        "location.coordinates.latitude",
        check,
    )
    assert rows._column("gender", "gender") == ("gender", (), "gender", "gender", rows.check_text)


def test_every_lineage_text_fault_is_named():
    lineage = rows.Lineage(message_id=5, source="\ud800", replay_of="r")
    with pytest.raises(rows.InvalidCustomer) as raised:
        rows.to_customer_row(USER, lineage)
    assert str(raised.value) == (
        "row does not match the customers schema: message_id: 5 is not a valid STRING; "
        "source: '\\ud800' is not a valid STRING"
    )


@pytest.mark.parametrize(
    "lineage",
    [
        rows.Lineage(message_id="\U0001f600" * 760_000),
        rows.Lineage(message_id="m" * 5_000_000, source="s" * 4_000_000, replay_of="r"),
    ],
    ids=["astral characters, 12 bytes each", "text spread over three columns"],
)
def test_lineage_text_too_big_in_any_form_is_measured_and_refused(lineage):
    """The builder measures a row only when its lineage text could make it too big: that
    guess must count every column and the longest JSON form of each character."""
    with pytest.raises(rows.InvalidCustomer, match=r"bytes as JSON; the limit is 9000000$"):
        rows.to_customer_row(USER, lineage)


def test_a_row_of_exactly_the_size_limit_is_accepted():
    row = rows.to_customer_row(USER, rows.Lineage(message_id="m", ingested_at=NOW))
    padding = tables.MAX_STREAMING_ROW_BYTES - tables.json_size(row) + 1
    lineage = rows.Lineage(message_id="m" * padding, ingested_at=NOW)
    assert tables.json_size(rows.to_customer_row(USER, lineage)) == tables.MAX_STREAMING_ROW_BYTES
    with pytest.raises(rows.InvalidCustomer, match="9000001 bytes as JSON"):
        rows.to_customer_row(USER, rows.Lineage(message_id="m" * (padding + 1)))


def test_the_partition_day_of_ingested_at_is_its_utc_day(away_from_utc):
    """23:50 UTC on the day before the window opens is 05:20 on its first day in Kolkata."""
    earliest, _ = tables.streaming_window(datetime.now(UTC).date())
    late = datetime.combine(earliest - timedelta(days=1), time(23, 50), UTC)
    with pytest.raises(rows.InvalidCustomer, match=f"partition {earliest - timedelta(days=1)} "):
        rows.to_customer_row(USER, rows.Lineage(ingested_at=late))


def test_any_mapping_is_a_user_as_a_dict_is():
    user = MappingProxyType({**USER, "location": MappingProxyType(USER["location"])})
    assert rows.to_customer_row(user, rows.Lineage(ingested_at=NOW)) == rows.to_customer_row(
        USER, rows.Lineage(ingested_at=NOW)
    )
