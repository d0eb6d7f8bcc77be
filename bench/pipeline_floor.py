"""Where the whole graph's CPU goes against the seed's whole pipeline, and Beam's floor for each
part, in one run (the whole-graph analogue of bench/parse_floor.py).

Each line is a pipeline of bench/pipeline_bench.py's kind, run from the worker's memory (Create
left out) on the same corpus, the best of --repeat runs in CPU time. The lines add one part of
the graph at a time; the Beam floors do the least any pipeline with that part can do:
  - per-customer state: a stateful DoFn that reads and writes one flag per customer_id and
    nothing else (no timer, no counter): what deduplicating by customer costs at the least;
  - the sink: Beam's streaming-insert WriteToBigQuery, as the seed pipeline runs it.
With --profile it also runs the whole graph once under cProfile and sums its own time by where
the code lives: ours, Beam's state and timers, Beam's sink, objsize weighing rows, the rest.
Usage (from the repository root):
  python -m bench.pipeline_floor [--count 10000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections.abc import Callable

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.transforms import userstate

from bench import pipeline_bench
from pipeline import dedupe, sinks

_SEEN = beam.DoFn.StateParam(userstate.ReadModifyWriteStateSpec("seen", BooleanCoder()))


class TouchStateFn(beam.DoFn):
    """Beam's floor for per-customer state: one flag read and written per row, no timer."""

    def process(self, keyed_row, seen=_SEEN):
        seen.read()
        seen.write(True)
        yield keyed_row[1]


def keyed(rows):
    return rows | beam.Map(lambda row: (row["customer_id"], row)).with_output_types(
        tuple[str, dict]
    )


def parse_state_floor(messages):
    rows = pipeline_bench.parse_rows(messages)
    return keyed(rows) | beam.ParDo(TouchStateFn()) | beam.ParDo(pipeline_bench.CountFn("out"))


def parse_dedupe_customers_sink(messages):
    """Everything but the dead-letter sink: parse, dedupe, the customers sink."""
    rows = pipeline_bench.parse_rows(messages) | dedupe.DeduplicateCustomers(
        pipeline_bench.WINDOW_SECONDS
    )
    sinks.WriteCustomers(pipeline_bench._options(), pipeline_bench.AcceptingClient()).expand(rows)


def parse_seed_sink(messages):
    """Our parse, then the seed's sink on our rows: what the graph would cost without dedupe
    and without dead letters."""
    rows = pipeline_bench.parse_rows(messages)
    sinks.WriteCustomers(pipeline_bench._options(), pipeline_bench.AcceptingClient()).expand(rows)


STAGES: list[tuple[str, Callable]] = [
    ("seed chain (decode, json.loads, 8 fields)", pipeline_bench.seed_chain),
    ("seed pipeline: + Beam's sink (the yardstick)", pipeline_bench.seed_pipeline),
    ("parse + validate (ToRowsFn)", pipeline_bench.parse),
    ("parse + Beam's state floor (1 flag per customer)", parse_state_floor),
    ("parse + DeduplicateCustomers (flag + timer)", pipeline_bench.parse_dedupe),
    ("parse + customers sink, no dedupe", parse_seed_sink),
    ("parse + dedupe + customers sink", parse_dedupe_customers_sink),
    ("whole graph: + dead-letter sink, as shipped", pipeline_bench.whole_graph),
]


def cpu_us(scenario: Callable, corpus: list[PubsubMessage], repeat: int) -> float:
    runs = (pipeline_bench.run(scenario, corpus, 0, in_worker=True)[1] for _ in range(repeat))
    return min(runs) / len(corpus) * 1e6


# Where a function's own time is counted, by its file: the first part of the path that matches.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("our code (pipeline/)", ("/pipeline/",)),
    ("Beam's sink (io/gcp/bigquery*)", ("apache_beam/io/gcp/",)),
    ("objsize: the sink weighing each row", ("/objsize/",)),
    (
        "Beam's user state and timers",
        ("transforms/userstate", "worker/statecache", "utils/timestamp", "transforms/timeutil"),
    ),
    ("inspect: Beam's DoFn signature checks", ("/inspect.py",)),
    ("JSON", ("/json/", "_json")),
    ("the rest of Beam (runner, coders, bundles)", ("apache_beam/",)),
]


def area_of(filename: str) -> str:
    default = "other: built-ins, the standard library, threads"
    return next((area for area, parts in AREAS if any(p in filename for p in parts)), default)


def profile(corpus: list[PubsubMessage]) -> dict[str, float]:
    """The whole graph's own time per area, in us per message (one run, under cProfile)."""
    profiler = cProfile.Profile()
    profiler.enable()
    pipeline_bench.run(pipeline_bench.whole_graph, corpus, 0, in_worker=True)
    profiler.disable()
    areas: dict[str, float] = {}
    for (filename, _, _), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        areas[area_of(filename)] = areas.get(area_of(filename), 0.0) + row[2]
    return {area: seconds / len(corpus) * 1e6 for area, seconds in areas.items()}


def report(costs: dict[str, float]) -> None:
    seed_pipeline = costs[STAGES[1][0]]
    print(f"{'CPU us per message, Create left out':<52} {'us/msg':>7} {'seed pipeline / it':>19}")
    for name, cost in costs.items():
        print(f"{name:<52} {cost:>7.1f} {seed_pipeline / cost:>18.2f}x")
    seed_chain, _, parse_us, state_floor, dedupe_us = list(costs.values())[:5]
    sink_us = seed_pipeline - seed_chain
    best = state_floor + sink_us
    print(
        f"\nBeam's state floor adds {state_floor - parse_us:.0f} us to parse, "
        f"DeduplicateCustomers {dedupe_us - parse_us:.0f} us; Beam's sink adds {sink_us:.0f} us "
        f"to the seed chain. Parse + the state floor + one seed-sized sink: {best:.0f} us, "
        f"{seed_pipeline / best:.2f}x the seed pipeline at best."
    )


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per line; the best is kept")
    parser.add_argument("--profile", action="store_true", help="also profile the whole graph")
    args = parser.parse_args()

    corpus = pipeline_bench.corpus(args.count, duplicates=0.05, bad=0.02)
    pipeline_bench.run(pipeline_bench.identity, corpus[:500], 0)  # warm-up: imports
    costs = {}
    for name, scenario in STAGES:
        costs[name] = cpu_us(scenario, corpus, args.repeat)
        print(f"  {name}: {costs[name]:.1f} us", flush=True)
    report(costs)
    if args.profile:
        areas = profile(corpus)
        print("\nwhole graph under cProfile, own time in us per message (profiling inflates it):")
        for area, us in sorted(areas.items(), key=lambda item: -item[1]):
            print(f"  {area:<48} {us:>7.1f}")


if __name__ == "__main__":
    main_()
