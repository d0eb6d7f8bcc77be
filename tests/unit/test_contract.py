"""The message contract both programs share: credentials, attributes, timestamps."""

import argparse
import dataclasses
import json
import re
import string

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

import contract
from producer.config import Config
from replay.cli import _parser
from tests.support import FIXTURES


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


def test_publishable_drops_the_national_id_value_and_keeps_its_kind():
    users = [user for user in _users() if user.get("id", {}).get("value")]
    assert len(users) > 50
    for user in users:
        before = json.dumps(user, sort_keys=True)
        clean = contract.publishable(user)
        assert clean["id"] == {"name": user["id"]["name"]}
        assert not set(contract.CREDENTIAL_FIELDS) & set(clean["login"])
        assert json.dumps(user, sort_keys=True) == before
        assert {k: v for k, v in clean.items() if k != "id"} == contract.strip_credentials(
            {k: v for k, v in user.items() if k != "id"}
        )


@pytest.mark.parametrize("user", [{}, {"id": None}, {"id": "x"}, {"id": {"name": "SSN"}}])
def test_publishable_tolerates_odd_shapes(user):
    assert contract.publishable(user) == user


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


# Pub/Sub resource names: google.pubsub.v1.Topic.name / Subscription.name in googleapis'
# google/pubsub/v1/pubsub.proto; project ids per cloud.google.com/resource-manager/docs/
# creating-managing-projects. The service rejects every "bad" case below.
ID_CHARS = string.ascii_letters + string.digits + "-_.~+%"


def _documented_id(name: str) -> bool:
    return (
        3 <= len(name) <= 255
        and name[0] in string.ascii_letters
        and all(c in ID_CHARS for c in name)
        and not name.startswith("goog")
    )


@pytest.mark.parametrize(
    "name",
    ["abc", "customers", "Customers-2.v1~x+y%z_", "goo", "gooG", "go0gle", "Google", "g" * 255],
)
@pytest.mark.parametrize("kind", ["topics", "subscriptions"])
def test_pubsub_paths_accept_valid_ids(kind, name):
    pattern = contract.TOPIC_PATH if kind == "topics" else contract.SUBSCRIPTION_PATH
    assert re.fullmatch(pattern, f"projects/my-project/{kind}/{name}")


@pytest.mark.parametrize(
    "name",
    ["goog", "google-events", "ab", "1abc", "-abc", "a b", "a/b", "caf\u00e9", "a" * 256, ""],
)
@pytest.mark.parametrize("kind", ["topics", "subscriptions"])
def test_pubsub_paths_reject_invalid_ids(kind, name):
    pattern = contract.TOPIC_PATH if kind == "topics" else contract.SUBSCRIPTION_PATH
    assert not re.fullmatch(pattern, f"projects/my-project/{kind}/{name}")


@pytest.mark.parametrize(
    ("project", "valid"),
    [
        ("my-project", True),
        ("abcdef", True),
        ("a" + "b" * 29, True),
        ("abcde", False),  # 5 characters
        ("a" + "b" * 30, False),  # 31 characters
        ("my-project-", False),
        ("1project", False),
        ("My-Project", False),
        ("my_project", False),
    ],
)
def test_pubsub_paths_check_the_project_id(project, valid):
    for pattern, kind in (
        (contract.TOPIC_PATH, "topics"),
        (contract.SUBSCRIPTION_PATH, "subscriptions"),
    ):
        assert bool(re.fullmatch(pattern, f"projects/{project}/{kind}/customers")) is valid


@settings(max_examples=500)
@given(st.text(alphabet=ID_CHARS + "g" * 8 + "o" * 8 + " /\u00e9", max_size=260))
def test_pubsub_id_regex_is_the_documented_rule(name):
    """The regex spells "not goog" without a lookahead; it must still mean exactly the rule."""
    matches = re.fullmatch(contract.TOPIC_PATH, f"projects/my-project/topics/{name}")
    assert bool(matches) is _documented_id(name)


# The path regexes are also metadata.json's `regexes`, which Dataflow checks at launch with RE2
# (https://cloud.google.com/dataflow/docs/guides/templates/configuring-flex-templates#metadata):
# RE2 has no lookaround (https://github.com/google/re2/wiki/Syntax), where Python's `re` has.
# tests/unit/test_pipeline_options.py holds every shipped regex to RE2; this holds contract's.
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


@pytest.mark.parametrize("regex", [contract.TOPIC_PATH, contract.SUBSCRIPTION_PATH])
@settings(max_examples=200)
@given(st.text(alphabet=ID_CHARS + "g" * 8 + "o" * 8 + " /\u00e9\n", max_size=260))
def test_pubsub_path_regexes_compile_and_answer_alike_under_re2(regex, name):
    compiled = re2.compile(regex, RE2_OPTIONS)
    kind = "topics" if "/topics/" in regex else "subscriptions"
    for value in (f"projects/my-project/{kind}/{name}", f"projects/my-project/{kind}/goog{name}"):
        assert (compiled.fullmatch(value) is not None) is (re.fullmatch(regex, value) is not None)
        assert (compiled.search(value) is not None) is (re.fullmatch(regex, value) is not None)


def test_topic_path_is_the_argparse_type_of_every_topic_flag():
    """One validator for the producer's and the replay command's --topic."""
    assert contract.topic_path("projects/demo-project/topics/customers")
    with pytest.raises(argparse.ArgumentTypeError, match="is not a topic path"):
        contract.topic_path("projects/demo-project/topics/goog-x")
    topic = next(a for a in _parser("replay")._actions if a.dest == "topic")
    assert topic.type is contract.topic_path
    producer_topic = next(f for f in dataclasses.fields(Config) if f.name == "topic")
    assert producer_topic.metadata["parse"] is contract.topic_path


@pytest.mark.parametrize(
    ("text", "start"),
    [("plain", None), ("café ✓ 𝄞", None), ("\ud800", 0), ("ok\udfff", 2), ("a\udc00b\ud800", 1)],
)
def test_utf8_error_finds_the_first_character_utf8_cannot_encode(text, start):
    error = contract.utf8_error(text)
    if start is None:
        assert error is None
        text.encode("utf-8")
    else:
        assert isinstance(error, UnicodeEncodeError)
        assert error.start == start
        assert "surrogates not allowed" in error.reason


def test_times_and_their_errors_are_utc_whatever_the_host_zone(away_from_utc):
    assert contract.to_rfc3339("2017-08-01T22:36:07+02:00") == "2017-08-01T20:36:07.000Z"
    assert contract.to_rfc3339("2017-08-01T20:36:07.015Z") == "2017-08-01T20:36:07.015Z"
    with pytest.raises(ValueError, match=r"^timestamp without a time zone: '2017-08-01T20:36:07'$"):
        contract.to_rfc3339("2017-08-01T20:36:07")


def test_an_unknown_source_names_the_known_ones():
    user = next(_users())
    expected = "unknown source 'pigeon'; expected one of randomuser, fake, file"
    with pytest.raises(ValueError, match=f"^{expected}$"):
        contract.attributes_for(user, "pigeon")
