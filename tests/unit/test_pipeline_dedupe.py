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


def test_step_names_and_the_key_coder_are_fixed():
    """A streaming job is updated in place only if its steps keep their names (or are mapped
    with --transform_name_mapping: cloud.google.com/dataflow/docs/guides/updating-a-pipeline),
    and keyed state needs a deterministic key coder: the customer_id as UTF-8 text."""
    pipeline = beam.Pipeline()
    _ = (
        pipeline
        | beam.Create([_row("a", 1)])
        | "Deduplicate" >> dedupe.DeduplicateCustomers(window_seconds=60)
    )
    proto = pipeline.to_runner_api()
    transforms = {t.unique_name: t for t in proto.components.transforms.values()}
    assert {"Deduplicate/KeyByCustomerId", "Deduplicate/DropRepeats"} <= set(transforms)
    (keyed,) = transforms["Deduplicate/KeyByCustomerId"].outputs.values()
    coders = proto.components.coders
    kv = coders[proto.components.pcollections[keyed].coder_id]
    assert kv.spec.urn == "beam:coder:kv:v1"
    assert coders[kv.component_coder_ids[0]].spec.urn == "beam:coder:string_utf8:v1"
