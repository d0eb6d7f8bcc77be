"""Every API version the randomuser.me server serves (1.0-1.4), every `inc`/`exc` selection.

The 1.3/1.4 responses are captured; 1.0-1.2 and the inc/exc ones are built to the server's
shapes (tests/data/randomuser/README.md says how). Only `login.uuid` is required.
"""

import json

import pytest

import contract
from pipeline import messages, rows, schema
from tests.support import FIXTURES


def _response(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


V10, V11, V12 = (_response(f"built_v1.{minor}_results3.json") for minor in (0, 1, 2))
INC = _response("built_v1.4_inc_login_name_nat.json")
EXC = _response("built_v1.4_exc_registered_dob_location_id.json")
CAPTURED = _response("08_api_v1.4_results2.json")


def _valid(row: dict) -> dict:
    assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == []
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


def test_version_1_1_dates_without_a_zone_are_read_as_utc():
    user = {**V11["results"][1], "login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}}
    row = _valid(rows.to_customer_row(user))
    assert row["registered_at"] == contract.to_rfc3339(user["registered"].replace(" ", "T") + "Z")
    assert row["date_of_birth"] == user["dob"][:10]
    assert row["postcode"] == user["location"]["postcode"]  # GB: a string


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "registered 'yesterday' is neither an object with a date"),
        ("2015-13-45 10:00:00", "registered '2015-13-45 10:00:00' is neither"),
        (10**20, "registered 100000000000000000000 is neither"),
        (True, "registered True is neither"),
        (1.5, "registered 1.5 is neither"),
    ],
)
def test_legacy_dates_that_are_not_dates_are_rejected(value, reason):
    user = {"login": {"uuid": CAPTURED["results"][0]["login"]["uuid"]}, "registered": value}
    with pytest.raises(rows.InvalidCustomer, match="^" + reason):
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
