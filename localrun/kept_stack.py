"""A stack left up by `make run KEEP=1`: where it listens and which process groups to stop.

Kept in `.run/stack.json` so `python -m localrun --stop` and `python -m localrun.query` find it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time

from localrun.paths import RUN_DIR
from localrun.processes import group_alive
from localrun.resources import StackNames

STACK_FILE = RUN_DIR / "stack.json"


class KeptStackError(RuntimeError):
    """No kept stack where one is needed, or one still up where none may be."""


def save(names: StackNames, pubsub, bigquery, processes) -> None:
    """Remember the running `processes` (ManagedProcess or ContainerEmulator) for --stop."""
    processes = [p for p in processes if p.running()]
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    STACK_FILE.write_text(
        json.dumps(
            {
                "project": names.project,
                "topic": names.topic,
                "subscription": names.subscription,
                "dataset": names.dataset,
                "pubsub_emulator_host": pubsub.address,
                "bigquery_endpoint": bigquery.endpoint,
                "process_groups": {p.name: p.pid for p in processes if hasattr(p, "pid")},
                "containers": [p.container_id for p in processes if hasattr(p, "container_id")],
            },
            indent=2,
        )
    )


def record(kept: dict) -> None:
    """Rewrite the record of a kept stack (`make deploy-local` changes its pipeline)."""
    STACK_FILE.write_text(json.dumps(kept, indent=2))


def load() -> dict:
    try:
        return json.loads(STACK_FILE.read_text())
    except FileNotFoundError:
        raise KeptStackError("no local stack is up: start one with `make run KEEP=1`") from None


def _alive_groups(kept: dict) -> dict[str, int]:
    return {name: pgid for name, pgid in kept["process_groups"].items() if group_alive(pgid)}


def check_nothing_kept() -> None:
    if STACK_FILE.exists() and _alive_groups(load()):
        raise KeptStackError(
            "a stack started with KEEP=1 is still up: stop it first with "
            "`.venv/bin/python -m localrun --stop`"
        )


def stop_kept(timeout: float = 10.0) -> int:
    """SIGTERM every kept process group, SIGKILL what outlives `timeout`; forget the stack."""
    kept = load()
    groups = _alive_groups(kept)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(group_alive(g) for g in groups.values()):
            time.sleep(0.1)
        groups = {name: g for name, g in groups.items() if group_alive(g)}
        if not groups:
            break
    for container in kept.get("containers", []):
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    STACK_FILE.unlink(missing_ok=True)
    print(f"stopped the local stack ({', '.join(kept['process_groups'])})")
    return 0


def names(kept: dict) -> StackNames:
    return StackNames(kept["project"], kept["topic"], kept["subscription"], kept["dataset"])


# `python -m localrun.query` replaces {customers}, {customers_dlq}, {customers_dlq_replays} and
# {<view>} (views/*.sql) with the kept tables and views.
EXAMPLE_QUERIES = (
    "SELECT country, COUNT(*) AS n FROM {customers} GROUP BY country ORDER BY n DESC",
    "SELECT stage, errorMessage FROM {customers_dlq}",
    "SELECT age_band, gender, COUNT(*) AS n FROM {customer_segments} GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT * FROM {new_customers_daily} ORDER BY signup_date DESC, new_customers DESC LIMIT 5",
)


def query_help() -> str:
    return "Query the tables while a stack is up (make run KEEP=1):\n" + "\n".join(
        f"  .venv/bin/python -m localrun.query '{sql}'" for sql in EXAMPLE_QUERIES
    )


def connect_help(names: StackNames, pubsub_address: str, bigquery_endpoint: str) -> str:
    return f"""
The stack is still up (KEEP=1). Connect with:
  export PUBSUB_EMULATOR_HOST={pubsub_address}
  BigQuery emulator: {bigquery_endpoint} (project {names.project}, dataset {names.dataset})
Publish more customers (the pipeline is still running):
  PUBSUB_EMULATOR_HOST={pubsub_address} .venv/bin/python -m producer --source fake \\
      --topic {names.topic_path} --count 100 --rate 20
{query_help()}
Replay dead letters once their cause is fixed (a dry run; add --execute to publish):
  make replay ARGS='--stage validate'
Erase a customer everywhere (a dry run; add ARGS=--execute to delete):
  make forget CUSTOMER=<customer_id>
Ship a change into the running stack (docs/operate.md, "Changing the pipeline", "Add a column"):
  make deploy-local [TREE=<checkout>]    drain the pipeline, then start this tree's
  make tables-local [TREE=<checkout>]    add the tree's new NULLABLE columns to the tables
Stop it (make stop does the same):
  .venv/bin/python -m localrun --stop"""
