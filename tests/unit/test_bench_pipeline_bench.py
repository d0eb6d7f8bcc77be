"""The pipeline benchmark counts what it claims to, from both of its sources.

Timings are never asserted (bench/README.md); this runs every scenario on a small corpus and
checks its counters, so a benchmark that silently measured less work (a source that lost
messages, a scenario that dropped an output) fails here instead of printing a flattering ratio.
"""

from __future__ import annotations

import json

import pytest

from bench import pipeline_bench

pytestmark = pytest.mark.timeout(300)

COUNT = 60  # 3 copies and 1 malformed message at the default shares


@pytest.fixture(scope="module")
def messages():
    return pipeline_bench.corpus(COUNT, duplicates=0.05, bad=0.02)


@pytest.mark.parametrize("in_worker", [False, True], ids=["from Create", "Create left out"])
@pytest.mark.parametrize(
    "scenario", pipeline_bench.SCENARIOS, ids=[s.key for s in pipeline_bench.SCENARIOS]
)
def test_each_scenario_reads_every_message_and_counts_its_outputs(messages, scenario, in_worker):
    _, _, counters = pipeline_bench.run(
        scenario.build, messages, scenario.cache_mb, in_worker=in_worker
    )
    scenario = scenario.build
    if scenario in (pipeline_bench.identity, pipeline_bench.seed_chain):
        assert counters == {"out": COUNT}
        return
    if scenario is pipeline_bench.seed_pipeline:  # every row the seed could read reaches the sink
        readable = sum(pipeline_bench.seed_row(message) is not None for message in messages)
        assert COUNT - 1 <= readable < COUNT  # the malformed one is dropped, nothing else
        assert counters == {"out": readable}
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


def test_a_run_writes_the_results_file_that_make_capacity_reads(tmp_path, monkeypatch):
    """The file holds each scenario's CPU per message from the worker's memory, and the whole
    graph against the seed's whole pipeline, computed from those same runs."""
    output = tmp_path / "pipeline.json"
    argv = ["pipeline_bench", "--count", "40", "--no-reference", "--output", str(output)]
    monkeypatch.setattr("sys.argv", argv)
    pipeline_bench.main_()
    written = json.loads(output.read_text())
    cpu = written["worker_cpu_us_per_message"]
    assert set(cpu) == {s.key for s in pipeline_bench.SCENARIOS if not s.name.startswith("(")}
    assert all(value > 0 for value in cpu.values())
    ratio = cpu["seed_pipeline"] / cpu["whole_graph"]
    assert written["whole_graph_vs_seed_pipeline"] == pytest.approx(ratio, rel=0.01)
    assert written["messages"] == 40
    assert written["command"].startswith("python -m bench.pipeline_bench --count 40")
