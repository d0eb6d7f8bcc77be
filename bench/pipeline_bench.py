"""Messages per second through the pipeline's steps, against a seed-style chain, in one run.

  identity      source -> count: what Beam itself costs per element (the floor)
  seed chain    decode -> json.loads -> 8-field dict, no validation: the baseline (1.00)
  seed pipeline the seed chain, then Beam's streaming-insert WriteToBigQuery: what the seed
                project's whole pipeline runs after the read (the yardstick of the whole graph)
  parse         our ToRowsFn step (parse + validate + row, dead letters tagged)
  dedupe        ToRowsFn -> DeduplicateCustomers
  whole graph   everything `python -m pipeline` runs after the Pub/Sub read: parse, dedupe,
                both sinks' row conversion, batching and retries; only the BigQuery API call is
                replaced by a client that accepts every row
  (references)  Beam's DeduplicatePerKey in place of ours; the SDK's 100 MB state cache on

Every scenario runs on the FnApiRunner (batch, one worker: elements are encoded between fused
stages, as on Dataflow) over the same corpus: the real API responses in tests/data/randomuser
(every nationality), each user a message with a unique id, plus a fixed share of redelivered
copies and of the malformed messages in tests/data/bad_messages. The transforms are imported
from the pipeline package, so the benchmark measures whatever the code holds when it runs.
Each scenario runs from `beam.Create`, as a plain harness would, and again from the worker's memory
(bench/worker_source.py), which leaves out what Create costs per message.
Every run writes its figures to bench/results/pipeline.json (`--output`), which
`make capacity` reads for the CPU a message costs.
Usage (from the repository root):
  python -m bench.pipeline_bench [--count 20000] [--duplicates 0.05] [--bad 0.02] [--output F]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, worker_handlers
from apache_beam.transforms.deduplicate import DeduplicatePerKey
from apache_beam.utils.timestamp import Duration

import contract
from bench import worker_source
from pipeline import dedupe, main, transforms
from pipeline.options import CustomerPipelineOptions

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
RESULTS = ROOT / "bench" / "results" / "pipeline.json"
PUBLISHED = datetime(2026, 1, 1, tzinfo=UTC)
NAMESPACE = "bench"
WINDOW_SECONDS = 600


def corpus(count: int, duplicates: float, bad: float, seed: int = 10) -> list[PubsubMessage]:
    """`count` messages: unique users cycling through every fixture, then copies and bad ones."""
    users = [
        user
        # The real API responses (NN_api_*.json), not the built_* fixtures of older versions
        for path in sorted((DATA / "randomuser").glob("[0-9][0-9]_api_*.json"))
        for user in json.loads(path.read_bytes()).get("results", [])
    ]
    rng = random.Random(seed)
    n_dup, n_bad = int(count * duplicates), int(count * bad)
    messages = []
    for n in range(count - n_dup - n_bad):
        user = contract.strip_credentials(users[n % len(users)])
        user["login"] = {**user["login"], "uuid": str(uuid.UUID(int=rng.getrandbits(128)))}
        data = json.dumps(user, separators=(",", ":"), ensure_ascii=False).encode()
        attributes = contract.attributes_for(user, "file")
        messages.append(PubsubMessage(data, attributes, f"m{n}", PUBLISHED))
    for n in range(n_dup):  # redeliveries and republishes: same payload, new message id
        copy = messages[rng.randrange(len(messages))]
        messages.append(PubsubMessage(copy.data, copy.attributes, f"d{n}", PUBLISHED))
    bad_payloads = [
        payload
        for path in sorted((DATA / "bad_messages").glob("*-*.*"))
        if _seed_survives(payload := path.read_bytes())
    ]
    for n in range(n_bad):
        payload = bad_payloads[n % len(bad_payloads)]
        messages.append(PubsubMessage(payload, {"source": "file"}, f"b{n}", PUBLISHED))
    rng.shuffle(messages)
    return messages


def _seed_survives(payload: bytes) -> bool:
    """False for a user whose text UTF-8 cannot encode (a lone surrogate): the seed chain would
    pass it on, and Beam fails the bundle when it encodes the row to sample its size."""
    row = seed_row(PubsubMessage(payload, {}))
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class CountFn(beam.DoFn):
    """The sink of the step scenarios: counts what reaches it, keeps nothing."""

    def __init__(self, name: str):
        self._counter = Metrics.counter(NAMESPACE, name)

    def process(self, element: Any):
        self._counter.inc()
        yield from ()


def seed_row(message: PubsubMessage) -> dict[str, Any] | None:
    """The seed project's whole transform: decode, json.loads, pick 8 fields, no validation."""
    try:
        user = json.loads(message.data.decode("utf-8"))
        return {
            "uuid": user["login"]["uuid"],
            "first": user["name"]["first"],
            "last": user["name"]["last"],
            "email": user["email"],
            "country": user["location"]["country"],
            "city": user["location"]["city"],
            "nat": user["nat"],
            "registered": user["registered"]["date"],
        }
    except Exception:  # the seed dropped what it could not read
        return None


class AcceptingClient:
    """Stands in for the BigQuery API call only: every row is accepted, nothing is kept."""

    def insert_rows_json(self, table: Any, json_rows: Any, **kwargs: Any) -> list:
        return []


class CountingAcceptingClient(AcceptingClient):
    """The same client, counting the rows it is handed (the seed pipeline has no counter)."""

    def insert_rows_json(self, table: Any, json_rows: Any, **kwargs: Any) -> list:
        Metrics.counter(NAMESPACE, "out").inc(len(json_rows))
        return []


# The seed's table: its 8 fields, all strings (the seed wrote what json.loads gave).
SEED_SCHEMA = ",".join(
    f"{field}:STRING"
    for field in ("uuid", "first", "last", "email", "country", "city", "nat", "registered")
)


def _options() -> CustomerPipelineOptions:
    return PipelineOptions(
        [
            "--output_table=bench-project:bench.customers",
            "--dlq_table=bench-project:bench.customers_dlq",
            "--create_disposition=CREATE_NEVER",
        ]
    ).view_as(CustomerPipelineOptions)


class BeamDeduplicate(beam.PTransform):
    """The previous design, for reference: Beam's DeduplicatePerKey keyed by customer_id."""

    def __init__(self, window_seconds: int):
        super().__init__()
        self._window = Duration(seconds=window_seconds)

    def expand(self, rows):
        return (
            rows
            | beam.Map(lambda row: (row["customer_id"], row))
            | DeduplicatePerKey(processing_time_duration=self._window)
            | beam.Values()
        )


def identity(messages):
    return messages | beam.Map(lambda message: message) | beam.ParDo(CountFn("out"))


def seed_chain(messages):
    return messages | beam.Map(seed_row) | beam.ParDo(CountFn("out"))


def seed_pipeline(messages):
    """The seed's whole pipeline after the read: its rows into Beam's streaming-insert sink,
    configured as a plain user would (no dead letters, Beam's default retries)."""
    return (
        messages
        | beam.FlatMap(lambda message: [row] if (row := seed_row(message)) else [])
        | WriteToBigQuery(
            table="bench-project:bench.seed_customers",
            schema=SEED_SCHEMA,
            create_disposition=BigQueryDisposition.CREATE_NEVER,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            method=WriteToBigQuery.Method.STREAMING_INSERTS,
            test_client=CountingAcceptingClient(),
        )
    )


def parse(messages):
    """Each output counted where it lands: a Flatten of the two would add 13-25 us a message
    (measured) that the pipeline never pays."""
    parsed = messages | beam.ParDo(transforms.ToRowsFn()).with_outputs(
        transforms.DEAD_LETTER, main="rows"
    )
    parsed.rows | "CountRows" >> beam.ParDo(CountFn("out"))
    parsed[transforms.DEAD_LETTER] | "CountDeadLetters" >> beam.ParDo(CountFn("out"))


def parse_rows(messages):
    return (
        messages
        | beam.ParDo(transforms.ToRowsFn()).with_outputs(transforms.DEAD_LETTER, main="rows")
    ).rows


def parse_dedupe(messages):
    return (
        parse_rows(messages)
        | dedupe.DeduplicateCustomers(WINDOW_SECONDS)
        | beam.ParDo(CountFn("out"))
    )


def parse_beam_dedupe(messages):
    return parse_rows(messages) | BeamDeduplicate(WINDOW_SECONDS) | beam.ParDo(CountFn("out"))


def whole_graph(messages):
    main.ingest(messages, _options(), test_client=AcceptingClient())


# The SDK harness's user-state cache, in MB. Dataflow's harness (sdk_worker_main) sizes it from
# --max_cache_memory_usage_mb, 0 (off) by default in Beam 2.77; the FnApiRunner's embedded
# worker ignores the option and always caches 100 MB (worker_handlers.STATE_CACHE_SIZE_MB),
# and every cache put weighs the value with objsize, which walks every loaded module's
# globals: that weighing, not the state itself, was the 5x cost of deduplication here.
HARNESS_CACHE_MB = PipelineOptions([]).view_as(WorkerOptions).max_cache_memory_usage_mb
EMBEDDED_CACHE_MB = worker_handlers.STATE_CACHE_SIZE_MB


class Scenario(NamedTuple):
    """`key` names the scenario in the results file; a `name` in brackets is a reference."""

    key: str
    name: str
    build: Callable
    cache_mb: int


SCENARIOS: list[Scenario] = [
    Scenario("identity", "identity (Beam's floor)", identity, HARNESS_CACHE_MB),
    Scenario(
        "seed_chain", "seed chain: decode, json.loads, 8 fields", seed_chain, HARNESS_CACHE_MB
    ),
    Scenario(
        "seed_pipeline", "seed pipeline: seed chain + Beam's sink", seed_pipeline, HARNESS_CACHE_MB
    ),
    Scenario("parse", "parse + validate (ToRowsFn)", parse, HARNESS_CACHE_MB),
    Scenario(
        "parse_dedupe", "parse + dedupe (DeduplicateCustomers)", parse_dedupe, HARNESS_CACHE_MB
    ),
    Scenario("whole_graph", "whole graph (dedupe, both sinks)", whole_graph, HARNESS_CACHE_MB),
    Scenario(
        "beam_dedupe", "(parse + Beam's DeduplicatePerKey)", parse_beam_dedupe, HARNESS_CACHE_MB
    ),
    Scenario(
        "parse_dedupe_cached",
        "(parse + dedupe, 100 MB state cache)",
        parse_dedupe,
        EMBEDDED_CACHE_MB,
    ),
    Scenario(
        "whole_graph_cached", "(whole graph, 100 MB state cache)", whole_graph, EMBEDDED_CACHE_MB
    ),
]


def run(
    scenario: Callable, messages: list[PubsubMessage], cache_mb: int, *, in_worker: bool = False
) -> tuple[float, float, dict[str, int]]:
    """Wall and CPU seconds from submitting the pipeline to its end, and its counters.

    The messages come from `beam.Create`, as in a plain harness, or, `in_worker`, straight
    from the worker's memory (bench/worker_source.py), which leaves out Create's cost.
    """
    worker_handlers.STATE_CACHE_SIZE_MB = cache_mb
    pipeline = beam.Pipeline(
        runner=FnApiRunner(), options=PipelineOptions([], direct_num_workers=1)
    )
    if in_worker:
        worker_source.CORPORA["bench"] = messages
        source = pipeline | beam.Impulse() | beam.FlatMap(worker_source.elements, "bench")
    else:
        source = pipeline | beam.Create(messages, reshuffle=False)
    scenario(source)
    start, start_cpu = time.perf_counter(), time.process_time()
    result = pipeline.run()
    result.wait_until_finish()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    counters = result.metrics().query(MetricsFilter())["counters"]
    totals: dict[str, int] = {}
    for counter in counters:  # one per step: the parse scenario counts in two
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    return elapsed, cpu, totals


class Measured(NamedTuple):
    """One scenario's run from Create (wall and CPU seconds) and from the worker's memory."""

    scenario: Scenario
    wall: float
    cpu: float
    worker_cpu: float


def measure(messages: list[PubsubMessage], references: bool = True) -> list[Measured]:
    """Every scenario, from Create and from the worker's memory, one after the other."""
    run(identity, messages[:500], HARNESS_CACHE_MB)  # warm-up: the first pipeline pays imports
    results = []
    for scenario in SCENARIOS:
        if not references and scenario.name.startswith("("):
            continue
        wall, cpu, counters = run(scenario.build, messages, scenario.cache_mb)
        _, worker_cpu, _ = run(scenario.build, messages, scenario.cache_mb, in_worker=True)
        results.append(Measured(scenario, wall, cpu, worker_cpu))
        print(f"  {scenario.name}: {wall:.1f}s, counters {counters}", flush=True)
    return results


def by_key(results: list[Measured]) -> dict[str, Measured]:
    return {result.scenario.key: result for result in results}


def print_table(results: list[Measured], n: int) -> None:
    seed = by_key(results)["seed_chain"]
    print(
        f"\n{'':<42} {'from beam.Create':^33} | {'Create left out':^16}"
        f"\n{'scenario':<42} {'msg/s':>7} {'x seed':>6} {'msg/CPU-s':>9} {'x seed':>6} |"
        f" {'CPU us/msg':>10} {'x seed':>6}"
    )
    for result in results:
        print(
            f"{result.scenario.name:<42} {n / result.wall:>7,.0f} {seed.wall / result.wall:>6.2f} "
            f"{n / result.cpu:>9,.0f} {seed.cpu / result.cpu:>6.2f} | "
            f"{result.worker_cpu / n * 1e6:>10,.0f} {seed.worker_cpu / result.worker_cpu:>6.2f}"
        )
    print(
        f"(FnApiRunner, batch, 1 worker, {os.cpu_count()} cores. msg/s is wall time; msg/CPU-s "
        "counts only this process's CPU, steadier on a shared machine. Create pickles and "
        "compresses the corpus into the pipeline at submission, a cost per message the same in "
        "every scenario; the last two columns leave it out (bench/worker_source.py). Compare "
        "ratios.)"
    )
    keyed = by_key(results)
    whole, seed_pipeline = keyed["whole_graph"], keyed["seed_pipeline"]
    print(
        f"\nwhole graph vs the seed's whole pipeline, from the worker's memory: "
        f"{seed_pipeline.worker_cpu / whole.worker_cpu:.2f}x its messages per CPU-second "
        f"({n / whole.worker_cpu:,.0f} against {n / seed_pipeline.worker_cpu:,.0f} msg/CPU-s)"
    )


def record(results: list[Measured], n: int, args: argparse.Namespace, load: tuple) -> dict:
    """The run as the results file holds it: what `make capacity` and the docs read."""
    keyed = by_key(results)
    return {
        "command": "python -m bench.pipeline_bench "
        f"--count {args.count} --duplicates {args.duplicates} --bad {args.bad}",
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average": {"start": load[0], "end": os.getloadavg()[0]},
        "messages": n,
        "worker_cpu_us_per_message": {
            key: round(result.worker_cpu / n * 1e6, 2) for key, result in keyed.items()
        },
        "whole_graph_vs_seed_pipeline": round(
            keyed["seed_pipeline"].worker_cpu / keyed["whole_graph"].worker_cpu, 3
        ),
    }


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages per scenario")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of copies")
    parser.add_argument("--bad", type=float, default=0.02, help="share of malformed messages")
    parser.add_argument("--no-reference", action="store_true", help="skip the (...) scenarios")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (JSON)")
    args = parser.parse_args()

    load = os.getloadavg()
    messages = corpus(args.count, args.duplicates, args.bad)
    n = len(messages)
    print(f"{n} messages: {args.duplicates:.0%} copies, {args.bad:.0%} malformed", flush=True)
    results = measure(messages, references=not args.no_reference)
    print_table(results, n)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record(results, n, args, load), indent=2) + "\n")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main_()
