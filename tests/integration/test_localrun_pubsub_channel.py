"""The local pipeline's Pub/Sub read takes every message size Pub/Sub accepts (10 MB).

Pub/Sub accepts a message of up to 10 MB (https://cloud.google.com/pubsub/quotas#resource_limits;
google-cloud-pubsub itself refuses a publish request over 10,000,000 bytes). On the emulator,
google-cloud-pubsub's own SubscriberClient cannot receive one over 4 MB (gRPC's default limit
on its emulator channel); `EmulatorSubscriberClient` can, as the real service's channel can.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from google.api_core.exceptions import ResourceExhausted
from google.cloud import pubsub_v1

from localrun import pubsub_channel
from localrun.drain import Drain
from localrun.pubsub_channel import PULL_FAILED, PULL_MAX_MESSAGES, EmulatorSubscriberClient

LARGEST = 10_000_000 - 1_000  # the request also carries the topic name and framing


def _pull(client, subscription: str) -> list[int]:
    response = client.pull(subscription=subscription, max_messages=10, timeout=30, retry=None)
    client.acknowledge(
        subscription=subscription, ack_ids=[m.ack_id for m in response.received_messages]
    )
    return [len(m.message.data) for m in response.received_messages]


@pytest.fixture(autouse=True)
def drain(monkeypatch):
    """Each test its own held acknowledgements (one pipeline process has one)."""
    state = Drain()
    monkeypatch.setattr(pubsub_channel, "DRAIN", state)
    return state


def _redelivered(subscription: str, ack_ids: list[str]) -> int:
    """Expire `ack_ids` now (a nack) and count what the subscription delivers again."""
    with pubsub_v1.SubscriberClient() as stock:
        stock.modify_ack_deadline(
            subscription=subscription, ack_ids=ack_ids, ack_deadline_seconds=0
        )
        again = stock.pull(subscription=subscription, max_messages=10, return_immediately=True)
    return len(again.received_messages)


@pytest.mark.parametrize("next_pull", [False, True])
def test_an_acknowledgement_is_sent_only_at_the_next_pull(pubsub_topic, next_pull):
    """Held until the next pull, when the direct runner has written what the last one brought
    (localrun/drain.py): a process that dies before it leaves the message to be redelivered."""
    topic, subscription = pubsub_topic
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(topic, b"{}", source="file").result(timeout=60)
    publisher.stop()
    with EmulatorSubscriberClient() as client:
        response = client.pull(subscription=subscription, max_messages=10, timeout=30)
        ack_ids = [m.ack_id for m in response.received_messages]
        client.acknowledge(subscription=subscription, ack_ids=ack_ids)
        if next_pull:
            client.pull(subscription=subscription, max_messages=10, timeout=2)
    assert len(ack_ids) == 1
    assert _redelivered(subscription, ack_ids) == (0 if next_pull else 1)


@pytest.fixture
def subscription(pubsub_topic):
    topic, subscription = pubsub_topic
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(topic, b"x" * LARGEST, source="file").result(timeout=60)
    publisher.stop()
    return subscription


def test_the_stock_emulator_channel_cannot_receive_a_10_mb_message(subscription):
    """The bug this client fixes: every pull that includes the message fails."""
    with pubsub_v1.SubscriberClient() as stock, pytest.raises(ResourceExhausted, match="larger"):
        stock.pull(subscription=subscription, max_messages=10, timeout=30, retry=None)


def test_the_emulator_subscriber_client_receives_a_10_mb_message(subscription):
    with EmulatorSubscriberClient() as client:
        assert _pull(client, subscription) == [LARGEST]


def test_a_failing_pull_is_logged_once_and_answered_empty(pubsub_emulator, caplog):
    missing = f"projects/test-project/subscriptions/missing-{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.ERROR), EmulatorSubscriberClient() as client:
        response = client.pull(subscription=missing, max_messages=10, timeout=10)
    assert list(response.received_messages) == []
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [PULL_FAILED]


@pytest.mark.parametrize("form", ["fields", "request"])
def test_a_pull_takes_a_bundle_of_up_to_pull_max_messages(pubsub_topic, form):
    """The direct runner asks for 10 messages per pull, i.e. per bundle; the local read asks for
    PULL_MAX_MESSAGES, so a backlog is read in bundles that many times larger. Both call forms
    of the client work (it refuses a request object together with field arguments)."""
    topic, subscription = pubsub_topic
    publisher = pubsub_v1.PublisherClient()
    for future in [publisher.publish(topic, b"{}", source="file") for _ in range(150)]:
        future.result(timeout=60)
    publisher.stop()
    with EmulatorSubscriberClient() as client:
        if form == "fields":
            sizes = _pull(client, subscription)
        else:
            response = client.pull(
                request={"subscription": subscription, "max_messages": 10}, timeout=30
            )
            sizes = [len(m.message.data) for m in response.received_messages]
    assert 10 < len(sizes) <= PULL_MAX_MESSAGES
