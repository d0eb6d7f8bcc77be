"""DeduplicateCustomers: the first row per customer_id within the window, the rest counted."""

from typing import ClassVar

import apache_beam as beam
import pytest
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
    deduplicate = dedupe.DeduplicateCustomers(contract.WINDOW)
    dropped = contract.dropped_copies(p, beam.Create(contract.COPIES), deduplicate)
    assert dropped == contract.COPIES_DROPPED


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
    customers = [contract.row(customer_id, 0) for customer_id in "abc"]
    stream = (
        BeamTestStream()
        .advance_processing_time(Timestamp.now().micros // 1_000_000)
        .add_elements(customers)
        .advance_processing_time(30)  # the redelivery, after the ack deadline
        .add_elements(customers)
        .advance_processing_time(30)
        .add_elements([contract.row("d", 0)])
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


def test_step_names_and_the_key_coder_are_fixed():
    """A streaming job is updated in place only if its steps keep their names (or are mapped
    with --transform_name_mapping: cloud.google.com/dataflow/docs/guides/updating-a-pipeline),
    and keyed state needs a deterministic key coder: the customer_id as UTF-8 text."""
    pipeline = beam.Pipeline()
    _ = (
        pipeline
        | beam.Create([contract.row("a", 1)])
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
