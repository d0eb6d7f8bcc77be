"""The pipeline's Beam counters: one namespace, one name list, plain increments.

Cloud Monitoring's dashboard and alerts (terraform/) select these names; the static tier checks
them against `COUNTERS`, so a counter exists here or nowhere.
"""

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.dead_letters import STAGES

NAMESPACE = "customers"

MESSAGES_READ = "messages_read"
ROWS_BUILT = "rows_built"
DUPLICATES_DROPPED = "duplicates_dropped"
ROWS_SENT_TO_BIGQUERY = "rows_sent_to_bigquery"
DEAD_LETTERS_REDUCED = "dead_letters_reduced"
DEAD_LETTERS_UNWRITABLE = "dead_letters_unwritable"


def dead_letters(stage: str) -> str:
    """The counter of the dead letters of `stage` (parse, validate, write)."""
    return f"dead_letters_{stage}"


COUNTERS = (
    MESSAGES_READ,
    ROWS_BUILT,
    DUPLICATES_DROPPED,
    ROWS_SENT_TO_BIGQUERY,
    *(dead_letters(stage) for stage in STAGES),
    DEAD_LETTERS_REDUCED,
    DEAD_LETTERS_UNWRITABLE,
)


def counter(name: str):
    """The counter `name` in NAMESPACE; only names listed in COUNTERS exist."""
    if name not in COUNTERS:
        raise ValueError(f"unknown counter {name!r}; add it to pipeline/metrics.py COUNTERS")
    return Metrics.counter(NAMESPACE, name)


class CountFn(beam.DoFn):
    """Passes elements through, counting them in the counter `name`."""

    def __init__(self, name: str):
        self._counter = counter(name)

    def process(self, element: Any) -> Iterator[Any]:
        self._counter.inc()
        yield element


class CountDeadLettersFn(beam.DoFn):
    """Passes dead letters through, counting each in its stage's counter."""

    def __init__(self):
        self._counters = {stage: counter(dead_letters(stage)) for stage in STAGES}

    def process(self, letter: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self._counters[letter["stage"]].inc()
        yield letter
