"""The CPU per message comes from bench/results/pipeline.json, or a readable error."""

from __future__ import annotations

import json

import pytest

from capacity import measured


def test_it_reads_the_whole_graph_figure_the_benchmark_wrote(tmp_path):
    path = tmp_path / "pipeline.json"
    record = {
        "command": "python -m bench.pipeline_bench --count 10",
        "finished": "2026-01-01T00:00:00+00:00",
        "worker_cpu_us_per_message": {"whole_graph": 250.5, "seed_pipeline": 90.0},
    }
    path.write_text(json.dumps(record))
    got = measured.load(path)
    assert (got.whole_graph_us, got.seed_pipeline_us) == (250.5, 90.0)
    assert got.command.endswith("--count 10")


def test_the_shipped_results_file_is_the_benchmarks_own_output():
    """Written by `make bench-pipeline`, not by hand: it names the command and every scenario."""
    got = measured.load()
    data = json.loads(measured.RESULTS.read_text())
    assert got.command.startswith("python -m bench.pipeline_bench")
    assert {"seed_chain", "seed_pipeline", "whole_graph"} <= data[
        "worker_cpu_us_per_message"
    ].keys()
    ratio = data["worker_cpu_us_per_message"]["seed_pipeline"] / got.whole_graph_us
    assert data["whole_graph_vs_seed_pipeline"] == pytest.approx(ratio, rel=0.01)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist: run `make bench-pipeline` first"),
        ("{", "is not JSON"),
        ('{"worker_cpu_us_per_message": {}}', "has no whole_graph CPU figure"),
        ('{"worker_cpu_us_per_message": {"whole_graph": 0}}', "has no whole_graph CPU figure"),
    ],
)
def test_a_missing_or_broken_file_is_one_readable_line(tmp_path, content, message):
    path = tmp_path / "pipeline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(measured.MeasurementError, match=message):
        measured.load(path)
