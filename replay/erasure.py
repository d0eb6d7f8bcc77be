"""Which rows are one customer's, and the SQL that erases them once BigQuery allows it.

One set of predicates: the counts `make forget` reports, and the statements that delete, are
built from the `TARGETS` below, and `complete_erasures.sql`, the scheduled query Terraform
creates, is generated from them (`make generate`; a unit test holds the file to this module).

BigQuery refuses to change rows streamed with `tabledata.insertAll`, the pipeline's and the
replay's write method, for a while: "Rows that were recently written using the
tabledata.insertall streaming method can't be modified with data manipulation language (DML),
such as UPDATE, DELETE, MERGE, or TRUNCATE statements. The recent writes are those that occurred
within the last 30 minutes"
(https://cloud.google.com/bigquery/docs/data-manipulation-language#limitations); such a
statement fails with "would affect rows in the streaming buffer", and Google's advice is to
leave out rows of the last 90 minutes by a timestamp
(https://cloud.google.com/knowledge/kb/cannot-update-or-delete-over-bigquery-streaming-tables-000004334).
So a row counts as in the streaming buffer while the time it was written (`ingested_at`,
`timestamp`, `replayed_at`) is less than `STREAMING_BUFFER_MINUTES` before the run: the same
rule on the emulator, which has no streaming buffer, and in BigQuery.
"""

# The SQL here is assembled from this module's constants only; values are query parameters.
# ruff: noqa: S608

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from replay.plan import DeadLetter

STREAMING_BUFFER_MINUTES = 90
# @run_time: the scheduled query's own parameter, the time the run was scheduled for
# (https://cloud.google.com/bigquery/docs/scheduling-queries#available_parameters); `make
# forget` binds the current time.
HORIZON = f"TIMESTAMP_SUB(@run_time, INTERVAL {STREAMING_BUFFER_MINUTES} MINUTE)"
PENDING, DONE = "pending", "done"
SCRIPT = "complete_erasures.sql"
# A customer id is a UUID (login.uuid, checked by the pipeline): nothing shorter is ever
# searched for in a payload, where "a" would match every dead letter.
CUSTOMER_ID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")


@dataclass(frozen=True)
class Target:
    """A table erasure deletes from: its placeholder, alias, write time, and the conditions,
    any of which makes one of its rows (`alias`) the customer of request `e`'s.

    `e` has the columns of `erasure_requests` that matter: `customer_id` (lower case) and
    `message_ids`, the Pub/Sub ids of the customer's messages found when it was requested.
    """

    table: str
    alias: str
    written: str
    conditions: tuple[str, ...]

    def match(self, indent: int) -> str:
        """The conditions ORed, one a line, the lines after the first indented by `indent`."""
        return f"\n{' ' * indent}OR ".join(self.conditions)

    def buffered(self) -> str:
        return f"{self.alias}.{self.written} >= {HORIZON}"


REPLAYS = Target(
    "customers_dlq_replays",
    "r",
    "replayed_at",
    ("r.message_id IN UNNEST(e.message_ids)", "r.replay_message_id IN UNNEST(e.message_ids)"),
)
# A dead letter is the customer's by its ids, or when its payload (as text, and as the bytes
# the pipeline kept, which an operator's correction of payloadString leaves as they were)
# holds the customer id anywhere: an envelope with other users, a truncated message, a write
# dead letter's rejected row.
DEAD_LETTERS = Target(
    "customers_dlq",
    "d",
    "timestamp",
    (
        "d.message_id IN UNNEST(e.message_ids)",
        "EXISTS (SELECT 1 FROM UNNEST(d.attributes) AS a"
        " WHERE a.key = 'customer_id' AND LOWER(a.value) = e.customer_id)",
        "STRPOS(LOWER(d.payloadString), e.customer_id) > 0",
        "STRPOS(LOWER(SAFE_CONVERT_BYTES_TO_STRING(d.payloadBytes)), e.customer_id) > 0",
    ),
)
CUSTOMERS = Target("customers", "c", "ingested_at", ("LOWER(c.customer_id) = e.customer_id",))
TARGETS = (REPLAYS, DEAD_LETTERS, CUSTOMERS)
TABLES = (*(target.table for target in TARGETS), "erasure_requests")

# The request a dry run or a report matches against, before or without a row for it.
ONE_REQUEST = "(SELECT @customer_id AS customer_id, @message_ids AS message_ids) AS e"


def delete_statement(target: Target) -> str:
    """Deletes the target's rows of every pending request that have left the buffer."""
    a = target.alias
    return (
        f"DELETE FROM ${{{target.table}}} AS {a}\n"
        f"WHERE {a}.{target.written} < {HORIZON}\n"
        f"  AND EXISTS (\n"
        f"    SELECT 1 FROM ${{erasure_requests}} AS e\n"
        f"    WHERE e.status = '{PENDING}'\n"
        f"      AND ({target.match(11)}))"
    )


def done_statement() -> str:
    """Marks done every pending request none of whose rows is left anywhere."""
    left = "".join(
        f"\n  AND NOT EXISTS (\n    SELECT 1 FROM ${{{target.table}}} AS {target.alias}\n"
        f"    WHERE {target.match(6)})"
        for target in TARGETS
    )
    return (
        f"UPDATE ${{erasure_requests}} AS e\n"
        f"SET status = '{DONE}', completed_at = @run_time\n"
        f"WHERE e.status = '{PENDING}'{left}"
    )


def script() -> str:
    """The text of complete_erasures.sql: its statements in order, each ending with ';'."""
    header = f"""\
-- Completes the erasure requests of `make forget`: deletes every row of an erased customer
-- that has left BigQuery's streaming buffer, then marks done each request none of whose rows
-- is left. Idempotent: a run that repeats one changes nothing.
--
-- Generated from replay/erasure.py by `make generate`: edit that file, not this one.
-- Terraform runs it as a scheduled query, BigQuery binding @run_time (the scheduled time);
-- `make forget` runs its statements one by one, binding the current time. The tables are
-- placeholders: Terraform's templatefile and Python's string.Template put in their names.
-- A row is in the streaming buffer while written less than {STREAMING_BUFFER_MINUTES} minutes
-- before @run_time.
"""
    statements = [*(delete_statement(target) for target in TARGETS), done_statement()]
    return header + "".join(f"\n{statement};\n" for statement in statements)


def statements(text: str) -> list[str]:
    """The statements of a script as `script` writes it: comment lines dropped, then split
    at each ';' that ends a line (the emulator binds no parameter in a multi-statement
    query, so each statement runs on its own)."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in re.split(r";\s*(?:\n|$)", code) if part.strip()]


def render(sql: str, tables: dict[str, str]) -> str:
    """`sql` with `${table}` replaced by the backquoted name of each table in `tables`."""
    return string.Template(sql).substitute({key: f"`{name}`" for key, name in tables.items()})


def scheduled_statements(tables: dict[str, str]) -> list[str]:
    """The statements of the shipped complete_erasures.sql for `tables`, ready to run."""
    text = resources.files("replay").joinpath(SCRIPT).read_text("utf-8")
    return [render(statement, tables) for statement in statements(text)]


def count_query(target: Target) -> str:
    """The target's rows of one customer (@customer_id, @message_ids), and how many of them
    are in the streaming buffer at @run_time."""
    a = target.alias
    return (
        f"SELECT COUNT(*) AS found, COUNTIF({target.buffered()}) AS buffered\n"
        f"FROM ${{{target.table}}} AS {a}, {ONE_REQUEST}\n"
        f"WHERE {target.match(3)}"
    )


# The Pub/Sub ids of one customer's messages: their rows, the dead letters those rows were
# replayed from, and every dead letter that is theirs (by @message_ids so far, or payload).
ROW_MESSAGES = (
    "SELECT message_id, replay_of FROM ${customers} AS c, "
    + ONE_REQUEST
    + f"\nWHERE {CUSTOMERS.match(3)}"
)
DEAD_LETTER_MESSAGES = (
    "SELECT DISTINCT d.message_id FROM ${customers_dlq} AS d, "
    + ONE_REQUEST
    + f"\nWHERE d.message_id IS NOT NULL AND ({DEAD_LETTERS.match(3)})"
)
RECORD_REQUEST = (
    "INSERT INTO ${erasure_requests} (request_id, customer_id, message_ids, requested_at, status)"
    f"\nVALUES (@request_id, @customer_id, @message_ids, @run_time, '{PENDING}')"
)
REQUEST_STATUS = "SELECT status FROM ${erasure_requests} WHERE request_id = @request_id"
PENDING_REQUESTS = f"SELECT COUNT(*) FROM ${{erasure_requests}} WHERE status = '{PENDING}'"
ERASED = "SELECT customer_id, message_ids FROM ${erasure_requests}"


def erased_messages(
    letters: Iterable[DeadLetter], customer_ids: set[str], message_ids: set[str]
) -> set[str]:
    """Ids of the messages among `letters` that belong to an erased customer, matched as the
    SQL above matches dead letters: by message id, customer_id attribute, or the payload."""
    return {
        letter.message_id
        for letter in letters
        if letter.message_id is not None
        and (
            letter.message_id in message_ids
            or (letter.customer_id or "").lower() in customer_ids
            or mentions(letter.data(), customer_ids)
        )
    }


def mentions(data: bytes, customer_ids: set[str]) -> bool:
    """Whether a payload holds one of `customer_ids` (lower case) anywhere, as the SQL
    above matches it: case-insensitive text, invalid UTF-8 replaced."""
    text = data.decode("utf-8", "replace").lower()
    return any(customer_id in text for customer_id in customer_ids)


if __name__ == "__main__":  # `make generate`
    print(script(), end="")
