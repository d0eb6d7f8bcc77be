"""DeduplicateCustomers: the first row per customer_id within the window, the rest counted."""

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp

from pipeline import dedupe
from tests import dedupe_contract as contract

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)


RUNNER = "BundleBasedDirectRunner"


def test_duplicates_within_the_window_are_dropped_and_later_ones_kept():
    """tests/dedupe_contract.py's window case, the rows of each step in one bundle.

    DeduplicateFn sets its expiry timer from the wall clock (`Timestamp.now() + window`),
    while the direct runner fires processing-time timers by its TestStream clock, which starts
    at 0. So the stream first moves that clock to the wall clock's "now"; the pipeline starts
    (and sets every timer) a few seconds later by the wall clock, which the case's 120 s past
    the window absorbs.
    """
    now = Timestamp.now()
    stream = BeamTestStream().advance_processing_time(now.micros // 1_000_000)
    elapsed = 0
    for seconds, rows in contract.WINDOW_STEPS:
        stream = stream.advance_processing_time(seconds - elapsed) if seconds else stream
        stream = stream.add_elements(list(rows))
        elapsed = seconds
    stream = stream.advance_watermark_to_infinity()
    with BeamTestPipeline(runner=RUNNER, options=PipelineOptions(streaming=True)) as p:
        kept = (
            p
            | stream
            | dedupe.DeduplicateCustomers(contract.WINDOW)
            | beam.Map(lambda row: row["n"])
        )
        assert_that(kept, equal_to(contract.WINDOW_KEPT))


@pytest.mark.parametrize("runner", [RUNNER, "FnApiRunner"])
def test_duplicates_dropped_counts_each_dropped_row(runner):
    # Counted in batch: the streaming direct runner under-counts metrics. The FnApiRunner
    # encodes keys and rows between stages and keeps the state as Dataflow's harness does.
    p = BeamTestPipeline(runner=runner)
    kept = p | beam.Create(contract.COPIES) | dedupe.DeduplicateCustomers(contract.WINDOW)
    assert_that(kept | beam.Map(lambda row: row["customer_id"]), equal_to(contract.COPIES_KEPT))
    result = p.run()
    result.wait_until_finish()
    dropped = result.metrics().query(MetricsFilter().with_name("duplicates_dropped"))["counters"]
    assert sum(counter.committed for counter in dropped) == contract.COPIES_DROPPED
