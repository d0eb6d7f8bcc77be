"""Stop the pipeline mid-stream, keep publishing, start it again on the same subscription.

Every customer published while the pipeline was down must arrive exactly once. The local
pipeline acknowledges a pull only once it is written and drains on SIGTERM (localrun/drain.py):
a SIGTERM loses and duplicates nothing; a SIGKILL loses nothing either, and what it had written
but not yet acknowledged (at most one pull, PULL_MAX_MESSAGES: the runner pulls again only when
the graph is idle) is redelivered to the next pipeline and written again, as Pub/Sub's
at-least-once delivery allows. The test prints both.
"""

from __future__ import annotations

import signal
import time

import pytest
from e2e_support import customer_ids, fake_messages

from localrun.pubsub_channel import PULL_MAX_MESSAGES
from localrun.stack import publish, start_pipeline

pytestmark = pytest.mark.timeout(420)

RUNNING, DOWN = 150, 60  # customers published while the pipeline runs / while it is down


def _ids(messages) -> set[str]:
    return {m.customer_id for m in messages}


def _wait_for_rows(resources, wanted: set[str], at_least: int, pipeline, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        landed = customer_ids(resources)
        if len(wanted & set(landed)) >= at_least:
            return landed
        assert pipeline.running(), pipeline.log_tail()
        time.sleep(0.5)
    pytest.fail(f"fewer than {at_least} of {len(wanted)} customers arrived in {timeout:.0f}s")


def _stop_mid_stream(resources, pipeline, sig: int, batch) -> None:
    """Publish `batch`, let a third of it land, then send `sig` and wait for the exit."""
    publish(resources.names.topic_path, batch)
    _wait_for_rows(resources, _ids(batch), len(batch) // 3, pipeline)
    pipeline.signal(sig)
    assert pipeline.wait(60) is not None, "the pipeline did not exit"
    pipeline.stop()  # and nothing of its process group is left


def test_customers_published_while_down_arrive_exactly_once(fresh_resources, tmp_path, report):
    r = fresh_resources

    def start():
        return start_pipeline(r.names, r.pubsub_address, r.bigquery_endpoint, tmp_path)

    before_term, down_after_term = fake_messages(RUNNING, "t1"), fake_messages(DOWN, "t2")
    before_kill, down_after_kill = fake_messages(RUNNING, "k1"), fake_messages(DOWN, "k2")
    pipeline = start()
    try:
        _stop_mid_stream(r, pipeline, signal.SIGTERM, before_term)
        publish(r.names.topic_path, down_after_term)
        pipeline = start()
        _wait_for_rows(r, _ids(down_after_term), DOWN, pipeline)
        _stop_mid_stream(r, pipeline, signal.SIGKILL, before_kill)
        publish(r.names.topic_path, down_after_kill)
        pipeline = start()
        _wait_for_rows(r, _ids(down_after_kill), DOWN, pipeline)
        # What the killed pipeline held unacknowledged comes back after the ack deadline (60 s).
        _wait_for_rows(r, _ids(before_kill), RUNNING, pipeline, timeout=150)
        time.sleep(3)  # anything still redelivered would show up now
        landed = customer_ids(r)
    finally:
        pipeline.stop()

    for batch in (down_after_term, down_after_kill):
        assert {landed[i] for i in _ids(batch)} == {1}, "published while down: exactly once"
    assert set(landed) <= _ids(before_term + down_after_term + before_kill + down_after_kill)
    lost_term = len(_ids(before_term) - set(landed))
    lost_kill = len(_ids(before_kill) - set(landed))
    twice_term = sum(landed[i] > 1 for i in _ids(before_term))
    twice_kill = sum(landed[i] > 1 for i in _ids(before_kill) if i in landed)
    report(
        f"in flight on the direct runner: SIGTERM (drain) lost {lost_term}/{RUNNING}, "
        f"duplicated {twice_term}; SIGKILL lost {lost_kill}/{RUNNING}, duplicated {twice_kill} "
        f"(published while down: {2 * DOWN}/{2 * DOWN} exactly once)"
    )
    assert (lost_term, twice_term, lost_kill) == (0, 0, 0), "a drain or a kill lost a customer"
    assert max(landed.values()) <= 2 and twice_kill <= PULL_MAX_MESSAGES
