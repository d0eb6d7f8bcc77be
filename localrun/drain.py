"""Drain the local pipeline on SIGTERM, and acknowledge a pull only once it is written.

Beam's direct runner acknowledges each pull as soon as it has pulled it
(`_PubSubReadEvaluator._read_from_pubsub` in apache_beam/runners/direct/transform_evaluator.py),
so a pipeline stopped mid-stream lost up to one pull. It asks for the next pull only when no
step has work left (`_ExecutorServiceParallelExecutor._MonitorTask._add_work_if_necessary` in
runners/direct/executor.py: root work is added only when nothing is executing), and a step's
bundle is finished (the BigQuery sinks flush in `finish_bundle`) before it stops executing. So
the next pull is the proof that everything the previous pull brought is written:

- `acknowledge` is held back, and sent at the next pull: nothing is acknowledged before it is
  written, and a pipeline killed meanwhile leaves those messages to be redelivered;
- on SIGTERM the pipeline stops pulling: at its next pull it acknowledges what it holds, logs
  `DRAINED` and exits 0. Everything it pulled is written, nothing more is read, and the next
  pipeline on the subscription reads on from there (`make drain-local`, `make deploy-local`).

This is the local twin of Dataflow's drain (`requestedState: JOB_STATE_DRAINED`,
https://cloud.google.com/dataflow/docs/guides/stopping-a-pipeline#drain): stop reading, finish
what was read, then stop. Only `python -m localrun.local_pipeline` installs it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

_LOG = logging.getLogger(__name__)
# The pipeline's log line when it has drained (localrun's drain waits for the process to exit).
DRAINED = "drained: every pulled message is written and acknowledged; exiting"
DRAINING = "SIGTERM: draining (no more pulls; finishing what was pulled)"


class Drain:
    """Held acknowledgements and the drain flag of one pipeline process."""

    def __init__(self, exit_process: Callable[[int], None] = os._exit):
        self._draining = threading.Event()
        self._lock = threading.Lock()
        self._held: dict[str, list[str]] = {}
        self._exit = exit_process

    def hold(self, subscription: str, ack_ids: list[str]) -> None:
        with self._lock:
            self._held.setdefault(subscription, []).extend(ack_ids)

    def release(self, acknowledge: Callable[[str, list[str]], None]) -> int:
        """Acknowledges everything held: called when the previous pull is written."""
        with self._lock:
            held, self._held = self._held, {}
        for subscription, ack_ids in held.items():
            acknowledge(subscription, ack_ids)
        return sum(len(ack_ids) for ack_ids in held.values())

    def start(self, *_signal_args) -> None:
        if not self._draining.is_set():
            _LOG.warning(DRAINING)
        self._draining.set()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def before_pull(self, acknowledge: Callable[[str, list[str]], None]) -> None:
        """At each pull: acknowledge the written pull; when draining, exit instead of pulling."""
        released = self.release(acknowledge)
        if self.draining:
            _LOG.warning("%s (%d acknowledged last)", DRAINED, released)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            self._exit(0)


DRAIN = Drain()


def install() -> None:
    """SIGTERM drains this process (the signal handler runs in the main thread; the pulls run in
    the direct runner's executor thread)."""
    signal.signal(signal.SIGTERM, DRAIN.start)
