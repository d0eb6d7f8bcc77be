"""Beam wiring: PubsubMessages -> unique `customers` rows and `customers_dlq` dead letters.

Thin: `ToRowsFn` calls `messages.process_message` and counts; deduplication is
`dedupe.DeduplicateCustomers`. The labels inside the graph ("Parse", "Deduplicate") are kept
as they were, so a running Dataflow job can be updated in place.
"""

from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage

from pipeline import metrics
from pipeline.dedupe import DeduplicateCustomers
from pipeline.messages import process_message

DEAD_LETTER = "dead_letter"
# window_seconds -> the transform that keeps the first row per customer_id within the window.
Deduplicator = Callable[[int], beam.PTransform]


class ToRowsFn(beam.DoFn):
    """PubsubMessage -> its valid `customers` rows (main output) and at most one dead letter
    (tag DEAD_LETTER): parses, validates and builds the rows."""

    def __init__(self):
        self._messages_read = metrics.counter(metrics.MESSAGES_READ)
        self._rows_built = metrics.counter(metrics.ROWS_BUILT)

    def process(self, message: PubsubMessage) -> Iterator[Any]:
        self._messages_read.inc()
        outcome = process_message(
            message.data,
            message.attributes,
            message_id=message.message_id,
            publish_time=message.publish_time,
        )
        self._rows_built.inc(len(outcome.rows))
        yield from outcome.rows
        for letter in outcome.dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)


class ToCustomerRows(beam.PTransform):
    """PubsubMessages -> (unique `customers` rows, `customers_dlq` dead letters).

    `deduplicate` is DeduplicateCustomers everywhere but on `make run`'s direct runner
    (localrun/local_dedupe.py), which keeps its contract at a cost that does not grow.
    """

    def __init__(self, dedup_window_seconds: int, deduplicate: Deduplicator = DeduplicateCustomers):
        super().__init__()
        self._dedup_window_seconds = dedup_window_seconds
        self._deduplicate = deduplicate

    def expand(self, messages):
        parsed = messages | "Parse" >> beam.ParDo(ToRowsFn()).with_outputs(DEAD_LETTER, main="rows")
        rows = parsed.rows | "Deduplicate" >> self._deduplicate(self._dedup_window_seconds)
        return rows, parsed[DEAD_LETTER]
