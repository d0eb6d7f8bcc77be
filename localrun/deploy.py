"""`make drain-local` and `make deploy-local`: drain the kept stack's pipeline; start a version
of the pipeline in its place, on the same subscription. `make tables-local`: give the kept
stack's tables the columns of a version's schema files, in place.

The local twin of `make deploy STRATEGY=replace`: the direct runner cannot take an in-place
update, so a local deploy is always drain, wait until drained, start. The old pipeline stops
pulling, writes and acknowledges everything it pulled, and exits (localrun/drain.py); what is
published meanwhile waits in the subscription and the new one reads it. Never two pipelines on
one subscription: the new one starts only after the old one's process group is gone.

    python -m localrun.deploy --drain-only          # make drain-local
    python -m localrun.deploy [--tree PATH]         # make deploy-local [TREE=path]
    python -m localrun.deploy --tables [--tree PATH] # make tables-local [TREE=path]

`make tables-local` is the local twin of `make infra`'s table update (docs/operate.md, "Add a
column"): a new NULLABLE column is appended and every row kept; BigQuery (and the emulator, as
localrun/bigquery_emulator.py makes it) refuses what cannot change in place.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from google.api_core import exceptions

from localrun import kept_stack
from localrun.drain import DRAINED
from localrun.paths import ROOT, RUN_DIR
from localrun.processes import group_alive
from localrun.resources import update_tables
from localrun.stack import start_pipeline
from pipeline import bigquery_client
from pipeline.tables import TABLES

# A drain takes one pull (up to 100 messages through the graph) plus one idle pull's wait.
DRAIN_TIMEOUT = 180.0
PIPELINE = "pipeline"


class DrainError(RuntimeError):
    """The pipeline did not drain: it is still running, or exited without draining."""


def drain_group(pgid: int, log_path: Path, timeout: float = DRAIN_TIMEOUT) -> float:
    """SIGTERM the pipeline's process group and wait until it has drained; seconds it took."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    while group_alive(pgid):
        if time.monotonic() - started > timeout:
            raise DrainError(
                f"the pipeline (process group {pgid}) has not drained after {timeout:.0f}s; "
                f"it is still running (see {log_path}); stop it with `make stop`"
            )
        time.sleep(0.2)
    with log_path.open(encoding="utf-8", errors="replace") as log:
        log.seek(offset)
        if DRAINED not in log.read():
            raise DrainError(f"the pipeline exited without draining: see {log_path}")
    return time.monotonic() - started


def describe(tree: Path) -> str:
    """The tree's commit, and whether it has changes not committed."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(tree), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "no git commit"
    dirty = git("status", "--porcelain")
    return f"{tree} ({commit}{', with uncommitted changes' if dirty else ''})"


def drain_kept(kept: dict) -> None:
    pgid = kept["process_groups"].get(PIPELINE)
    if pgid is None or not group_alive(pgid):
        print("no local pipeline is running: nothing to drain")
        return
    print(f"draining the local pipeline (process group {pgid}) ...", flush=True)
    took = drain_group(pgid, RUN_DIR / "logs" / "pipeline.log")
    print(
        f"drained in {took:.1f}s: every message it pulled is written and acknowledged; "
        f"what is published now waits in {kept['subscription']}"
    )


def deploy(kept: dict, tree: Path) -> None:
    """Drain the running pipeline, then start the one of `tree` on the same subscription."""
    drain_kept(kept)
    names = kept_stack.names(kept)
    pipeline = start_pipeline(
        names,
        kept["pubsub_emulator_host"],
        kept["bigquery_endpoint"],
        RUN_DIR / "logs",
        tree=tree,
    )
    kept["process_groups"][PIPELINE] = pipeline.pid
    kept_stack.record(kept)
    print(
        f"deployed {describe(tree)} as the local pipeline (process group {pipeline.pid}) "
        f"on {names.subscription_path}; log: {pipeline.log_path}"
    )


def tree_tables(tree: Path) -> list[dict]:
    """The table resources of `tree`'s schema files (pipeline/schemas/<table>.json)."""
    schemas = tree / "pipeline" / "schemas"
    return [
        json.loads((schemas / f"{table['tableReference']['tableId']}.json").read_text("utf-8"))
        for table in TABLES
    ]


def update_kept_tables(kept: dict, tree: Path) -> None:
    """Give the kept stack's tables the columns of `tree`'s schema files, in place."""
    names = kept_stack.names(kept)
    client = bigquery_client.client(names.project, kept["bigquery_endpoint"])
    added = update_tables(client, names, tree_tables(tree))
    print(
        f"tables of {describe(tree)}: "
        + (f"added {', '.join(added)} in place, every row kept" if added else "nothing to change")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localrun.deploy", description=__doc__)
    parser.add_argument("--drain-only", action="store_true", help="drain, start nothing")
    parser.add_argument(
        "--tables", action="store_true", help="give the tables the tree's columns, in place"
    )
    parser.add_argument("--tree", type=Path, default=ROOT, help="the source tree to deploy")
    args = parser.parse_args(argv)
    try:
        kept = kept_stack.load()
        if args.tables:
            update_kept_tables(kept, args.tree.resolve())
        elif args.drain_only:
            drain_kept(kept)
            kept["process_groups"].pop(PIPELINE, None)
            kept_stack.record(kept)
        else:
            deploy(kept, args.tree.resolve())
    except (kept_stack.KeptStackError, DrainError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except exceptions.GoogleAPICallError as error:
        print(f"error: BigQuery refused the change: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
