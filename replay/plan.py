"""Which selected dead letters may be re-published, and why the others may not.

Pure functions over rows already read from BigQuery, so every rule is unit-tested. The unit
of a replay is a Pub/Sub message: an API envelope with several bad users left one dead letter
per user, all with the same payload and message_id, and is re-published once. A `write` dead
letter is different: it holds a `customers` row BigQuery refused (a row it rejected, or every
row of a request it refused whole: HTTP 403 while IAM propagates, 404 while a table is
recreated), so its unit is the row, and the replay inserts it, deduplicated by customer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import ATTR_CUSTOMER_ID, ATTR_REPLAY_OF
from pipeline.dead_letters import (
    PAYLOAD_CORRECTED,
    PAYLOAD_REDACTED,
    PAYLOAD_ROW,
    PAYLOAD_TRUNCATED,
    REPLAYABLE_PAYLOADS,
)
from pipeline.insert_rules import insert_errors
from pipeline.tables import CUSTOMERS

# Why a message is not re-published, in the order the report lists them.
ERASED = "customer erased (make forget): never re-published"
ALREADY_REPLAYED = "already replayed (--again replays them anyway)"
ALREADY_WRITTEN = (
    "already rows in customers: same message or customer_id (--include-written replays them)"
)
REDACTED = "redacted payload: a credential's value was removed, not the original bytes"
TRUNCATED = "truncated payload: cut to 1 MB, not the original bytes"
NOT_A_ROW = "write stage: the payload is not a valid customers row"
EDITED = "payloadString differs from payloadBytes: set payload_state = 'corrected' to send it"
CONFLICTING = "its dead letters hold different payloads: correct all of them alike"
NO_MESSAGE_ID = "no message_id"
NO_PAYLOAD = "no payload: payloadString (corrected) or payloadBytes is NULL or empty"
UNKNOWN_STATE = "payload_state is unknown: dead-lettered before replay existed"
REASONS = (
    ERASED,
    ALREADY_REPLAYED,
    ALREADY_WRITTEN,
    REDACTED,
    TRUNCATED,
    NOT_A_ROW,
    EDITED,
    CONFLICTING,
    NO_MESSAGE_ID,
    NO_PAYLOAD,
    UNKNOWN_STATE,
)
_STATE_REASONS = {PAYLOAD_REDACTED: REDACTED, PAYLOAD_TRUNCATED: TRUNCATED, PAYLOAD_ROW: NOT_A_ROW}


@dataclass(frozen=True)
class DeadLetter:
    """The columns of one `customers_dlq` row that a replay needs."""

    message_id: str | None
    stage: str
    payload: bytes | None
    payload_string: str | None
    attributes: dict[str, str]
    payload_state: str | None
    error: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeadLetter:
        return cls(
            message_id=row["message_id"],
            stage=row["stage"],
            payload=row["payloadBytes"],
            payload_string=row["payloadString"],
            attributes={a["key"]: a["value"] for a in row["attributes"] or ()},
            payload_state=row["payload_state"],
            error=row["errorMessage"],
        )

    def data(self) -> bytes:
        """What to publish: the exact bytes, or the text an operator corrected in the table.

        An operator corrects `payloadString` (SQL edits text, not bytes) and marks the row
        `corrected`; the replay then sends that text as UTF-8, which is what it was before.
        """
        if self.payload_state == PAYLOAD_CORRECTED:
            return (self.payload_string or "").encode("utf-8")
        return self.payload or b""

    @property
    def holds_row(self) -> bool:
        """A `write` dead letter: its payload is the `customers` row BigQuery refused (as kept,
        or as an operator corrected it), not a message."""
        return self.payload_state == PAYLOAD_ROW or (
            self.stage == "write" and self.payload_state == PAYLOAD_CORRECTED
        )

    def row(self) -> dict[str, Any] | None:
        """The `customers` row of a `write` dead letter; None if the payload is not one."""
        try:
            row = json.loads(self.data())
        except ValueError:
            return None
        return row if isinstance(row, dict) else None

    @property
    def customer_id(self) -> str | None:
        if self.holds_row:
            customer_id = (self.row() or {}).get("customer_id")
            return customer_id if isinstance(customer_id, str) else None
        return self.attributes.get(ATTR_CUSTOMER_ID)

    def replay_attributes(self) -> dict[str, str]:
        """The original attributes plus `replay_of` (a previous replay's value is replaced)."""
        return {**self.attributes, ATTR_REPLAY_OF: str(self.message_id)}


def row_problem(letter: DeadLetter) -> str | None:
    """Why a `write` dead letter's payload is not a row to insert; None if it is one.

    Checked against the schema file as BigQuery would (the emulator accepts what it rejects).
    """
    if not letter.data():
        return NO_PAYLOAD
    if _edited(letter):
        return EDITED
    row = letter.row()
    if row is None or insert_errors(row, CUSTOMERS):
        return NOT_A_ROW
    return None


def _edited(letter: DeadLetter) -> bool:
    """payloadString differs from payloadBytes decoded, as the pipeline wrote it: an edit that
    did not say it is a correction would otherwise be silently ignored (the bytes are sent).
    A NULL payloadString is a dead letter kept reduced (only its bytes fitted), not an edit."""
    if letter.payload_state == PAYLOAD_CORRECTED or letter.payload_string is None:
        return False
    decoded = None if letter.payload is None else letter.payload.decode("utf-8", "replace")
    return decoded != letter.payload_string


def payload_problem(letter: DeadLetter) -> str | None:
    """Why this dead letter's payload is not the message (or row) to replay; None if it is."""
    if letter.holds_row:
        return row_problem(letter)
    if letter.payload_state not in REPLAYABLE_PAYLOADS:
        return _STATE_REASONS.get(letter.payload_state, UNKNOWN_STATE)
    # An empty message is no customer: it would only come back as a parse dead letter.
    if not letter.data():
        return NO_PAYLOAD
    if _edited(letter):
        return EDITED
    return None


@dataclass
class Plan:
    """What a replay run will do: one message per entry of `to_send`, one row per entry of
    `to_insert`, the rest with a reason."""

    dead_letters: int = 0
    messages: int = 0
    to_send: list[DeadLetter] = field(default_factory=list)
    to_insert: list[DeadLetter] = field(default_factory=list)
    skipped: dict[str, list[str | None]] = field(default_factory=dict)

    def skip(self, reason: str, message_id: str | None) -> None:
        self.skipped.setdefault(reason, []).append(message_id)

    @property
    def skipped_count(self) -> int:
        return sum(len(ids) for ids in self.skipped.values())

    @property
    def replays(self) -> int:
        return len(self.to_send) + len(self.to_insert)


def plan(
    letters: Iterable[DeadLetter],
    *,
    erased: set[str] = frozenset(),
    erased_customers: set[str] = frozenset(),
    replayed: set[str] = frozenset(),
    written: set[str] = frozenset(),
    written_customers: set[str] = frozenset(),
    again: bool = False,
    include_written: bool = False,
) -> Plan:
    """Groups dead letters by message and decides each message once.

    `erased`: message ids of erased customers' dead letters, never sent, even `again`;
    `erased_customers`: their customer ids (lower case), never inserted from a `write` letter
    (a refused batch's letters share one message id with other customers).
    `replayed`: message ids recorded in `customers_dlq_replays`. `written`: message ids that
    `customers` already holds rows of (see `written_messages`). `write` dead letters are
    decided one row at a time against `written_customers`, the customer ids `customers` holds.
    """
    result = Plan()
    by_message: dict[str, list[DeadLetter]] = {}
    row_letters: list[DeadLetter] = []
    for letter in letters:
        result.dead_letters += 1
        if letter.holds_row:
            row_letters.append(letter)
        elif letter.message_id is None:
            result.messages += 1
            result.skip(NO_MESSAGE_ID, None)
        else:
            by_message.setdefault(letter.message_id, []).append(letter)
    result.messages += len(by_message)
    for message_id, group in by_message.items():
        problems = [payload_problem(letter) for letter in group]
        usable = [letter for letter, problem in zip(group, problems, strict=True) if not problem]
        if message_id in erased:
            result.skip(ERASED, message_id)
        elif message_id in replayed and not again:
            result.skip(ALREADY_REPLAYED, message_id)
        elif not usable:
            result.skip(min(problems, key=REASONS.index), message_id)
        elif len({letter.data() for letter in usable}) > 1:
            result.skip(CONFLICTING, message_id)
        elif message_id in written and not include_written:
            result.skip(ALREADY_WRITTEN, message_id)
        else:
            result.to_send.append(usable[0])
    _plan_rows(result, row_letters, erased_customers, written_customers, include_written)
    result.skipped = {
        reason: result.skipped[reason] for reason in REASONS if reason in result.skipped
    }
    return result


def _plan_rows(
    result: Plan,
    letters: list[DeadLetter],
    erased: set[str],
    written: set[str],
    include_written: bool,
) -> None:
    """One insert per customer: an erased customer is never inserted; a customer `customers`
    already holds (`written`: a later copy made it, or a replay before this one) is skipped, as
    is a second dead letter of the same customer. Otherwise the message id does not count
    here: an envelope's other users may be rows while this one was refused."""
    customers: set[str] = set()
    for letter in letters:
        result.messages += 1
        customer_id = letter.customer_id
        if (customer_id or "").lower() in erased:
            result.skip(ERASED, letter.message_id)
        elif problem := payload_problem(letter):
            result.skip(problem, letter.message_id)
        elif customer_id in customers or (customer_id in written and not include_written):
            result.skip(ALREADY_WRITTEN, letter.message_id)
        else:
            customers.add(customer_id)
            result.to_insert.append(letter)


def written_messages(
    letters: Iterable[DeadLetter], message_ids: set[str], customer_ids: set[str]
) -> set[str]:
    """Ids of the messages whose replay would write a customer again.

    `message_ids`/`customer_ids`: values found in `customers` (its `message_id`, `replay_of`
    and `customer_id` columns). An envelope whose good users became rows shares the first;
    a customer published again after it failed shares the second. The pipeline drops such a
    repeat only within its dedup window and writes it again after.
    """
    return {
        letter.message_id
        for letter in letters
        if letter.message_id is not None
        and not letter.holds_row
        and (letter.message_id in message_ids or letter.customer_id in customer_ids)
    }
