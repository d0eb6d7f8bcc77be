"""A Pub/Sub subscriber for the emulator that reads every message the real service accepts.

google-cloud-pubsub opens the real endpoint's channel with `grpc.max_receive_message_length`
-1 (no limit; google/pubsub_v1/services/subscriber/transports/grpc.py), but for
PUBSUB_EMULATOR_HOST it opens `grpc.insecure_channel(target=host)` with gRPC's default 4 MB
receive limit (google/pubsub_v1/services/subscriber/client.py). Pub/Sub accepts messages up to
10 MB (https://cloud.google.com/pubsub/quotas#resource_limits), so locally every pull that
includes a message over 4 MB fails with "Received message larger than max", again and again,
and Beam's direct-runner read stops making progress.

`EmulatorSubscriberClient` opens the emulator channel with the real service's options. It also
pulls up to `PULL_MAX_MESSAGES` per call where Beam's direct runner asks for 10
(apache_beam/runners/direct/transform_evaluator.py: `_PubSubReadEvaluator._read_from_pubsub`,
`max_messages=10`): each pull is one bundle, and the direct runner pays per bundle for every step
of the graph (its timer scan, its DoFn introspection, one BigQuery insert per sink), so
10-message bundles held `make run` to ~33 rows/s (bench/README.md, `make bench-run`). Dataflow
sizes its own bundles; the pipeline does not depend on either size.

Only the local pipeline process (`python -m localrun.local_pipeline`) installs it; the pipeline
package, its image and Dataflow never import this module.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import grpc
from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub, pubsub_v1
from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport
from google.pubsub_v1.types import AcknowledgeRequest, PullRequest, PullResponse

from localrun.drain import DRAIN

_LOG = logging.getLogger(__name__)

# The options google-cloud-pubsub gives the real service's channel (see the module docstring).
REAL_SERVICE_CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_metadata_size", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30000),
)
# A line the local stack counts in the pipeline's log (localrun.stack.unread_pulls).
PULL_FAILED = "Pub/Sub pull failed; the read goes on"
ACK_FAILED = "Pub/Sub acknowledge failed; the messages will be delivered again"
# Messages per pull, hence per direct-runner bundle. Measured with `make bench-run` (3,000 at
# once, 2 cores): 10 -> 33 rows/s, 100 -> 195, 1,000 -> 203; 100 takes nearly all of the gain.
# Large messages stay bounded: the emulator returns one 10 MB message per pull whatever the ask.
PULL_MAX_MESSAGES = 100
# Seconds an empty pull waits on the emulator (Beam asks for 30): a drain (localrun/drain.py)
# waits for the pull in progress, so an idle pipeline drains within this.
PULL_TIMEOUT = 5.0


def emulator_channel(host: str) -> grpc.Channel:
    return grpc.insecure_channel(host, options=REAL_SERVICE_CHANNEL_OPTIONS)


class EmulatorSubscriberClient(pubsub_v1.SubscriberClient):
    """`SubscriberClient()` on the emulator with the real service's channel options, pulling
    up to PULL_MAX_MESSAGES at a time.

    A pull that still fails (the emulator restarting, a broken message) is logged as one
    line and answered as an empty pull, so the read goes on instead of failing every bundle.
    """

    def __init__(self, **kwargs: Any):
        host = os.environ.get("PUBSUB_EMULATOR_HOST")
        if host and "transport" not in kwargs:
            kwargs["transport"] = SubscriberGrpcTransport(host=host, channel=emulator_channel(host))
        super().__init__(**kwargs)

    def pull(self, request: Any = None, **kwargs: Any) -> PullResponse:
        DRAIN.before_pull(self._acknowledge_now)
        kwargs["timeout"] = min(kwargs.get("timeout") or PULL_TIMEOUT, PULL_TIMEOUT)
        if request is not None:  # the client refuses a request object plus field arguments
            request = PullRequest(request)
            request.max_messages = max(request.max_messages, PULL_MAX_MESSAGES)
        else:
            kwargs["max_messages"] = max(kwargs.get("max_messages") or 0, PULL_MAX_MESSAGES)
        try:
            return super().pull(request, **kwargs)
        except (api_exceptions.DeadlineExceeded, api_exceptions.ServiceUnavailable):
            return PullResponse()  # an idle or briefly unreachable emulator
        except api_exceptions.GoogleAPICallError as error:
            _LOG.error("%s: %s", PULL_FAILED, str(error).splitlines()[0][:300])
            return PullResponse()

    def acknowledge(self, request: Any = None, **kwargs: Any) -> None:
        """Held until the next pull, when what this pull brought is written (localrun/drain.py)."""
        request = (
            AcknowledgeRequest(request) if request is not None else AcknowledgeRequest(**kwargs)
        )
        DRAIN.hold(request.subscription, list(request.ack_ids))

    def _acknowledge_now(self, subscription: str, ack_ids: list[str]) -> None:
        """An acknowledgement that fails leaves the messages to be redelivered: at least once."""
        try:
            super().acknowledge(subscription=subscription, ack_ids=ack_ids)
        except api_exceptions.GoogleAPICallError as error:
            _LOG.error("%s: %s", ACK_FAILED, str(error).splitlines()[0][:300])


def install() -> None:
    """Makes `pubsub.SubscriberClient()` (what Beam's direct runner calls) the emulator client.

    For this process only, and only when PUBSUB_EMULATOR_HOST is set.
    """
    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise RuntimeError("PUBSUB_EMULATOR_HOST is not set: this client is for the emulator")
    pubsub.SubscriberClient = EmulatorSubscriberClient
    pubsub_v1.SubscriberClient = EmulatorSubscriberClient
