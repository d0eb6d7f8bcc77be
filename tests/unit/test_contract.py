"""The message contract both programs share: credentials, attributes, timestamps."""

import json

import pytest

import contract
from tests.conftest import FIXTURES

pytestmark = pytest.mark.unit


def _users():
    # The captured responses: the built_* ones lack login.uuid or credentials by design.
    for path in sorted(FIXTURES.glob("[0-9]*.json")):
        body = json.loads(path.read_text())
        yield from body.get("results", [])


def test_strip_credentials_removes_every_credential_and_leaves_the_input_alone():
    users = list(_users())
    assert len(users) > 100
    for user in users:
        before = json.dumps(user, sort_keys=True)
        clean = contract.strip_credentials(user)
        assert not set(contract.CREDENTIAL_FIELDS) & set(clean["login"])
        assert clean["login"]["uuid"] == user["login"]["uuid"]
        assert json.dumps(user, sort_keys=True) == before
        for secret in (user["login"][key] for key in contract.CREDENTIAL_FIELDS):
            assert secret not in json.dumps(clean)


@pytest.mark.parametrize("user", [{}, {"login": None}, {"login": "x"}, {"name": {"first": "A"}}])
def test_strip_credentials_tolerates_odd_shapes(user):
    assert contract.strip_credentials(user) == user


def test_attributes_follow_the_contract():
    user = next(_users())
    attributes = contract.attributes_for(user, "randomuser")
    assert attributes == {
        "customer_id": user["login"]["uuid"],
        "event_time": contract.to_rfc3339(user["registered"]["date"]),
        "source": "randomuser",
        "schema": "randomuser/1.4",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-08-01T20:36:07.015Z", "2017-08-01T20:36:07.015Z"),
        ("2017-08-01T22:36:07+02:00", "2017-08-01T20:36:07.000Z"),
    ],
)
def test_to_rfc3339_normalises_to_utc(value, expected):
    assert contract.to_rfc3339(value) == expected


@pytest.mark.parametrize("value", ["2017-08-01T20:36:07", "yesterday", ""])
def test_to_rfc3339_rejects_naive_or_garbage(value):
    with pytest.raises(ValueError):
        contract.to_rfc3339(value)


def test_attributes_reject_unknown_source_and_missing_id():
    user = next(_users())
    with pytest.raises(ValueError, match="unknown source"):
        contract.attributes_for(user, "carrier-pigeon")
    with pytest.raises(KeyError):
        contract.attributes_for({"registered": user["registered"]}, "fake")
