"""Which selected dead letters may be re-published, and why the others may not.

Pure functions over rows already read from BigQuery, so every rule is unit-tested. The unit
of a replay is a Pub/Sub message: an API envelope with several bad users left one dead letter
per user, all with the same payload and message_id, and is re-published once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import ATTR_CUSTOMER_ID, ATTR_REPLAY_OF
from pipeline.schema import (
    PAYLOAD_CORRECTED,
    PAYLOAD_REDACTED,
    PAYLOAD_ROW,
    PAYLOAD_TRUNCATED,
    REPLAYABLE_PAYLOADS,
)

# Why a message is not re-published, in the order the report lists them.
ERASED = "customer erased (make forget): never re-published"
ALREADY_REPLAYED = "already replayed (--again replays them anyway)"
ALREADY_WRITTEN = (
    "already rows in customers: same message or customer_id (--include-written replays them)"
)
REDACTED = "redacted payload: a credential's value was removed, not the original bytes"
TRUNCATED = "truncated payload: cut to 1 MB, not the original bytes"
WRITE_ROW = "write stage: holds the row BigQuery rejected, not the message"
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
    WRITE_ROW,
    EDITED,
    CONFLICTING,
    NO_MESSAGE_ID,
    NO_PAYLOAD,
    UNKNOWN_STATE,
)
_STATE_REASONS = {PAYLOAD_REDACTED: REDACTED, PAYLOAD_TRUNCATED: TRUNCATED, PAYLOAD_ROW: WRITE_ROW}


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
    def customer_id(self) -> str | None:
        return self.attributes.get(ATTR_CUSTOMER_ID)

    def replay_attributes(self) -> dict[str, str]:
        """The original attributes plus `replay_of` (a previous replay's value is replaced)."""
        return {**self.attributes, ATTR_REPLAY_OF: str(self.message_id)}


def payload_problem(letter: DeadLetter) -> str | None:
    """Why this dead letter's payload is not the message to re-publish; None if it is."""
    if letter.payload_state not in REPLAYABLE_PAYLOADS:
        return _STATE_REASONS.get(letter.payload_state, UNKNOWN_STATE)
    # An empty message is no customer: it would only come back as a parse dead letter.
    if not letter.data():
        return NO_PAYLOAD
    if letter.payload_state == PAYLOAD_CORRECTED:
        return None
    # The pipeline writes payloadString as payloadBytes decoded: an edit that did not say it
    # is a correction would otherwise be silently ignored (the bytes are what is sent).
    decoded = None if letter.payload is None else letter.payload.decode("utf-8", "replace")
    if decoded != letter.payload_string:
        return EDITED
    return None


@dataclass
class Plan:
    """What a replay run will do: one message per entry of `to_send`, the rest with a reason."""

    dead_letters: int = 0
    messages: int = 0
    to_send: list[DeadLetter] = field(default_factory=list)
    skipped: dict[str, list[str | None]] = field(default_factory=dict)

    def skip(self, reason: str, message_id: str | None) -> None:
        self.skipped.setdefault(reason, []).append(message_id)

    @property
    def skipped_count(self) -> int:
        return sum(len(ids) for ids in self.skipped.values())


def plan(
    letters: Iterable[DeadLetter],
    *,
    erased: set[str] = frozenset(),
    replayed: set[str] = frozenset(),
    written: set[str] = frozenset(),
    again: bool = False,
    include_written: bool = False,
) -> Plan:
    """Groups dead letters by message and decides each message once.

    `erased`: message ids of erased customers' dead letters, never sent, even `again`.
    `replayed`: message ids recorded in `customers_dlq_replays`. `written`: message ids that
    `customers` already holds rows of (see `written_messages`).
    """
    result = Plan()
    by_message: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        result.dead_letters += 1
        if letter.message_id is None:
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
    result.skipped = {
        reason: result.skipped[reason] for reason in REASONS if reason in result.skipped
    }
    return result


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
        and (letter.message_id in message_ids or letter.customer_id in customer_ids)
    }
