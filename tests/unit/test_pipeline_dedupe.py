"""DeduplicateCustomers: the first row per customer_id within the window, the rest counted."""

from typing import ClassVar

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp

from pipeline import dedupe

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)


RUNNER = "BundleBasedDirectRunner"


def _row(customer_id: str, n: int) -> dict:
    return {"customer_id": customer_id, "n": n}


def test_duplicates_within_the_window_are_dropped_and_later_ones_kept():
    """A wrong window fails this test: 1 s keeps "a" at +599 s, 1200 s drops it at +720 s.

    DeduplicateFn sets its expiry timer from the wall clock (`Timestamp.now() + window`),
    while the direct runner fires processing-time timers by its TestStream clock, which starts
    at 0. So the stream first moves that clock to the wall clock's "now"; the pipeline starts
    (and sets every timer) a few seconds later by the wall clock, which SLACK absorbs.
    """
    window, slack = 600, 120
    now = Timestamp.now()
    stream = (
        BeamTestStream()
        .advance_processing_time(now.micros // 1_000_000)
        .add_elements([_row("a", 1), _row("b", 2), _row("a", 3)])
        .advance_processing_time(window - 1)  # every timer still pending: drop "a" again
        .add_elements([_row("a", 4), _row("c", 5)])
        .advance_processing_time(1 + slack)  # past every timer: all keys are new again
        .add_elements([_row("a", 6), _row("c", 7), _row("c", 8)])
        .advance_watermark_to_infinity()
    )
    with BeamTestPipeline(runner=RUNNER, options=PipelineOptions(streaming=True)) as p:
        kept = p | stream | dedupe.DeduplicateCustomers(window) | beam.Map(lambda row: row["n"])
        assert_that(kept, equal_to([1, 2, 5, 6, 7]))


@pytest.mark.parametrize("runner", [RUNNER, "FnApiRunner"])
def test_duplicates_dropped_counts_each_dropped_row(runner):
    # Counted in batch: the streaming direct runner under-counts metrics. The FnApiRunner
    # encodes keys and rows between stages and keeps the state as Dataflow's harness does.
    rows = [_row(customer_id, n) for n, customer_id in enumerate("abacadbe")]
    p = BeamTestPipeline(runner=runner)
    kept = p | beam.Create(rows) | dedupe.DeduplicateCustomers(600)
    assert_that(kept | beam.Map(lambda row: row["customer_id"]), equal_to(list("abcde")))
    result = p.run()
    result.wait_until_finish()
    dropped = result.metrics().query(MetricsFilter().with_name("duplicates_dropped"))["counters"]
    assert sum(counter.committed for counter in dropped) == 3


class FailFirstBundleFn(beam.DoFn):
    """Passes rows on, but the first bundle it finishes fails after its rows went out, as a
    worker lost mid-bundle: the runner retries that bundle. Attempts are counted on the class
    (the direct runner runs the DoFn in this process)."""

    attempts: ClassVar[list[int]] = []

    def process(self, row):
        yield row

    def finish_bundle(self):
        FailFirstBundleFn.attempts.append(1)
        if len(FailFirstBundleFn.attempts) == 1:
            raise RuntimeError("worker lost mid-bundle")


def test_at_least_once_a_retried_and_redelivered_bundle_keeps_one_row_per_customer():
    """At-least-once streaming mode neither drops Pub/Sub redeliveries nor guarantees that a
    retried bundle's output is applied once ("Messages might be processed multiple times, and
    the results are applied multiple times": the Dataflow API's StreamingMode,
    STREAMING_MODE_AT_LEAST_ONCE).
    Here a bundle fails and is retried, and the same customers then arrive again, as a
    redelivery does: only the dedupe by customer_id keeps one row each. pipeline/options.py
    makes at-least-once the template's default on the strength of this test."""
    FailFirstBundleFn.attempts.clear()
    customers = [_row(customer_id, 0) for customer_id in "abc"]
    stream = (
        BeamTestStream()
        .advance_processing_time(Timestamp.now().micros // 1_000_000)
        .add_elements(customers)
        .advance_processing_time(30)  # the redelivery, after the ack deadline
        .add_elements(customers)
        .advance_processing_time(30)
        .add_elements([_row("d", 0)])
        .advance_watermark_to_infinity()
    )
    with BeamTestPipeline(runner=RUNNER, options=PipelineOptions(streaming=True)) as p:
        kept = (
            p
            | stream
            | beam.ParDo(FailFirstBundleFn())
            | dedupe.DeduplicateCustomers(600)
            | beam.Map(lambda row: row["customer_id"])
        )
        assert_that(kept, equal_to(list("abcd")))
    assert len(FailFirstBundleFn.attempts) >= 2  # the failed bundle was retried
