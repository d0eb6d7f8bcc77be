"""`python -m replay`: select dead letters, show what would happen, and with --execute do it."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime

from google.api_core import exceptions
from google.auth.exceptions import GoogleAuthError

from contract import topic_path
from pipeline.dead_letters import STAGES
from replay import erasure, tables
from replay.plan import Plan, plan, written_messages
from replay.publish import Failed, publish
from replay.selection import Selection, parse_time
from replay.tables import Replayed

LISTED = 50  # --list shows at most this many message ids per reason
# customers_dlq_replays.replay_message_id of a row inserted from a `write` dead letter (no
# message was published for it): this prefix and the customer_id, the insert's insertId.
INSERTED = "inserted:"


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Re-publish chosen dead letters of customers_dlq to the topic, each once, "
        "with its original bytes and attributes plus replay_of=<message_id>; insert the rows "
        "of `write` dead letters into the customers table, once per customer. "
        "A dry run unless --execute is given.",
    )
    where = tables.add_flags(parser)
    where.add_argument("--topic", required=True, type=topic_path, help="projects/P/topics/T")
    which = parser.add_argument_group("which dead letters (all given criteria must match)")
    which.add_argument("--stage", action="append", choices=STAGES, default=[], help="repeatable")
    which.add_argument("--since", help="dead-lettered at or after: 2026-11-01, ...T10:00Z or 2h")
    which.add_argument("--until", help="dead-lettered before (same forms)")
    which.add_argument("--error", help="text contained in errorMessage (case-sensitive)")
    which.add_argument(
        "--message-id",
        action="append",
        default=[],
        help="repeatable or comma-separated Pub/Sub message ids",
    )
    which.add_argument("--all", action="store_true", help="every dead letter (no criterion)")
    how = parser.add_argument_group("what to do")
    how.add_argument("--execute", action="store_true", help="publish (default: dry run)")
    how.add_argument("--again", action="store_true", help="also messages replayed before")
    how.add_argument(
        "--include-written",
        action="store_true",
        help="also messages whose customer or message is already a row in customers",
    )
    how.add_argument("--list", action="store_true", help="list message ids per decision")
    return parser


def _selection(args: argparse.Namespace) -> Selection:
    ids = tuple(i.strip() for arg in args.message_id for i in arg.split(",") if i.strip())
    selection = Selection(
        stages=tuple(dict.fromkeys(args.stage)),
        since=parse_time(args.since) if args.since else None,
        until=parse_time(args.until) if args.until else None,
        error=args.error or None,
        message_ids=ids,
    )
    if selection.is_empty() and not args.all:
        raise ValueError(
            "choose dead letters with --stage, --since, --until, --error or --message-id "
            "(or --all for every one)"
        )
    return selection


def _first_line(error: Exception) -> str:
    return next(iter(str(error).splitlines()), "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render(result: Plan, source: str, selection: Selection, *, listing: bool) -> str:
    replays = [*result.to_send, *result.to_insert]
    states = sorted(Counter(letter.payload_state for letter in replays).items())
    kinds = f" ({', '.join(f'{n} {state}' for state, n in states)})" if states else ""
    lines = [
        f"selected {_plural(result.dead_letters, 'dead letter')} of "
        f"{_plural(result.messages, 'message')} in {source} ({selection.describe()})",
        f"  to replay:      {result.replays}{kinds}",
        f"  not replayed:   {result.skipped_count}",
    ]
    lines += [f"    {len(ids):>5}  {reason}" for reason, ids in result.skipped.items()]
    if listing:
        lines += ["  replay:"] + [f"    {letter.message_id}" for letter in replays[:LISTED]]
        for reason, ids in result.skipped.items():
            lines += [f"  {reason}:"] + [f"    {message_id}" for message_id in ids[:LISTED]]
    return "\n".join(lines)


def _insert(bq, names: tables.Tables, result: Plan) -> tuple[list[Replayed], list[Failed]]:
    """Inserts the rows of `write` dead letters into `customers`, deduplicated by customer."""
    if not result.to_insert:
        return [], []
    try:
        inserted, refused = tables.insert_rows(bq, names, result.to_insert)
    except exceptions.GoogleAPIError as error:
        reason = f"{type(error).__name__}: {_first_line(error)}"
        return [], [Failed(letter, reason) for letter in result.to_insert]
    now = datetime.now(UTC)
    done = [Replayed(letter, f"{INSERTED}{letter.customer_id}", now, False) for letter in inserted]
    print(f"inserted {len(inserted)}/{len(result.to_insert)} rows into {names.customers}")
    return done, [Failed(letter, f"BigQuery refused the row: {why}") for letter, why in refused]


def _execute(
    args: argparse.Namespace, bq, names: tables.Tables, result: Plan, replayed: set[str]
) -> int:
    """Publishes the messages and inserts the rows of the plan, then records what was done;
    1 if anything failed."""
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    total = len(result.to_send)
    done, failed = [], []
    if total:
        done, failed = publish(
            args.topic,
            result.to_send,
            again=replayed,
            progress=lambda n: print(f"  published {n}/{total}", flush=True),
        )
    inserted, not_inserted = _insert(bq, names, result)
    try:
        errors = tables.record(bq, names, [*done, *inserted], run_id, args.topic)
    except exceptions.GoogleAPIError as error:
        errors = [f"{type(error).__name__}: {_first_line(error)}"]
    recorded = "not recorded" if errors else f"recorded in {names.replays} (run {run_id})"
    if total:
        print(f"published {len(done)}/{total} to {args.topic} with replay_of; {recorded}")
    else:
        print(recorded)
    for verb, failures in (("published", failed), ("inserted", not_inserted)):
        for failure in failures:
            print(f"  not {verb}: {failure.letter.message_id}: {failure.error}", file=sys.stderr)
    failed += not_inserted
    if errors:
        sent = ", ".join(replay.letter.message_id or "?" for replay in [*done, *inserted])
        print(
            f"replay: error: recording failed ({errors!r:.300}); a later run may send these "
            f"again: {sent}",
            file=sys.stderr,
        )
    return 1 if failed or errors else 0


def run(args: argparse.Namespace) -> int:
    selection = _selection(args)
    names = tables.from_flags(args)
    bq = tables.client(args, names)
    letters = tables.select(bq, names, selection)
    ids = sorted({letter.message_id for letter in letters if letter.message_id})
    customer_ids = sorted({letter.customer_id for letter in letters if letter.customer_id})
    replayed = tables.replayed(bq, names, ids)
    written_ids, written_customers = tables.written(bq, names, ids, customer_ids)
    erased_customers, erased_ids = tables.erased(bq, names)
    result = plan(
        letters,
        erased=erasure.erased_messages(letters, erased_customers, erased_ids),
        erased_customers=erased_customers,
        replayed=replayed,
        written=written_messages(letters, written_ids, written_customers),
        written_customers=written_customers,
        again=args.again,
        include_written=args.include_written,
    )
    print(render(result, names.dead_letters, selection, listing=args.list), flush=True)
    if not args.execute:
        rows = f" and insert {_plural(len(result.to_insert), 'row')}" if result.to_insert else ""
        print(
            f"dry run: nothing published; add --execute to publish "
            f"{_plural(len(result.to_send), 'message')} to {args.topic}{rows}"
        )
        return 0
    if not result.replays:
        print("nothing to replay")
        return 0
    return _execute(args, bq, names, result, replayed)


def main(argv: list[str] | None = None, prog: str = "python -m replay") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        return run(args)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except GoogleAuthError as error:  # no credentials, or a refresh refused: a request's cause
        print(f"{prog}: error: {tables.credentials_problem(error)}", file=sys.stderr)
        return 1
    except exceptions.GoogleAPIError as error:  # the first line; the rest is the job's id
        print(f"{prog}: error: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 1
