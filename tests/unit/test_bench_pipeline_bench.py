"""The pipeline benchmark counts what it claims to, from both of its sources.

Timings are never asserted (bench/README.md); this runs every scenario on a small corpus and
checks its counters, so a benchmark that silently measured less work (a source that lost
messages, a scenario that dropped an output) fails here instead of printing a flattering ratio.
"""

from __future__ import annotations

import pytest

from bench import pipeline_bench

pytestmark = pytest.mark.timeout(300)

COUNT = 60  # 3 copies and 1 malformed message at the default shares


@pytest.fixture(scope="module")
def messages():
    return pipeline_bench.corpus(COUNT, duplicates=0.05, bad=0.02)


@pytest.mark.parametrize("in_worker", [False, True], ids=["from Create", "Create left out"])
@pytest.mark.parametrize(
    ("name", "scenario", "cache_mb"),
    pipeline_bench.SCENARIOS,
    ids=[name for name, _, _ in pipeline_bench.SCENARIOS],
)
def test_each_scenario_reads_every_message_and_counts_its_outputs(
    messages, name, scenario, cache_mb, in_worker
):
    _, _, counters = pipeline_bench.run(scenario, messages, cache_mb, in_worker=in_worker)
    if scenario in (pipeline_bench.identity, pipeline_bench.seed_chain):
        assert counters == {"out": COUNT}
        return
    copies = sum(m.message_id.startswith("d") for m in messages)
    malformed = sum(m.message_id.startswith("b") for m in messages)
    assert (copies, malformed) == (3, 1)
    assert counters["messages_read"] == COUNT
    rows = counters["rows_built"]
    assert rows >= COUNT - malformed  # every well-formed message is one user, copies included
    if scenario is pipeline_bench.parse:
        assert counters["out"] == rows + malformed  # each malformed message: one dead letter
    elif scenario is pipeline_bench.whole_graph:
        assert counters["rows_sent_to_bigquery"] == rows - copies
        stages = ("dead_letters_parse", "dead_letters_validate")
        assert sum(counters.get(stage, 0) for stage in stages) == malformed
    else:
        assert counters["out"] == rows - copies
