"""ToCustomerRows (TestPipeline + assert_that): every message becomes rows or dead letters."""

import json
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline import tables, transforms
from tests import bigquery_rules
from tests.support import BAD_MESSAGE_CORPUS, FIXTURES

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)
# TestPipeline and TestStream are imported as Beam* so pytest does not collect them as tests.

RUNNER = "BundleBasedDirectRunner"
# The direct runner passes elements between steps as Python objects; the FnApiRunner encodes
# them with their coders between stages as Dataflow does, so a value that cannot be encoded
# (a lone surrogate in a str) fails the bundle there and only there.
RUNNERS = [RUNNER, "FnApiRunner"]
BAD_MESSAGES = sorted(BAD_MESSAGE_CORPUS.glob("*-*.*"))
EXPECTED_ROWS = json.loads((BAD_MESSAGE_CORPUS / "expected_rows.json").read_text(encoding="utf-8"))
PUBLISHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _users(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["results"]


def _message(data: bytes, message_id: str) -> PubsubMessage:
    return PubsubMessage(data, {"source": "file"}, message_id=message_id, publish_time=PUBLISHED)


def _good_users_in(path: Path) -> list[str]:
    """Customer ids of the valid users of a bad-corpus envelope (the rest must dead-letter)."""
    return EXPECTED_ROWS.get(path.name, [])


def test_bad_message_corpus_is_large_and_varied():
    assert len(BAD_MESSAGES) >= 25
    stages = {path.name.split("-", 1)[0] for path in BAD_MESSAGES}
    assert stages == {"parse", "validate"}


def _poison_pills() -> list[tuple[PubsubMessage, list[str]]]:
    """Messages whose JSON escapes a lone UTF-16 surrogate, each with the ids that must be rows."""
    user, other = _users("08_api_v1.4_results2.json")
    name = json.dumps(user).replace(json.dumps(user["name"]["first"]), '"\\ud800"', 1)
    street = json.dumps(other).replace(json.dumps(other["location"]["city"]), '"a\\udfffb"', 1)
    among_good = f'{{"results": [{json.dumps(other)}, {name}], "info": {{}}}}'
    good_user = _message(json.dumps(other).encode(), "good-user-bad-attribute")
    good_user.attributes["source"] = "file\udc80"
    return [
        (_message(name.encode(), "surrogate-in-name"), []),
        (_message(street.encode(), "surrogate-in-city"), []),
        (_message(among_good.encode(), "surrogate-among-good"), [other["login"]["uuid"]]),
        (good_user, []),
    ]


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_message_becomes_rows_or_dead_letters(runner):
    singles = _users("28_api_nat_all_v1.4_results50.json")
    envelope_users = _users("03_api_results100_seed_kbs.json")
    messages = [_message(json.dumps(user).encode(), f"user-{i}") for i, user in enumerate(singles)]
    messages.append(
        _message((FIXTURES / "03_api_results100_seed_kbs.json").read_bytes(), "envelope")
    )
    messages.append(_message(json.dumps(singles[0]).encode(), "redelivery-of-user-0"))
    messages += [_message(path.read_bytes(), path.name) for path in BAD_MESSAGES]
    poison = _poison_pills()
    messages += [message for message, _ in poison]

    expected_rows = [user["login"]["uuid"] for user in singles + envelope_users]
    expected_rows += [uuid for path in BAD_MESSAGES for uuid in _good_users_in(path)]
    expected_rows += [uuid for _, uuids in poison for uuid in uuids]
    expected_dead_letters = [(path.name, path.name.split("-", 1)[0]) for path in BAD_MESSAGES]
    expected_dead_letters += [(message.message_id, "validate") for message, _ in poison]
    # One duplicate is dropped; everything else is a row or a dead letter.
    assert (
        len(expected_rows) + len(expected_dead_letters)
        == 50
        + 100
        + len(BAD_MESSAGES)
        + sum(len(_good_users_in(path)) for path in BAD_MESSAGES)
        + len(poison)
        + 1
    )

    with BeamTestPipeline(runner=runner) as p:
        rows, dead_letters = (
            p | beam.Create(messages) | transforms.ToCustomerRows(dedup_window_seconds=600)
        )
        assert_that(
            rows | "Ids" >> beam.Map(lambda row: row["customer_id"]),
            equal_to(expected_rows),
            label="rows",
        )
        assert_that(
            dead_letters
            | "Where" >> beam.Map(lambda letter: (letter["message_id"], letter["stage"])),
            equal_to(expected_dead_letters),
            label="dead letters",
        )
        customers_errors = rows | "CheckRows" >> beam.FlatMap(
            bigquery_rules.row_errors, tables.fields(tables.CUSTOMERS)
        )
        dlq_errors = dead_letters | "CheckDeadLetters" >> beam.FlatMap(
            bigquery_rules.row_errors, tables.fields(tables.CUSTOMERS_DLQ)
        )
        assert_that(customers_errors, equal_to([]), label="rows match the schema")
        assert_that(dlq_errors, equal_to([]), label="dead letters match the schema")
