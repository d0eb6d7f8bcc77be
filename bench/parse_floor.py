"""Where parse + validate's CPU goes: `ToRowsFn` with its work cut at each stage, in one run.

Each line is the parse scenario of bench/pipeline_bench.py from the worker's memory (Create left
out), `ToRowsFn` calling less and less of `process_message`, against the seed chain on the
same corpus. The best of --repeat runs is kept, in CPU time, which other load barely moves.
Usage (from the repository root):
  python -m bench.parse_floor [--count 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from apache_beam.io.gcp.pubsub import PubsubMessage

from bench import pipeline_bench
from pipeline import messages, rows, transforms

_ROW = {"customer_id": "0"}
Process = Callable[..., messages.Outcome]


def constant(payload: bytes, *args: Any, **kwargs: Any) -> messages.Outcome:
    """Beam's share: the DoFn with two outputs and two counters, one constant row out."""
    return messages.Outcome(rows=[_ROW])


def decode(payload: bytes, *args: Any, **kwargs: Any) -> messages.Outcome:
    """+ the JSON decode of the message's users, their values dropped."""
    with suppress(messages.InvalidMessage):
        for _ in messages.iter_users(payload):
            pass
    return messages.Outcome(rows=[_ROW])


def columns(payload: bytes, *args: Any, **kwargs: Any) -> messages.Outcome:
    """+ each user's columns, checked, without the lineage."""
    built = []
    with suppress(messages.InvalidMessage):
        for _, user in messages.iter_users(payload):
            with suppress(rows.InvalidCustomer):
                built.append(rows.user_columns(user))
    return messages.Outcome(rows=built or [_ROW])


STAGES: list[tuple[str, Process]] = [
    ("ToRowsFn, one constant row", constant),
    ("+ JSON decode (messages.iter_users)", decode),
    ("+ the user's columns (rows.user_columns)", columns),
    ("+ lineage, partition window, size: as shipped", messages.process_message),
]


@contextmanager
def processing(process: Process) -> Iterator[None]:
    """`ToRowsFn` calls `process` instead of `process_message` while inside."""
    shipped = transforms.process_message
    transforms.process_message = process
    try:
        yield
    finally:
        transforms.process_message = shipped


def cpu_us(scenario: Callable, corpus: list[PubsubMessage], repeat: int) -> float:
    runs = (pipeline_bench.run(scenario, corpus, 0, in_worker=True)[1] for _ in range(repeat))
    return min(runs) / len(corpus) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per line; the best is kept")
    args = parser.parse_args()

    clean = pipeline_bench.corpus(args.count, duplicates=0.05, bad=0.0)
    full = pipeline_bench.corpus(args.count, duplicates=0.05, bad=0.02)
    pipeline_bench.run(pipeline_bench.identity, clean[:500], 0)  # warm-up: imports
    print(f"{'CPU us per message, Create left out':<48} {'us/msg':>7} {'x seed':>6}")
    for label, corpus in (("no malformed messages", clean), ("with 2% malformed", full)):
        seed = cpu_us(pipeline_bench.seed_chain, corpus, args.repeat)
        print(f"{f'seed chain ({label})':<48} {seed:>7.1f} {1:>6.2f}", flush=True)
        stages = STAGES if corpus is clean else STAGES[-1:]
        for name, process in stages:
            with processing(process):
                cost = cpu_us(pipeline_bench.parse, corpus, args.repeat)
            print(f"{name:<48} {cost:>7.1f} {seed / cost:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
