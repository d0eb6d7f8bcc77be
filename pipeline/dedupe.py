"""At most one `customers` row per customer_id within a window of processing time.

One stateful DoFn: a flag per customer_id in Beam state, cleared by a processing-time timer
when the window ends, so the guarantee holds across bundles, workers and restarts, and a copy
that arrives after the window is written again. It is Beam's `DeduplicatePerKey` minus what
this pipeline does not need (an event-time timer, a BagState), plus the counter of what it
drops. Why it costs little per message, and what the alternatives cost: bench/README.md.
"""

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp

from pipeline import metrics

Row = dict[str, Any]

SEEN = userstate.ReadModifyWriteStateSpec("seen", BooleanCoder())
# REAL_TIME is processing time: the window starts when the first copy is processed.
EXPIRY = userstate.TimerSpec("expiry", TimeDomain.REAL_TIME)
_SEEN = beam.DoFn.StateParam(SEEN)
_EXPIRY = beam.DoFn.TimerParam(EXPIRY)


class DeduplicateFn(beam.DoFn):
    """(customer_id, row) -> the row, unless this customer_id was seen within the window."""

    def __init__(self, window_seconds: int):
        self._window = Duration(seconds=window_seconds)
        self._dropped = metrics.counter(metrics.DUPLICATES_DROPPED)

    def process(
        self,
        keyed_row: tuple[str, Row],
        seen=_SEEN,
        expiry=_EXPIRY,
    ) -> Iterator[Row]:
        if seen.read():
            self._dropped.inc()
            return
        seen.write(True)
        expiry.set(Timestamp.now() + self._window)
        yield keyed_row[1]

    @userstate.on_timer(EXPIRY)
    def expire(self, seen=_SEEN) -> Iterator[Row]:
        seen.clear()
        yield from ()


class DeduplicateCustomers(beam.PTransform):
    """Rows -> the first row per `customer_id` seen within `window_seconds` of processing time.

    Counts what it drops as `duplicates_dropped`.
    """

    def __init__(self, window_seconds: int):
        super().__init__()
        self._window_seconds = window_seconds

    def expand(self, rows):
        return (
            rows
            # A str key gets a deterministic coder, which keyed state requires.
            | "KeyByCustomerId"
            >> beam.Map(lambda row: (row["customer_id"], row)).with_output_types(tuple[str, Row])
            | "DropRepeats" >> beam.ParDo(DeduplicateFn(self._window_seconds))
        )
