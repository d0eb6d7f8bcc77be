"""Each parse-floor stage runs ToRowsFn on every message and restores the shipped step."""

from __future__ import annotations

import pytest

from bench import parse_floor, pipeline_bench
from pipeline import transforms

pytestmark = pytest.mark.timeout(300)


COUNT = 60  # 3 copies and 1 malformed message at the default shares


@pytest.fixture(scope="module")
def messages():
    return pipeline_bench.corpus(COUNT, duplicates=0.05, bad=0.02)


@pytest.mark.parametrize(
    ("name", "process"), parse_floor.STAGES, ids=[name for name, _ in parse_floor.STAGES]
)
def test_each_parse_floor_stage_runs_to_rows_fn_on_every_message(messages, name, process):
    """Every stage reads each message and puts one row out per message (the shipped stage:
    one per user, and one dead letter per malformed message); the shipped step is restored."""
    shipped = transforms.process_message
    with parse_floor.processing(process):
        _, _, counters = pipeline_bench.run(pipeline_bench.parse, messages, 0, in_worker=True)
    assert transforms.process_message is shipped
    assert counters["messages_read"] == COUNT
    assert counters["out"] == counters["rows_built"] + (process is shipped)
