"""What every deduplication of `customers` rows must do, shared by the tests of each one.

pipeline/dedupe.py (Dataflow, keyed state and timers) and localrun/local_dedupe.py (`make run`'s
direct runner, one in-process table) run these same cases: tests/unit/test_pipeline_dedupe.py
and tests/unit/test_localrun_local_dedupe.py.
"""

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

WINDOW = 600


def row(customer_id: str, n: int) -> dict:
    return {"customer_id": customer_id, "n": n}


# (seconds since the first row, rows processed then). A wrong window fails it: 1 s keeps "a"
# at +599 s, 1200 s drops "a" and "b" at +720 s.
WINDOW_STEPS = (
    (0, (row("a", 1), row("b", 2), row("a", 3))),
    (WINDOW - 1, (row("a", 4), row("c", 5))),  # within every window: "a" is dropped again
    (WINDOW + 120, (row("a", 6), row("b", 7), row("b", 8))),  # past "a"'s and "b"'s windows
)
WINDOW_KEPT = [1, 2, 5, 6, 7]

# Counted in batch, in one bundle or many: 3 copies dropped, the first of each id kept.
COPIES = [row(customer_id, n) for n, customer_id in enumerate("abacadbe")]
COPIES_KEPT = list("abcde")
COPIES_DROPPED = 3


def dropped_copies(p: beam.Pipeline, source: beam.PTransform, deduplicate: beam.PTransform) -> int:
    """Runs COPIES from `source` through `deduplicate` in `p`, checks that the first of each id is
    kept, and returns the committed `duplicates_dropped` count."""
    kept = p | source | deduplicate
    assert_that(kept | beam.Map(lambda row: row["customer_id"]), equal_to(COPIES_KEPT))
    result = p.run()
    result.wait_until_finish()
    dropped = result.metrics().query(MetricsFilter().with_name("duplicates_dropped"))["counters"]
    return sum(counter.committed for counter in dropped)
