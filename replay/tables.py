"""The replay's BigQuery reads and its one write, through `pipeline.bigquery_client`.

Table names are checked by `sql_table` before they reach SQL (hence the S608 waivers); every
value is a query parameter.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from google.auth.exceptions import GoogleAuthError
from google.cloud import bigquery

from pipeline import bigquery_client
from pipeline.tables import TABLE_SPEC
from replay import erasure
from replay.plan import DeadLetter
from replay.selection import Selection

# Where Application Default Credentials come from
# (https://cloud.google.com/docs/authentication/application-default-credentials).
ADC_FIX = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key"
)
INSERT_BATCH = 500  # rows per streaming insert of `insert_rows`
_COLUMNS = "message_id, stage, payloadBytes, payloadString, attributes, payload_state, errorMessage"


def sql_table(table_spec: str) -> str:
    """`project.dataset.table` from `project:dataset.table` or itself, checked with the
    pipeline's own pattern: table names cannot be query parameters, so only a name that
    matches it is ever put into SQL."""
    if not re.fullmatch(TABLE_SPEC, table_spec):
        raise ValueError(f"{table_spec!r} is not a table: give PROJECT:DATASET.TABLE")
    project, dataset, table = re.split(r"[:.]", table_spec, maxsplit=2)
    return f"{project}.{dataset}.{table}"


@dataclass(frozen=True)
class Tables:
    """The tables a replay or an erasure touches, as `project.dataset.table`."""

    dead_letters: str
    customers: str
    replays: str
    erasures: str

    def by_key(self) -> dict[str, str]:
        """Each table under its schema file's name: the placeholders of the erasure SQL."""
        return {
            "customers": self.customers,
            "customers_dlq": self.dead_letters,
            "customers_dlq_replays": self.replays,
            "erasure_requests": self.erasures,
        }


def add_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The flags naming the tables and where to run, shared by replay and forget."""
    where = parser.add_argument_group("where")
    where.add_argument(
        "--dlq-table", required=True, help="dead letters, PROJECT:DATASET.TABLE or P.D.T"
    )
    where.add_argument(
        "--output-table", help="the customers table (default: the dlq table without _dlq)"
    )
    where.add_argument("--replays-table", help="replay records (default: <dlq table>_replays)")
    where.add_argument(
        "--erasures-table", help="erasure requests (default: erasure_requests in its dataset)"
    )
    where.add_argument("--project", help="project to run BigQuery jobs in (default: the table's)")
    where.add_argument(
        "--bigquery-endpoint", help="local runs only: e.g. http://127.0.0.1:9050 (the emulator)"
    )
    return where


def from_flags(args: argparse.Namespace) -> Tables:
    dead_letters = sql_table(args.dlq_table)
    dataset = dead_letters.rsplit(".", 1)[0]
    return Tables(
        dead_letters,
        sql_table(args.output_table or dead_letters.removesuffix("_dlq")),
        sql_table(args.replays_table or f"{dead_letters}_replays"),
        sql_table(args.erasures_table or f"{dataset}.erasure_requests"),
    )


def credentials_problem(error: GoogleAuthError) -> str:
    """One line for credentials google-auth found none of, or could not refresh, with the fix
    (its own message is a paragraph, and a refusal's is the token endpoint's whole answer)."""
    first = next(iter(str(error.args[0] if error.args else error).splitlines()), "")[:300]
    return f"no usable Google credentials ({type(error).__name__}: {first}): {ADC_FIX}"


def client(args: argparse.Namespace, names: Tables) -> bigquery.Client:
    return bigquery_client.client(
        args.project or names.dead_letters.split(".", 1)[0], args.bigquery_endpoint
    )


def select(bq: bigquery.Client, tables: Tables, selection: Selection) -> list[DeadLetter]:
    where, parameters = selection.where()
    sql = (
        f"SELECT {_COLUMNS} FROM `{tables.dead_letters}` "  # noqa: S608
        f"WHERE {where} ORDER BY timestamp"
    )
    return [DeadLetter.from_row(row) for row in bigquery_client.query(bq, sql, parameters)]


def replayed(bq: bigquery.Client, tables: Tables, message_ids: Sequence[str]) -> set[str]:
    """Which of `message_ids` `customers_dlq_replays` has recorded as replayed."""
    if not message_ids:
        return set()
    sql = (
        f"SELECT DISTINCT message_id FROM `{tables.replays}` "  # noqa: S608
        "WHERE message_id IN UNNEST(@ids)"
    )
    parameters = [bigquery.ArrayQueryParameter("ids", "STRING", list(message_ids))]
    return {row[0] for row in bigquery_client.query(bq, sql, parameters)}


def written(
    bq: bigquery.Client, tables: Tables, message_ids: Sequence[str], customer_ids: Sequence[str]
) -> tuple[set[str], set[str]]:
    """The given message ids and customer ids that `customers` already holds rows of.

    A message id counts when it is a row's `message_id` (an envelope's good users) or its
    `replay_of` (a replay that made it). Reads three columns of `customers`, once per run.
    """
    if not message_ids:
        return set(), set()
    sql = (
        f"SELECT message_id, replay_of, customer_id FROM `{tables.customers}` "  # noqa: S608
        "WHERE message_id IN UNNEST(@ids) OR replay_of IN UNNEST(@ids) "
        "OR customer_id IN UNNEST(@customers)"
    )
    parameters = [
        bigquery.ArrayQueryParameter("ids", "STRING", list(message_ids)),
        bigquery.ArrayQueryParameter("customers", "STRING", list(customer_ids)),
    ]
    found_messages, found_customers = set(), set()
    for message_id, replay_of, customer_id in bigquery_client.query(bq, sql, parameters):
        found_messages |= {message_id, replay_of} & set(message_ids)
        found_customers.add(customer_id)
    return found_messages, found_customers


def insert_rows(
    bq: bigquery.Client, tables: Tables, letters: Sequence[DeadLetter]
) -> tuple[list[DeadLetter], list[tuple[DeadLetter, str]]]:
    """Inserts the rows `write` dead letters hold into `customers`: the inserted, and the
    others with BigQuery's reasons (`reason at location`: its messages may quote values).

    One streaming insert per 500 rows, each row's insertId its customer_id, so a retried
    request is not stored twice (best effort, as in the pipeline).
    """
    inserted, failed = [], []
    for start in range(0, len(letters), INSERT_BATCH):
        batch = letters[start : start + INSERT_BATCH]
        errors = bq.insert_rows_json(
            tables.customers,
            [letter.row() for letter in batch],
            row_ids=[letter.customer_id for letter in batch],
            retry=bigquery_client.SHORT_RETRY,
            timeout=bigquery_client.TIMEOUT,
        )
        refused = {error["index"]: error.get("errors", []) for error in errors}
        for index, letter in enumerate(batch):
            if index in refused:
                reasons = ", ".join(str(e.get("reason")) for e in refused[index]) or "refused"
                failed.append((letter, reasons))
            else:
                inserted.append(letter)
    return inserted, failed


def erased(bq: bigquery.Client, tables: Tables) -> tuple[set[str], set[str]]:
    """The customer ids and message ids of every erasure request, pending or done."""
    sql = erasure.render(erasure.ERASED, tables.by_key())
    customer_ids, message_ids = set(), set()
    for customer_id, ids in bigquery_client.query(bq, sql):
        customer_ids.add(customer_id)
        message_ids.update(ids or ())
    return customer_ids, message_ids


@dataclass(frozen=True)
class Replayed:
    """One dead-letter message re-published: a `customers_dlq_replays` row."""

    letter: DeadLetter
    replay_message_id: str
    replayed_at: datetime
    again: bool

    def row(self, run_id: str, topic: str) -> dict:
        return {
            "message_id": self.letter.message_id,
            "replay_message_id": self.replay_message_id,
            "replayed_at": self.replayed_at.isoformat(),
            "run_id": run_id,
            "topic": topic,
            "stage": self.letter.stage,
            "payload_state": self.letter.payload_state,
            "again": self.again,
        }


def record(
    bq: bigquery.Client, tables: Tables, replays: Iterable[Replayed], run_id: str, topic: str
) -> list:
    """Appends the replays; BigQuery's per-row errors (empty when every row was stored).

    Streaming inserts: the rows are visible to the next run's query at once. The insert id
    is the replay's message id, so a retried insert is not stored twice (best effort).
    """
    rows = [replay.row(run_id, topic) for replay in replays]
    if not rows:
        return []
    return bq.insert_rows_json(
        tables.replays,
        rows,
        row_ids=[row["replay_message_id"] for row in rows],
        retry=bigquery_client.SHORT_RETRY,
        timeout=bigquery_client.TIMEOUT,
    )
