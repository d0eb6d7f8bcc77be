"""LocalDeduplicate: tests/dedupe_contract.py's cases, as pipeline/dedupe.py passes them, and
the table's survival across the direct runner's bundles."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream

from localrun import local_dedupe
from tests import dedupe_contract as contract

# A direct-runner pipeline that stalls must fail the test, not stall the whole suite.
pytestmark = pytest.mark.timeout(180)

RUNNER = "BundleBasedDirectRunner"


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_duplicates_within_the_window_are_dropped_and_later_ones_kept():
    """The contract's window case on LocalDeduplicateFn itself, its clock moved by hand: the
    direct runner's TestStream clock cannot reach a DoFn that has no timer."""
    clock = FakeClock()
    fn = local_dedupe.LocalDeduplicateFn(contract.WINDOW, clock=clock)
    fn.setup()
    kept = []
    for seconds, rows in contract.WINDOW_STEPS:
        clock.now = 1000.0 + seconds
        kept += [row["n"] for r in rows for row in fn.process(r)]
    assert kept == contract.WINDOW_KEPT


def test_a_copy_at_the_end_of_the_window_is_new_and_copies_do_not_extend_it():
    clock = FakeClock(0.0)
    seen = local_dedupe.RecentIds(10, clock)
    assert seen.first_seen("a")
    clock.now = 9.999
    assert not seen.first_seen("a")  # a copy within the window: dropped, window not moved
    clock.now = 10.0
    assert seen.first_seen("a")  # the window started at 0
    clock.now = 19.0
    assert not seen.first_seen("a")


def test_the_table_holds_only_the_ids_of_the_window():
    """Expired ids are forgotten, so memory and cost stay bounded past the window."""
    clock = FakeClock(0.0)
    seen = local_dedupe.RecentIds(10, clock)
    for second in range(100):
        clock.now = float(second)
        assert seen.first_seen(f"id-{second}")
    assert len(seen) == 10


@pytest.mark.parametrize("bundles", [1, len(contract.COPIES)])
def test_duplicates_dropped_counts_each_dropped_row(bundles):
    """The contract's copies in one bundle, or one bundle each: the direct runner unpickles a
    fresh copy of the DoFn for every bundle, and the table must survive it."""
    size = len(contract.COPIES) // bundles
    stream = BeamTestStream()
    for start in range(0, len(contract.COPIES), size):
        stream = stream.add_elements(contract.COPIES[start : start + size])
    stream = stream.advance_watermark_to_infinity()
    p = BeamTestPipeline(runner=RUNNER, options=PipelineOptions(streaming=True))
    dropped = contract.dropped_copies(p, stream, local_dedupe.LocalDeduplicate(contract.WINDOW))
    # The streaming direct runner under-counts metrics at times; it must never over-count.
    assert dropped <= contract.COPIES_DROPPED


def test_duplicates_dropped_counts_each_dropped_row_in_batch():
    p = BeamTestPipeline(runner=RUNNER)
    deduplicate = local_dedupe.LocalDeduplicate(contract.WINDOW)
    dropped = contract.dropped_copies(p, beam.Create(contract.COPIES), deduplicate)
    assert dropped == contract.COPIES_DROPPED


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        ([], False),
        (["--runner=BundleBasedDirectRunner", "--streaming"], False),
        (["--runner", "DirectRunner"], False),
        (["--runner=DataflowRunner"], True),
        (["--runner=BundleBasedDirectRunner", "--runner", "PrismRunner"], True),
    ],
)
def test_check_runner_refuses_runners_of_other_processes(argv, refused):
    reason = local_dedupe.check_runner(argv)
    assert (reason is not None) == refused
    if refused:
        assert "python -m pipeline" in reason
