"""`make run`: the whole flow on local emulators, then a summary; everything stopped at the end.

python -m localrun --count 500 --source fake [--keep] [--timeout S]
python -m localrun --stop        # stop a stack left up with --keep
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from contract import SOURCES
from localrun import kept_stack
from localrun.bad_messages import bad_messages
from localrun.emulators import (
    OFFLINE_AUTH_ENV,
    EmulatorError,
    port_is_bound,
    start_bigquery_emulator,
    start_pubsub_emulator,
)
from localrun.paths import LOG_DIR, RUN_DIR
from localrun.processes import group_alive
from localrun.resources import StackNames, create_bigquery, create_pubsub
from localrun.stack import (
    Counts,
    StackError,
    failed_pulls,
    follow,
    publish,
    start_pipeline,
    start_producer,
    wait_for,
)
from localrun.summary import built_times, collect, pace, render, render_pace
from pipeline import bigquery_client
from producer.config import ConfigError, require_input

# How often the row counts are polled: it bounds the throughput figure's error.
WAIT_INTERVAL = 0.5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localrun",
        description="Run producer -> Pub/Sub emulator -> pipeline -> BigQuery emulator locally.",
    )
    parser.add_argument("--count", type=int, default=500, help="customers to publish (500)")
    parser.add_argument("--source", choices=SOURCES, default="fake", help="producer source")
    parser.add_argument("--input", help="--source file: JSON lines of users or an API response")
    parser.add_argument("--rate", type=float, default=0, help="customers/s; 0 = at once (0)")
    parser.add_argument("--bad", type=int, default=8, help="malformed messages to publish (8)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for every row (auto)")
    parser.add_argument("--keep", action="store_true", help="leave the stack up afterwards")
    parser.add_argument("--stop", action="store_true", help="stop a stack left up by --keep")
    return parser


class Progress:
    """Timestamped steps, so a newcomer sees where the time goes."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self._last_counts: tuple[Counts, float] | None = None

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {message}", flush=True)

    def counts(self, expected: Counts | None):
        def show(now: Counts) -> None:
            last = self._last_counts
            if last and (last[0] == now or time.monotonic() - last[1] < 3):
                return
            self._last_counts = (now, time.monotonic())
            total = f"/{expected.rows}" if expected else ""
            dead = f"/{expected.dead_letters}" if expected else ""
            self.say(f"  {now.rows}{total} rows, {now.dead_letters}{dead} dead letters")

        return show


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _published_customers(record: Path) -> int:
    """Distinct customer ids the producer published (it appends each user to `record`)."""
    ids = set()
    with record.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                ids.add(json.loads(line).get("login", {}).get("uuid"))
    return len(ids)


def _start_services(names: StackNames, out: Progress, started: list):
    """Both emulators, then topic, subscription, dataset and tables."""
    out.say("starting the Pub/Sub emulator and the BigQuery emulator")
    pubsub = start_pubsub_emulator(LOG_DIR)
    started.append(pubsub)
    out.say(f"Pub/Sub emulator on {pubsub.address}")
    bigquery = start_bigquery_emulator(LOG_DIR, project=names.project)
    started.append(bigquery)
    out.say(f"BigQuery emulator on {bigquery.endpoint}")
    os.environ.update(OFFLINE_AUTH_ENV, PUBSUB_EMULATOR_HOST=pubsub.address)
    create_pubsub(names)
    client = bigquery_client.client(names.project, bigquery.endpoint)
    create_bigquery(client, names)
    out.say(
        f"created {names.topic_path}, {names.subscription_path}, "
        f"{names.customers}, {names.customers_dlq}, {names.customers_dlq_replays}"
    )
    return pubsub, bigquery, client


def _produce(args, names: StackNames, out: Progress, started: list, *, pubsub, client, pipeline):
    """Producer subprocess plus the malformed messages; what the tables should end up holding."""
    record = RUN_DIR / "published.jsonl"
    record.unlink(missing_ok=True)
    extra = [f"--rate={args.rate}", f"--record={record}"]
    if args.input:
        extra.append(f"--input={args.input}")
    producer = start_producer(names, pubsub.address, LOG_DIR, args.count, args.source, *extra)
    started.append(producer)
    out.say(f"producer publishing {args.count} customers from '{args.source}'")
    publish(names.topic_path, bad_messages(args.bad))
    out.say(f"published {args.bad} malformed messages for the dead-letter table")
    polled = follow(
        producer,
        client,
        names,
        watch=[pipeline],
        progress=out.counts(None),
        interval=WAIT_INTERVAL,
    )
    if polled != 0:
        raise StackError(
            f"the producer exited with code {producer.process.returncode}; "
            f"last lines of {producer.log_path}:\n{producer.log_tail()}"
        )
    return Counts(_published_customers(record), args.bad)


def run(args: argparse.Namespace) -> int:
    names = StackNames()
    out = Progress()
    started: list = []
    keep_up = False
    kept_stack.check_nothing_kept()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old_log in LOG_DIR.glob("*.log"):  # this run's logs only
        old_log.unlink()
    try:
        pubsub, bigquery, client = _start_services(names, out, started)
        pipeline = start_pipeline(names, pubsub.address, bigquery.endpoint, LOG_DIR)
        started.append(pipeline)
        out.say(f"pipeline started on Beam's direct runner (log: {pipeline.log_path})")
        first_publish = time.monotonic()
        expected = _produce(
            args, names, out, started, pubsub=pubsub, client=client, pipeline=pipeline
        )
        out.say(f"producer done: {expected.rows} customers published; waiting for the pipeline")
        timeout = args.timeout or 60 + expected.rows / 10
        wait_for(
            client,
            names,
            expected,
            timeout,
            watch=[pipeline],
            progress=out.counts(expected),
            interval=WAIT_INTERVAL,
        )
        seconds = time.monotonic() - first_publish
        out.say("every message is a row or a dead letter")
        print(render(collect(client, names), unread_pulls=failed_pulls(pipeline)), flush=True)
        print(
            f"  throughput:    {expected.rows / seconds:.0f} rows/s ({expected.rows} rows in "
            f"{seconds:.1f}s, from the first publish to the last row in BigQuery)",
            flush=True,
        )
        run_pace = pace(built_times(client, names))
        if run_pace:
            print(render_pace(run_pace), flush=True)
        if args.keep:
            kept_stack.save(names, pubsub, bigquery, started)
            keep_up = True
            print(kept_stack.connect_help(names, pubsub.address, bigquery.endpoint), flush=True)
        else:
            print(kept_stack.query_help(), flush=True)
        return 0
    finally:
        if not keep_up:
            _stop_all(started, out)


def _stop_all(started, out: Progress) -> None:
    for process in reversed(started):
        process.stop()
    leftovers = [p.name for p in started if hasattr(p, "pid") and group_alive(p.pid)]
    leftovers += [f"port {p.port}" for p in started if hasattr(p, "port") and port_is_bound(p.port)]
    if leftovers:
        out.say(f"WARNING: still running after stop: {', '.join(leftovers)}")
    else:
        out.say(f"stopped {len(started)} processes; no port left bound")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.count < 0 or args.bad < 0:
        sys.exit("python -m localrun: error: --count and --bad must be >= 0")
    try:
        require_input(args.source, args.input)
    except ConfigError as error:
        sys.exit(f"python -m localrun: error: {error}")
    if args.stop:
        return kept_stack.stop_kept()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args)
    except (EmulatorError, StackError, kept_stack.KeptStackError) as error:
        print(f"make run: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("make run: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
