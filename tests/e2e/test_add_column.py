"""docs/operate.md "Add a column", under traffic and in flight.

Under traffic, as a user types it: `make run KEEP=1`, a producer publishing at a steady rate the
whole time, `make tables-local TREE=<version B>` (the column added to the kept stack's table in
place, as `make infra` does in the cloud), `make deploy-local TREE=<version B>` (this tree with
the column in its schema file and filled by the row builder), then `make deploy-local` back to
this tree. Every customer the
producer published is exactly one row or one dead letter across both switches.

In flight, each way round: the table has the column and the job does not (its rows land, the
column NULL); the job has it and the table does not (BigQuery refuses each row, `no such field`:
write dead letters, which `make replay`'s command inserts once the table has the column).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e_support import fake_messages, make

from localrun import kept_stack
from localrun.resources import update_tables
from localrun.stack import (
    Counts,
    child_env,
    counts,
    publish,
    start_pipeline,
    start_producer,
    wait_for,
)
from pipeline import bigquery_client
from pipeline.tables import CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS
from tests import bigquery_rules
from tests.support import ROOT

pytestmark = pytest.mark.timeout(420)

# Version B: one NULLABLE column at the end of `customers`, filled from the user's picture.
COLUMN = "picture_thumbnail"
FIELD = {
    "name": COLUMN,
    "type": "STRING",
    "mode": "NULLABLE",
    "description": "picture.thumbnail: the portrait's smallest URL",
}
ENTRY = {"class": "direct", "masking": "ALWAYS_NULL", "why": "a photograph of the person"}
# Step 1's text edits: (file, the line after which, the line added).
EDITS = (
    (
        "pipeline/rows.py",
        '    _column("picture_url", "picture.large"),\n',
        f'    _column("{COLUMN}", "picture.thumbnail"),\n',
    ),
    (
        "docs/privacy.md",
        "| customers | picture_url | direct | ALWAYS_NULL | a photograph of the person |\n",
        f"| customers | {COLUMN} | direct | ALWAYS_NULL | a photograph of the person |\n",
    ),
)
RATE = 10  # customers per second, all the while
PER_PHASE = 25  # rows each version writes before the next step


def version_b(tmp_path: Path) -> Path:
    """This working tree (what git tracks or would), with step 1 done: the column appended to
    the schema file, classified (classification.json, docs/privacy.md), filled by the rows."""
    tree = tmp_path / "version-b"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    schema = tree / "pipeline" / "schemas" / "customers.json"
    table = json.loads(schema.read_text())
    table["schema"]["fields"].append(FIELD)
    schema.write_text(json.dumps(table, indent=2) + "\n")
    classes = tree / "pipeline" / "schemas" / "classification.json"
    classified = json.loads(classes.read_text())
    classified["tables"]["customers"][COLUMN] = ENTRY
    classes.write_text(json.dumps(classified, indent=2) + "\n")
    for name, anchor, added in EDITS:
        text = (tree / name).read_text()
        assert text.count(anchor) == 1, f"{name} changed: update EDITS"
        (tree / name).write_text(text.replace(anchor, anchor + added))
    return tree


def test_version_b_passes_the_checks_step_one_names(tmp_path):
    """The patch is the whole of step 1: version B's own classification test passes."""
    tree = version_b(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    test = "tests/unit/test_pipeline_classification.py"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def customers_table(tree: Path) -> dict:
    return json.loads((tree / "pipeline" / "schemas" / "customers.json").read_text())


def _rows(client, names) -> list[dict]:
    table = client.get_table(names.customers)
    return [dict(row.items()) for row in client.list_rows(table)]


def _letters(client, names) -> list[dict]:
    return [dict(row.items()) for row in client.list_rows(client.get_table(names.customers_dlq))]


def _letter_customer(letter: dict) -> str | None:
    attributes = {a["key"]: a["value"] for a in letter.get("attributes") or []}
    return attributes.get("customer_id")


def _wait(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _published(record: Path) -> list[str]:
    lines = record.read_text().splitlines() if record.exists() else []
    return [json.loads(line)["login"]["uuid"] for line in lines if line]


def _accounting(rows: list[dict], letters: list[dict], published: list[str]) -> dict:
    """Each published customer as rows + dead letters: {customer: count}, wanted all 1."""
    landed = Counter(row["customer_id"] for row in rows)
    landed.update(_letter_customer(letter) for letter in letters)
    return {customer: landed[customer] for customer in published}


def _switch(tree: Path | None) -> str:
    """`make deploy-local` (TREE=...), as typed: drain, wait, start on the same subscription;
    how long the drain took."""
    out = make("deploy-local", *([f"TREE={tree}"] if tree else []), timeout=240)
    drained = re.search(r"drained in ([\d.]+s)", out)
    assert drained and "deployed" in out, out
    return drained.group(1)


@dataclass
class Traffic:
    """What one run under traffic left: the tables, what was published, when each step was."""

    before: Counts  # make run's own customers and malformed messages
    published: list[str]
    rows: list[dict]
    letters: list[dict]
    column_added: datetime
    back: datetime
    drains: list[str]


def _steps(tree_b: Path, record: Path, producer, *, client, names, before: Counts) -> Traffic:
    """Version A; the column added; version B; version A again; then the producer stopped."""
    _wait(lambda: counts(client, names).rows >= before.rows + PER_PHASE, "version A's rows")
    added = make("tables-local", f"TREE={tree_b}")
    assert f"added customers.{COLUMN} in place, every row kept" in added, added
    column_added = datetime.now(UTC)
    added_at = counts(client, names).rows
    _wait(lambda: counts(client, names).rows >= added_at + PER_PHASE, "A's rows after it")

    drains = [_switch(tree_b)]
    filled = lambda: sum(row[COLUMN] is not None for row in _rows(client, names))  # noqa: E731
    _wait(lambda: filled() >= PER_PHASE, "version B's rows, the column filled")

    drains.append(_switch(None))
    back = datetime.now(UTC)
    back_at = counts(client, names).rows
    _wait(lambda: counts(client, names).rows >= back_at + PER_PHASE, "A's rows, back")

    producer.signal(signal.SIGTERM)
    assert producer.wait(30) == 0, producer.log_tail()
    published = _published(record)
    wait_for(client, names, Counts(before.rows + len(published), before.dead_letters), 120)
    time.sleep(3)  # a duplicate, or a redelivery, would show now
    rows, letters = _rows(client, names), _letters(client, names)
    return Traffic(before, published, rows, letters, column_added, back, drains)


def _under_traffic(tmp_path: Path, tree_b: Path) -> Traffic:
    """`make run KEEP=1`, a producer at RATE throughout the steps, `make stop`."""
    make("run", "N=20", "KEEP=1", timeout=240)
    record = tmp_path / "published.jsonl"
    producer = None
    try:
        kept = kept_stack.load()
        names = kept_stack.names(kept)
        client = bigquery_client.client(names.project, kept["bigquery_endpoint"])
        before = counts(client, names)
        producer = start_producer(
            names, kept["pubsub_emulator_host"], tmp_path, 100_000, "fake",
            f"--rate={RATE}", f"--record={record}", "--seed=add-column",
        )  # fmt: skip
        return _steps(tree_b, record, producer, client=client, names=names, before=before)
    finally:
        if producer is not None:
            producer.stop()
        assert "stopped the local stack" in make("stop")


def test_add_a_column_under_traffic_switching_twice(tmp_path, report):
    tree_b = version_b(tmp_path)
    run = _under_traffic(tmp_path, tree_b)
    rows, letters, before = run.rows, run.letters, run.before
    per_customer = _accounting(rows, letters, run.published)
    lost = [c for c, n in per_customer.items() if n == 0]
    twice = [c for c, n in per_customer.items() if n > 1]
    ours = [row for row in rows if row["customer_id"] in per_customer]
    with_column = [row for row in ours if row[COLUMN] is not None]
    stages = Counter(letter["stage"] for letter in letters)
    no_such_field = sum("no such field" in letter["errorMessage"] for letter in letters)
    report(
        f"add a column under traffic ({RATE}/s, A -> column added -> B -> A): published "
        f"{len(run.published)}, rows {len(ours)} ({len(with_column)} with {COLUMN} filled), "
        f"lost {len(lost)}, duplicated {len(twice)}; drains {', '.join(run.drains)}; dead "
        f"letters {len(letters)} (make run's {before.dead_letters} malformed messages; by "
        f"stage: {', '.join(f'{k} {v}' for k, v in sorted(stages.items()))}; no such field: "
        f"{no_such_field})"
    )
    assert (lost, twice) == ([], []), "every published customer exactly once"
    assert len(rows) + len(letters) == before.rows + before.dead_letters + len(run.published)
    assert with_column and all(row[COLUMN].startswith("https://") for row in with_column)
    # The table has the column, the job does not: version A's rows land with it NULL.
    assert sum(row["ingested_at"] > run.column_added and row[COLUMN] is None for row in ours)
    assert all(row[COLUMN] is None for row in ours if row["ingested_at"] > run.back)
    assert all(row[COLUMN] is None for row in ours if row["ingested_at"] < run.column_added)
    assert len(letters) == before.dead_letters, "no write dead letter: the table was ahead"
    table_b = customers_table(tree_b)
    assert [e for row in rows for e in bigquery_rules.stored_errors(row, table_b)] == []


def _replay(r, tree: Path, *args: str) -> str:
    """`python -m replay` of version B (`make replay`'s command), run from that tree."""
    env = {**child_env(r.pubsub_address), "PYTHONPATH": str(tree)}
    argv = [
        sys.executable, "-m", "replay",
        f"--topic={r.names.topic_path}",
        f"--dlq-table={r.names.beam_table(CUSTOMERS_DLQ)}",
        f"--output-table={r.names.beam_table(customers_table(tree))}",
        f"--replays-table={r.names.beam_table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--bigquery-endpoint={r.bigquery_endpoint}",
        "--stage=write", *args,
    ]  # fmt: skip
    done = subprocess.run(
        argv, cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_job_ahead_of_its_table_dead_letters_its_rows_until_the_column_exists(
    fresh_resources, tmp_path, report
):
    r = fresh_resources
    tree_b = version_b(tmp_path)
    messages = fake_messages(12, seed="ahead-of-the-table")
    pipeline = start_pipeline(
        r.names, r.pubsub_address, r.bigquery_endpoint, tmp_path / "logs", tree=tree_b
    )
    try:
        publish(r.names.topic_path, messages)
        wait_for(r.bigquery, r.names, Counts(0, len(messages)), 120, watch=[pipeline])
        letters = _letters(r.bigquery, r.names)
        assert {letter["stage"] for letter in letters} == {"write"}
        assert all(f"no such field: {COLUMN}." in letter["errorMessage"] for letter in letters)

        assert update_tables(r.bigquery, r.names, [customers_table(tree_b)]) == [
            f"customers.{COLUMN}"
        ]
        replayed = _replay(r, tree_b, "--execute")
        wait_for(r.bigquery, r.names, Counts(len(messages), len(messages)), 60, watch=[pipeline])
        again = _replay(r, tree_b, "--execute")
        time.sleep(2)
        rows = _rows(r.bigquery, r.names)
    finally:
        pipeline.stop()
    assert Counter(row["customer_id"] for row in rows) == Counter(m.customer_id for m in messages)
    assert all(row[COLUMN] is not None for row in rows), "the held rows keep the column's value"
    assert "nothing to replay" in again, again
    report(
        f"job ahead of its table: {len(messages)} rows -> {len(letters)} write dead letters "
        f"(no such field: {COLUMN}.); column added; replay inserted {len(rows)}, "
        f"each once, {COLUMN} filled"
    )
    assert replayed
