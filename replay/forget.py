"""`python -m replay forget`: erase one customer from every table, or what BigQuery allows now.

A dry run counts the customer's rows. `--execute` records an erasure request, deletes every row
that has left BigQuery's streaming buffer (the statements of complete_erasures.sql), and counts
again: what is left is pending, and the scheduled query deletes it on a later run. The request
is kept, so that no replay re-publishes the customer. `--complete` runs those statements for
every pending request, as the scheduled query does. No customer id is ever printed: the output
is a log too.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from google.api_core import exceptions
from google.auth.exceptions import GoogleAuthError
from google.cloud import bigquery

from pipeline import bigquery_client
from replay import erasure, tables

# What BigQuery answers when a statement would change rows still in the streaming buffer.
IN_BUFFER = "streaming buffer"


@dataclass(frozen=True)
class Found:
    """One table's rows of the customer: how many, and how many are in the streaming buffer."""

    rows: int
    buffered: int


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Erase a customer from customers, customers_dlq (by ids and payload) and "
        "customers_dlq_replays, and record the request so that no replay brings them back. "
        "Rows still in BigQuery's streaming buffer are left to the scheduled query. "
        "A dry run unless --execute is given.",
    )
    tables.add_flags(parser)
    what = parser.add_argument_group("what")
    what.add_argument("--customer", help="the customer id (login.uuid) to erase")
    what.add_argument(
        "--complete",
        action="store_true",
        help="instead: complete every pending request now, as the scheduled query does",
    )
    what.add_argument("--execute", action="store_true", help="delete (default: dry run)")
    return parser


def customer_id(text: str | None) -> str:
    """The customer id, lower case; ValueError unless it is a whole UUID."""
    value = (text or "").strip().lower()
    if not erasure.CUSTOMER_ID.fullmatch(value):
        raise ValueError("--customer must be a customer id: a UUID such as login.uuid")
    return value


def _parameters(customer: str, message_ids: list[str], now: datetime) -> list:
    return [
        bigquery.ScalarQueryParameter("customer_id", "STRING", customer),
        bigquery.ArrayQueryParameter("message_ids", "STRING", message_ids),
        bigquery.ScalarQueryParameter("run_time", "TIMESTAMP", now),
    ]


def message_ids(bq: bigquery.Client, names: tables.Tables, customer: str) -> list[str]:
    """The Pub/Sub ids of the customer's messages: their rows, the dead letters those were
    replayed from, and every dead letter that is theirs."""
    query = erasure.render(erasure.ROW_MESSAGES, names.by_key())
    params = _parameters(customer, [], datetime.now(UTC))
    ids = {value for row in bigquery_client.query(bq, query, params) for value in row if value}
    query = erasure.render(erasure.DEAD_LETTER_MESSAGES, names.by_key())
    params = _parameters(customer, sorted(ids), datetime.now(UTC))
    ids |= {row[0] for row in bigquery_client.query(bq, query, params)}
    return sorted(ids)


def find(
    bq: bigquery.Client, names: tables.Tables, customer: str, ids: list[str], now: datetime
) -> dict[str, Found]:
    """Each table's rows of the customer at `now`, by table key."""
    found = {}
    for target in erasure.TARGETS:
        query = erasure.render(erasure.count_query(target), names.by_key())
        ((rows, buffered),) = bigquery_client.query(bq, query, _parameters(customer, ids, now))
        found[target.table] = Found(rows, buffered)
    return found


def complete(bq: bigquery.Client, names: tables.Tables, now: datetime) -> list[str]:
    """Runs complete_erasures.sql's statements at `now`; the errors, each statement tried.

    A statement BigQuery refuses because of the streaming buffer leaves its rows pending, as
    the scheduled query's next run will find them; any other error is reported.
    """
    errors = []
    parameters = [bigquery.ScalarQueryParameter("run_time", "TIMESTAMP", now)]
    for statement in erasure.scheduled_statements(names.by_key()):
        try:
            bigquery_client.run(bq, statement, parameters)
        except exceptions.GoogleAPIError as error:
            if IN_BUFFER not in str(error):
                errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
    return errors


def record(
    bq: bigquery.Client, names: tables.Tables, customer: str, ids: list[str], now: datetime
) -> str:
    """Inserts a pending request with DML (a streamed row could not be updated for a while)."""
    request_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    query = erasure.render(erasure.RECORD_REQUEST, names.by_key())
    params = [
        *_parameters(customer, ids, now),
        bigquery.ScalarQueryParameter("request_id", "STRING", request_id),
    ]
    bigquery_client.run(bq, query, params)
    return request_id


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_found(found: dict[str, Found], names: tables.Tables) -> list[str]:
    return [
        f"  {rows.rows:>6}  {names.by_key()[table]}"
        + (f" ({rows.buffered} in the streaming buffer)" if rows.buffered else "")
        for table, rows in found.items()
    ]


def render_result(
    before: dict[str, Found], after: dict[str, Found], names: tables.Tables
) -> list[str]:
    lines = [f"  {'deleted':>7}  {'pending':>7}"]
    for table, left in after.items():
        deleted = max(before[table].rows - left.rows, 0)
        lines.append(f"  {deleted:>7}  {left.rows:>7}  {names.by_key()[table]}")
    return lines


def _status(bq: bigquery.Client, names: tables.Tables, request_id: str) -> str:
    query = erasure.render(erasure.REQUEST_STATUS, names.by_key())
    params = [bigquery.ScalarQueryParameter("request_id", "STRING", request_id)]
    ((status,),) = bigquery_client.query(bq, query, params)
    return status


def erase(args: argparse.Namespace, bq: bigquery.Client, names: tables.Tables) -> int:
    """The dry run, or the erasure and its report."""
    customer, now = customer_id(args.customer), datetime.now(UTC)
    ids = message_ids(bq, names, customer)
    before = find(bq, names, customer, ids, now)
    total = sum(found.rows for found in before.values())
    buffered = sum(found.buffered for found in before.values())
    print(f"the customer has {_plural(total, 'row')} in {len(before)} tables:", flush=True)
    print("\n".join(render_found(before, names)))
    if not args.execute:
        later = (
            f", leave {buffered} in the streaming buffer to the scheduled query" if buffered else ""
        )
        print(
            f"dry run: nothing deleted; --execute would delete {total - buffered} now{later} "
            f"and record the request in {names.erasures}"
        )
        return 0
    request_id = record(bq, names, customer, ids, now)
    errors = complete(bq, names, now)
    after = find(bq, names, customer, ids, now)
    print(f"erasure request {request_id} recorded in {names.erasures}")
    print("\n".join(render_result(before, after, names)))
    left = sum(found.rows for found in after.values())
    if _status(bq, names, request_id) == erasure.DONE:
        print("done: no row of the customer is left; the request stays, so no replay sends them")
    else:
        print(
            f"pending: {_plural(left, 'row')} written less than "
            f"{erasure.STREAMING_BUFFER_MINUTES} minutes ago (BigQuery's streaming buffer); "
            "the scheduled query deletes them on its first run after that "
            "(--complete --execute runs it now)"
        )
    for error in errors:
        print(f"forget: error: {error}", file=sys.stderr)
    return 1 if errors else 0


def complete_all(args: argparse.Namespace, bq: bigquery.Client, names: tables.Tables) -> int:
    """What the scheduled query does, now: dry run or --execute."""
    query = erasure.render(erasure.PENDING_REQUESTS, names.by_key())
    ((pending,),) = bigquery_client.query(bq, query)
    print(f"{_plural(pending, 'pending request')} in {names.erasures}")
    if not args.execute or not pending:
        if pending:
            print("dry run: nothing deleted; add --execute to complete them now")
        return 0
    errors = complete(bq, names, datetime.now(UTC))
    ((left,),) = bigquery_client.query(bq, query)
    waiting = " (rows still in the streaming buffer)" if left else ""
    print(f"completed {pending - left}; still pending: {left}{waiting}")
    for error in errors:
        print(f"forget: error: {error}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: list[str] | None = None, prog: str = "python -m replay forget") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        if args.complete and args.customer is not None:
            raise ValueError("give --customer ID or --complete, not both")
        names = tables.from_flags(args)
        bq = tables.client(args, names)
        return complete_all(args, bq, names) if args.complete else erase(args, bq, names)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except GoogleAuthError as error:  # no credentials, or a refresh refused: a request's cause
        print(f"{prog}: error: {tables.credentials_problem(error)}", file=sys.stderr)
        return 1
    except exceptions.GoogleAPIError as error:  # the first line; the rest is the job's id
        first = next(iter(str(error).splitlines()), "")
        print(f"{prog}: error: {type(error).__name__}: {first}", file=sys.stderr)
        return 1
