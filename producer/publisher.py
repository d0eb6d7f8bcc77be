"""Publishing with google-cloud-pubsub: batched, flow-controlled, never waiting on one message.

Every publish future completes in the client's threads and lands in a counter, so `close()` can
say exactly how many messages Pub/Sub accepted and which customers it did not.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import BinaryIO

from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import (
    BatchSettings,
    LimitExceededBehavior,
    PublisherOptions,
    PublishFlowControl,
)

from producer.config import Config, ConfigError

log = logging.getLogger(__name__)

CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key file, or set PUBSUB_EMULATOR_HOST to use the emulator"
)


def _endpoint() -> str:
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    return f"the Pub/Sub emulator at {host}" if host else "Pub/Sub (pubsub.googleapis.com)"


class Publisher:
    """Counts `published`, `failed` and `pending`; `record` receives each accepted payload."""

    def __init__(
        self, client: pubsub_v1.PublisherClient, topic: str, record: BinaryIO | None = None
    ) -> None:
        self.client = client
        self.topic = topic
        self.record = record
        self.published = 0
        self.failed = 0
        self.pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    @classmethod
    def from_config(cls, config: Config, record: BinaryIO | None = None) -> Publisher:
        batch = BatchSettings(
            max_messages=config.max_batch_messages,
            max_bytes=config.max_batch_bytes,
            max_latency=config.max_batch_latency,
        )
        flow_control = PublishFlowControl(
            message_limit=config.max_outstanding_messages,
            byte_limit=config.max_outstanding_bytes,
            limit_exceeded_behavior=LimitExceededBehavior.BLOCK,  # bounded memory at any rate
        )
        try:
            client = pubsub_v1.PublisherClient(
                batch_settings=batch, publisher_options=PublisherOptions(flow_control=flow_control)
            )
        except auth_exceptions.DefaultCredentialsError as exc:
            reason = str(exc).splitlines()[0]
            raise ConfigError(
                f"no usable Google credentials ({reason}): {CREDENTIALS_HINT}"
            ) from None
        return cls(client, config.topic, record)

    def check_topic(self, timeout: float = 10.0) -> None:
        """Fail fast on a missing topic or an unreachable service, instead of retrying forever."""
        try:
            self.client.get_topic(request={"topic": self.topic}, timeout=timeout, retry=None)
        except api_exceptions.NotFound:
            _, project, _, topic = self.topic.split("/")
            raise ConfigError(
                f"topic {self.topic} does not exist on {_endpoint()}: create it "
                f"(gcloud pubsub topics create {topic} --project {project}) or fix --topic"
            ) from None
        except api_exceptions.PermissionDenied:
            # A least-privilege publisher (roles/pubsub.publisher) may not read topic metadata.
            log.warning(
                "cannot check that the topic exists (no pubsub.topics.get); publishing anyway",
                extra={"topic": self.topic},
            )
        except (api_exceptions.Unauthenticated, auth_exceptions.GoogleAuthError) as exc:
            raise ConfigError(
                f"{_endpoint()} refused the credentials ({exc}): {CREDENTIALS_HINT}"
            ) from None
        except (api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded) as exc:
            raise ConfigError(f"{_endpoint()} is not reachable: {exc.message}") from None

    def publish(self, data: bytes, attributes: dict[str, str]) -> None:
        """Hand one message to the client's batcher; blocks only when flow control is full."""
        with self._lock:
            self.pending += 1
        try:
            future = self.client.publish(self.topic, data, **attributes)
        except Exception as exc:  # a message the client refuses must not end the run
            self._settle(data, exc)
            return
        future.add_done_callback(functools.partial(self._done, data))

    def _done(self, data: bytes, future) -> None:
        self._settle(data, future.exception())

    def _settle(self, data: bytes, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self.published += 1
                if self.record is not None:
                    self.record.write(data + b"\n")
            else:
                self.failed += 1
            self.pending -= 1
            if self.pending == 0:
                self._idle.notify_all()
        if error is not None:
            # Never the customer_id: personal data stays out of logs (docs/privacy.md).
            log.error("publish failed", extra={"error": str(error)})

    def close(self) -> None:
        """Send every batched message now and wait until each one is published or has failed.

        No timeout of our own: the client's retry deadline bounds every publish, and giving up
        earlier would leave messages whose fate nobody knows.
        """
        self.client.stop()
        with self._idle:
            self._idle.wait_for(lambda: self.pending == 0)
        if self.record is not None:
            self.record.flush()
