"""`make replay PROJECT=...` and `make forget PROJECT=...`, as typed, on the real emulators.

The Makefile's cloud branch takes the topic and tables from `terraform output` (the stand-in's
answers) and runs `python -m replay` with Application Default Credentials and no endpoint flag,
as it does against Google. Only the environment differs (cloud_support's
`Emulated.aim_client_libraries`): Pub/Sub's client reads `PUBSUB_EMULATOR_HOST`, BigQuery's its
own `BIGQUERY_EMULATOR_HOST`, and the credentials are a service-account key whose token the
OAuth fake issues, so the token exchange runs too. What is asserted is what the emulators hold
afterwards: the messages on the pipeline's subscription, the rows of `customers_dlq_replays`,
`erasure_requests` and `customers`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1

from localrun.resources import SHORT_RETRY, query
from pipeline import dead_letters, rows
from tests.cloud.cloud_support import PROJECT
from tests.support import FIXTURES

USERS = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"]
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture
def aimed(emulated, cloud):
    """The emulated data, with the Python clients of `cloud.run` pointed at it."""
    emulated.aim_client_libraries(cloud)
    return emulated


def _insert(emulated, table: str, rows_: list[dict]) -> None:
    errors = emulated.bigquery.insert_rows_json(table, rows_, retry=SHORT_RETRY, timeout=10)
    assert not errors


def _pull(subscription: str, wait: float) -> list:
    """The messages waiting on `subscription` (acknowledged), or none once `wait` s passed:
    the replay waits for each publish to be confirmed, so what it sent is there already."""
    with pubsub_v1.SubscriberClient() as subscriber:
        request = {"subscription": subscription, "max_messages": 10}
        try:
            received = subscriber.pull(request=request, timeout=wait, retry=None).received_messages
        except DeadlineExceeded:
            return []
        if received:
            ack_ids = [m.ack_id for m in received]
            subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
        return [m.message for m in received]


def _count(emulated, table: str) -> int:
    ((count,),) = query(emulated.bigquery, f"SELECT COUNT(*) FROM `{table}`")
    return count


def test_make_replay_project_republishes_a_dead_letter(cloud, aimed):
    emulated = aimed
    names = emulated.names
    payload = dead_letters.redact_credentials(json.dumps(USERS[0]).encode())
    letter = dead_letters.dead_letter(
        stage="validate", error="registered.date is missing", payload=payload,
        attributes={"source": "randomuser"}, message_id="m-1",
        now=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    _insert(emulated, names.customers_dlq, [letter])
    command = f"make replay PROJECT={PROJECT} ARGS='--stage validate --since 1d"  # replay/README

    dry = cloud.run(command + "'")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"selected 1 dead letter of 1 message in {names.customers_dlq}" in dry.stdout
    published = (
        f"dry run: nothing published; add --execute to publish 1 message to {names.topic_path}"
    )
    assert published in dry.stdout
    assert _pull(names.subscription_path, wait=2) == []
    assert _count(emulated, names.customers_dlq_replays) == 0

    done = cloud.run(command + " --execute'")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published 1/1 to {names.topic_path} with replay_of" in done.stdout, done.stdout
    (message,) = _pull(names.subscription_path, wait=10)
    assert message.data == payload
    assert dict(message.attributes) == {"source": "randomuser", "replay_of": "m-1"}
    ((replayed, sent_as),) = query(
        emulated.bigquery,
        f"SELECT message_id, replay_message_id FROM `{names.customers_dlq_replays}`",
    )
    assert (replayed, sent_as) == ("m-1", message.message_id)
    assert SCOPE in cloud.google.oauth.scopes  # the key's token: ADC as on Google


def test_make_forget_project_erases_a_customer_and_records_the_request(cloud, aimed):
    emulated = aimed
    names, erased, kept = emulated.names, USERS[0], USERS[1]
    customer = erased["login"]["uuid"]
    old = datetime.now(UTC) - timedelta(hours=3)  # out of the streaming buffer
    _insert(emulated, names.customers, [
        rows.to_customer_row(erased, rows.Lineage(message_id="m-1", ingested_at=old)),
        rows.to_customer_row(kept, rows.Lineage(message_id="m-2", ingested_at=old)),
    ])  # fmt: skip
    command = f"make forget PROJECT={PROJECT} CUSTOMER={customer}"

    dry = cloud.run(command)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "the customer has 1 row in 3 tables:" in dry.stdout, dry.stdout
    deleted = "dry run: nothing deleted; --execute would delete 1 now and record the request in"
    assert f"{deleted} {names.erasure_requests}" in dry.stdout
    assert _count(emulated, names.customers) == 2
    assert _count(emulated, names.erasure_requests) == 0

    done = cloud.run(command + " ARGS=--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: no row of the customer is left" in done.stdout, done.stdout
    assert customer not in done.stdout + done.stderr + dry.stdout + dry.stderr
    left = query(emulated.bigquery, f"SELECT customer_id FROM `{names.customers}`")
    assert [row[0] for row in left] == [kept["login"]["uuid"]]
    ((status, recorded),) = query(
        emulated.bigquery,
        f"SELECT status, customer_id FROM `{names.erasure_requests}`",
    )
    assert (status, recorded) == ("done", customer)


def test_without_usable_credentials_each_says_how_to_get_them(cloud, aimed):
    """No Application Default Credentials at all, then a key the token endpoint refuses: one
    line naming the fix, not google-auth's traceback."""
    key = cloud.env.pop("GOOGLE_APPLICATION_CREDENTIALS")  # and no ADC file in CLOUDSDK_CONFIG
    replay = cloud.run(f"make replay PROJECT={PROJECT} ARGS='--stage validate'")
    cloud.google.oauth.public_keys.clear()  # the key is no longer the account's
    cloud.env["GOOGLE_APPLICATION_CREDENTIALS"] = key
    forget = cloud.run(f"make forget PROJECT={PROJECT} CUSTOMER={USERS[0]['login']['uuid']}")
    for made, name in ((replay, "python -m replay"), (forget, "python -m replay forget")):
        assert made.returncode != 0, made.stdout
        assert "Traceback" not in made.stderr, made.stderr
        (line,) = [line for line in made.stderr.splitlines() if line.startswith(f"{name}: error")]
        assert "gcloud auth application-default login" in line, made.stderr
    assert "RefreshError: invalid_grant: no key of 'operator@" in forget.stderr
