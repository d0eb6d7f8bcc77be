"""The Beam counters: one list of names, and DoFns that count what passes through them."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline import metrics
from pipeline.dead_letters import STAGES


def test_a_counter_exists_only_if_it_is_listed():
    assert {metrics.dead_letters(stage) for stage in STAGES} <= set(metrics.COUNTERS)
    assert metrics.counter(metrics.ROWS_BUILT).metric_name.namespace == metrics.NAMESPACE
    with pytest.raises(ValueError, match="unknown counter 'rows_lost'"):
        metrics.counter("rows_lost")


def _counted(result) -> dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace(metrics.NAMESPACE))
    totals: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + counter.committed
    return totals


def test_the_counting_steps_pass_every_element_on_and_count_it():
    letters = [{"stage": stage, "n": n} for n, stage in enumerate([*STAGES, "validate"])]
    p = BeamTestPipeline(runner="BundleBasedDirectRunner")
    passed = (
        p
        | beam.Create(letters)
        | beam.ParDo(metrics.CountFn(metrics.MESSAGES_READ))
        | beam.ParDo(metrics.CountDeadLettersFn())
    )
    assert_that(passed | beam.Map(lambda letter: letter["n"]), equal_to([0, 1, 2, 3]))
    result = p.run()
    result.wait_until_finish()
    assert _counted(result) == {
        metrics.MESSAGES_READ: 4,
        "dead_letters_parse": 1,
        "dead_letters_validate": 2,
        "dead_letters_write": 1,
    }
