"""Each pipeline-floor stage reads every message and puts out what it claims (never timings)."""

from __future__ import annotations

import pytest

from bench import pipeline_bench, pipeline_floor

pytestmark = pytest.mark.timeout(300)

COUNT = 60  # 3 copies and 1 malformed message at the default shares


@pytest.fixture(scope="module")
def messages():
    return pipeline_bench.corpus(COUNT, duplicates=0.05, bad=0.02)


def test_the_state_floor_keeps_every_row_and_touches_state_per_customer(messages):
    """Beam's floor drops nothing (it only reads and writes the flag): every row built is out."""
    _, _, counters = pipeline_bench.run(
        pipeline_floor.parse_state_floor, messages, 0, in_worker=True
    )
    assert counters["messages_read"] == COUNT
    assert counters["out"] == counters["rows_built"] == COUNT - 1


@pytest.mark.parametrize(
    ("builds", "sent"),
    [
        (pipeline_floor.parse_seed_sink, COUNT - 1),
        (pipeline_floor.parse_dedupe_customers_sink, COUNT - 4),
    ],
    ids=["no dedupe", "dedupe"],
)
def test_the_sink_stages_send_every_row_or_every_unique_row(messages, builds, sent):
    _, _, counters = pipeline_bench.run(builds, messages, 0, in_worker=True)
    assert counters["rows_sent_to_bigquery"] == sent


def test_every_stage_is_a_scenario_run_on_the_same_corpus(messages):
    assert [name for name, _ in pipeline_floor.STAGES][1].startswith("seed pipeline")
    assert pipeline_floor.STAGES[-1][1] is pipeline_bench.whole_graph
    assert pipeline_floor.cpu_us(pipeline_bench.identity, messages, 1) > 0


def test_the_report_names_each_floor_and_the_best_ratio(capsys):
    costs = dict(
        zip(
            [name for name, _ in pipeline_floor.STAGES],
            [10, 50, 30, 40, 60, 70, 80, 90],
            strict=True,
        )
    )
    pipeline_floor.report(costs)
    out = capsys.readouterr().out
    # state floor 40 + the seed's sink (50 - 10) = 80 us; 50 / 80 = 0.62x
    assert "Beam's state floor adds 10 us to parse, DeduplicateCustomers 30 us" in out
    assert "Parse + the state floor + one seed-sized sink: 80 us, 0.62x" in out


@pytest.mark.parametrize(
    ("filename", "area"),
    [
        ("/repo/pipeline/rows.py", "our code (pipeline/)"),
        ("/v/site-packages/apache_beam/io/gcp/bigquery.py", "Beam's sink (io/gcp/bigquery*)"),
        ("/v/site-packages/objsize/traverse.py", "objsize: the sink weighing each row"),
        ("/v/site-packages/apache_beam/transforms/userstate.py", "Beam's user state and timers"),
        (
            "/v/site-packages/apache_beam/coders/coders.py",
            "the rest of Beam (runner, coders, bundles)",
        ),
        ("~", "other: built-ins, the standard library, threads"),
    ],
)
def test_profile_areas_are_told_by_the_file(filename, area):
    assert pipeline_floor.area_of(filename) == area


def test_the_profile_sums_the_whole_graphs_time_per_message_by_area(messages):
    areas = pipeline_floor.profile(messages)
    assert areas["our code (pipeline/)"] > 0
    assert areas["Beam's user state and timers"] > 0
    assert sum(areas.values()) > areas["our code (pipeline/)"]
