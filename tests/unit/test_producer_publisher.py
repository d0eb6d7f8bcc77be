"""Publisher: every outcome counted, only accepted messages recorded; close waits for them."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from producer.publisher import Publisher


class FutureClient:
    """Returns futures the test settles, like the client's batch threads would."""

    def __init__(self):
        self.futures = []
        self.stopped = False

    def publish(self, topic, data, **attributes):
        if data == b"too big":
            raise ValueError("message too large")
        future = Future()
        self.futures.append(future)
        return future

    def stop(self):
        self.stopped = True


def test_publisher_counts_every_outcome_and_records_only_what_was_accepted(tmp_path, caplog):
    client = FutureClient()
    with (tmp_path / "record.jsonl").open("wb") as record:
        publisher = Publisher(client, "projects/p/topics/topic", record)
        publisher.publish(b'{"a":1}', {})
        publisher.publish(b'{"a":2}', {})
        publisher.publish(b"too big", {})
        assert (publisher.pending, publisher.failed) == (2, 1)
        client.futures[0].set_result("message-id")
        client.futures[1].set_exception(RuntimeError("deadline exceeded"))

        closing = threading.Thread(target=publisher.close)
        closing.start()
        closing.join(5)
        assert not closing.is_alive()
    assert client.stopped
    assert (publisher.published, publisher.failed, publisher.pending) == (1, 2, 0)
    assert (tmp_path / "record.jsonl").read_bytes() == b'{"a":1}\n'
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.error for r in failed] == ["message too large", "deadline exceeded"]
    assert not any(hasattr(r, "customer_id") for r in failed), "personal data in a log line"


def test_publisher_close_waits_for_pending_publishes():
    client = FutureClient()
    publisher = Publisher(client, "projects/p/topics/topic")
    publisher.publish(b"{}", {})
    closing = threading.Thread(target=publisher.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()
    client.futures[0].set_result("message-id")
    closing.join(5)
    assert not closing.is_alive()
    assert publisher.published == 1
