"""Deduplication for `make run`'s direct runner: pipeline/dedupe.py's contract, no keyed state.

pipeline/dedupe.py keeps a flag and a processing-time timer per customer_id in Beam state: on
Dataflow that is per-key work that holds across workers and restarts. Beam's
BundleBasedDirectRunner, which `make run` needs for streaming, pays for it per bundle instead:
after every step of every bundle its watermark manager asks each keyed state ever created for
due timers (apache_beam/runners/direct/watermark_manager.py: `extract_transform_timers` loops
over `_keyed_states`, which never shrinks), so each bundle costs more than the last, one key
per customer (localrun/README.md, "Where the time goes as N grows").

`LocalDeduplicate` gives the same answer from one in-process table of the ids seen within the
window, expired oldest first: its cost per row does not grow with the customers seen. It is
only correct where every bundle runs in this one process, which the direct runner guarantees
(one executor thread, `_ExecutorServiceParallelExecutor.NUM_WORKERS = 1`): `check_runner`
refuses any other runner. Like the direct runner's own state, it lives as long as the pipeline
process. Only `python -m localrun.local_pipeline` uses it; Dataflow runs pipeline/dedupe.py.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import apache_beam as beam

from pipeline import metrics

Row = dict[str, Any]

# The runners that run every bundle in this process (`make run` passes the first).
LOCAL_RUNNERS = ("BundleBasedDirectRunner", "DirectRunner")


class RecentIds:
    """Ids first seen within the last `window_seconds` of `clock`, forgotten oldest first.

    The window of an id starts when it is first seen and is not extended by its copies, as in
    pipeline/dedupe.py. One dict and one queue in arrival order: with a constant window and a
    monotonic clock that is also expiry order, so expiring costs O(1) per id.
    """

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._window = window_seconds
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._queue: deque[tuple[float, str]] = deque()

    def first_seen(self, customer_id: str) -> bool:
        """True, and the window starts, unless `customer_id` was seen within its window."""
        now = self._clock()
        queue, expiry = self._queue, self._expiry
        while queue and queue[0][0] <= now:
            expires, old_id = queue.popleft()
            if expiry.get(old_id) == expires:
                del expiry[old_id]
        if customer_id in expiry:
            return False
        expiry[customer_id] = expires = now + self._window
        queue.append((expires, customer_id))
        return True

    def __len__(self) -> int:
        return len(self._expiry)


# One table per LocalDeduplicateFn, shared by every copy of it in this process: the direct
# runner unpickles a fresh copy of each DoFn for every bundle
# (apache_beam/runners/direct/transform_evaluator.py: `_ParDoEvaluator.start_bundle`,
# `pickler.roundtrip(transform.dofn)`), so the table cannot live on the instance.
_TABLES: dict[str, RecentIds] = {}


class LocalDeduplicateFn(beam.DoFn):
    """row -> the row, unless its customer_id was seen within the window; counts what it drops."""

    def __init__(self, window_seconds: int, clock: Callable[[], float] = time.monotonic):
        self._window_seconds = window_seconds
        self._clock = clock
        self._table_id = uuid.uuid4().hex
        self._dropped = metrics.counter(metrics.DUPLICATES_DROPPED)
        self._seen: RecentIds | None = None

    def setup(self) -> None:
        self._seen = _TABLES.setdefault(
            self._table_id, RecentIds(self._window_seconds, self._clock)
        )

    def process(self, row: Row) -> Iterator[Row]:
        if self._seen.first_seen(row["customer_id"]):
            yield row
        else:
            self._dropped.inc()


class LocalDeduplicate(beam.PTransform):
    """`pipeline.dedupe.DeduplicateCustomers` for the direct runner: same input, output, counter."""

    def __init__(self, window_seconds: int):
        super().__init__()
        self._window_seconds = window_seconds

    def expand(self, rows):
        return rows | "DropRepeats" >> beam.ParDo(LocalDeduplicateFn(self._window_seconds))


def check_runner(argv: Sequence[str]) -> str | None:
    """Why `argv` cannot run with LocalDeduplicate (a runner of other processes), or None."""
    runner = "DirectRunner"  # Beam's default
    for i, arg in enumerate(argv):
        if arg.startswith("--runner="):
            runner = arg.partition("=")[2]
        elif arg == "--runner" and i + 1 < len(argv):
            runner = argv[i + 1]
    if runner in LOCAL_RUNNERS:
        return None
    return (
        f"--runner={runner}: the local pipeline deduplicates in this process and runs only on "
        f"{' or '.join(LOCAL_RUNNERS)}; run `python -m pipeline` on any other runner"
    )
