"""Dead letters: one `customers_dlq` row per unusable message or rejected row, bounded in size,
never holding a credential, schema-valid even when BigQuery rejected the first form.

Plain typed functions, no Beam graph: the pipeline's DoFns, the sinks and the tests use them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import contract
from pipeline import tables, timestamps

if TYPE_CHECKING:  # for the hints only
    from apache_beam.utils.timestamp import Timestamp

# customers_dlq.stage: where a message failed.
STAGES = ("parse", "validate", "write")

# customers_dlq.payload_state: what a dead letter's payloadBytes hold. Only the message's exact
# bytes, or a payloadString an operator corrected in the table, are re-published by replay.
PAYLOAD_ORIGINAL = "original"
PAYLOAD_REDACTED = "redacted"
PAYLOAD_TRUNCATED = "truncated"
PAYLOAD_ROW = "row"
PAYLOAD_CORRECTED = "corrected"
PAYLOAD_STATES = (
    PAYLOAD_ORIGINAL,
    PAYLOAD_REDACTED,
    PAYLOAD_TRUNCATED,
    PAYLOAD_ROW,
    PAYLOAD_CORRECTED,
)
REPLAYABLE_PAYLOADS = (PAYLOAD_ORIGINAL, PAYLOAD_CORRECTED)

# Dead letters keep at most this much of a payload, so that even a 10 MB Pub/Sub message
# still fits BigQuery's streaming row limit (payloadString and base64 payloadBytes both hold it).
MAX_DEAD_LETTER_PAYLOAD = 1_000_000
# ... and at most this many characters of the error and of the stack trace.
MAX_DEAD_LETTER_TEXT = 65_536
# One dead letter per message, whatever it holds: it lists the first MAX_LISTED_USERS invalid
# users of an envelope (each reason cut at MAX_REASON_LENGTH characters) and counts the rest.
MAX_LISTED_USERS = 20
MAX_REASON_LENGTH = 500
MAX_STACKTRACE_LENGTH = 8_000
# A reduced dead letter keeps ids and the original reason only up to this length.
MAX_REDUCED_TEXT = 2048
# A credential field's value in raw JSON text, even in truncated or otherwise broken JSON: a
# value cut off ends at the payload's end, possibly right after the backslash of an escape.
_CREDENTIAL_VALUE = re.compile(
    rb'("(?:' + b"|".join(key.encode() for key in contract.CREDENTIAL_FIELDS) + rb')"\s*:\s*)'
    rb'"(?:[^"\\]|\\.)*(?:"|\\?$)'
)


def redact_credentials(payload: bytes) -> bytes:
    """The payload with every credential field's value replaced by null, the rest untouched.

    Works on raw bytes, so it also cleans truncated JSON and payloads that are not UTF-8.
    """
    return _CREDENTIAL_VALUE.sub(rb"\1null", payload)


def _utf8_safe(text: str) -> str:
    """`text` with anything UTF-8 cannot encode (lone surrogates) written as \\uXXXX escapes.

    A dead letter must never be the element that fails the bundle.
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dead_letter(
    *,
    stage: str,
    error: str,
    payload: bytes | None,
    attributes: Mapping[str, str] | None = None,
    message_id: str | None = None,
    publish_time: datetime | Timestamp | str | None = None,
    stacktrace: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A `customers_dlq` row: the reason, and the payload minus credentials.

    `payload_state` says whether `payloadBytes` are still the message's exact bytes: only
    those are re-published by `python -m replay`; a redacted or truncated payload is not.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    kept = redact_credentials(payload or b"")
    state = PAYLOAD_REDACTED if kept != (payload or b"") else PAYLOAD_ORIGINAL
    if len(kept) > MAX_DEAD_LETTER_PAYLOAD:
        error = f"{error} [payload truncated to {MAX_DEAD_LETTER_PAYLOAD} of {len(kept)} bytes]"
        kept = kept[:MAX_DEAD_LETTER_PAYLOAD]
        state = PAYLOAD_TRUNCATED
    if stage == "write" and state != PAYLOAD_TRUNCATED:
        # The payload is the row BigQuery refused, not the message; a cut row is no row.
        state = PAYLOAD_ROW
    try:
        published = timestamps.lineage_time(publish_time)
    except ValueError:
        published = None
    letter = {
        "timestamp": timestamps.format_timestamp(now or datetime.now(UTC)),
        "payloadString": kept.decode("utf-8", errors="replace") if payload is not None else None,
        "payloadBytes": base64.b64encode(kept).decode("ascii") if payload is not None else None,
        "attributes": [
            {"key": _utf8_safe(str(key)), "value": _utf8_safe(str(value))}
            for key, value in sorted((attributes or {}).items())
        ],
        "errorMessage": _utf8_safe(error[:MAX_DEAD_LETTER_TEXT]),
        "stacktrace": _utf8_safe(stacktrace[:MAX_DEAD_LETTER_TEXT]) if stacktrace else stacktrace,
        "message_id": _utf8_safe(message_id) if message_id is not None else None,
        "publish_time": published,
        "stage": stage,
        "payload_state": state,
    }
    if tables.json_size(letter) > tables.MAX_STREAMING_ROW_BYTES:
        # Bytes that are not UTF-8 or are control characters grow 6-fold in payloadString's
        # JSON (\ufffd, \u0001); payloadBytes still holds every byte kept.
        letter["payloadString"] = None
        letter["errorMessage"] += " [payloadString left out to fit BigQuery's row size limit]"
    return letter


def _insert_error_parts(errors: Sequence[Any], *, messages: bool) -> list[str]:
    """BigQuery's insertErrors entries ({reason, location, message}) as `reason at location`,
    followed by `: message` if `messages` (a message may quote the rejected values)."""
    parts = []
    for error in errors:
        if not isinstance(error, Mapping):
            if messages:
                parts.append(str(error))
            continue
        location = f" at {error['location']}" if error.get("location") else ""
        part = f"{error.get('reason', 'error')}{location}"
        parts.append(f"{part}: {error.get('message', '')}" if messages else part)
    return parts


def _is_sequence(errors: Any) -> bool:
    return isinstance(errors, Sequence) and not isinstance(errors, str)


def describe_insert_errors(errors: Any) -> str:
    """BigQuery's insertErrors as one line, messages included."""
    if not _is_sequence(errors):
        return str(errors)
    return "; ".join(_insert_error_parts(errors, messages=True))


def insert_error_reasons(errors: Any) -> str:
    """BigQuery's insertErrors as `reason at location` only: its messages may quote values."""
    if not _is_sequence(errors):
        return "unknown error"
    return ", ".join(_insert_error_parts(errors, messages=False)) or "unknown error"


# HTTP reason phrases ("Forbidden", "Not Found", ...): what Beam's streaming-insert sink puts
# in `reason` for every row of a request BigQuery refused whole (apache_beam 2.77,
# io/gcp/bigquery_tools.py `_insert_all_rows`: `{'message': e.message, 'reason':
# e.response.reason}`). BigQuery's own per-row reasons are camelCase codes ("invalid",
# "stopped"): https://cloud.google.com/bigquery/docs/error-messages.
_HTTP_REASONS = {status.phrase: status for status in HTTPStatus}


def request_error(errors: Any) -> str | None:
    """`HTTP 403 Forbidden` when `errors` is a whole request's refusal as Beam reports it on each
    row of the batch, else None (BigQuery rejected this row itself)."""
    if not _is_sequence(errors) or len(errors) != 1 or not isinstance(errors[0], Mapping):
        return None
    status = _HTTP_REASONS.get(errors[0].get("reason"))
    if status is None or "location" in errors[0]:
        return None
    return f"HTTP {status.value} {status.phrase}"


# A quoted value in a message BigQuery wrote: logs keep the message without it.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def loggable_request_error(errors: Any) -> str:
    """A refused request's status and BigQuery's message for a log line: quoted parts removed
    and the message cut, so no row value can reach the log (the message names the table)."""
    message = _QUOTED.sub("<value>", str(errors[0].get("message", "")))
    return f"{request_error(errors)}: {message[:MAX_REASON_LENGTH]}"


def write_failure(failure: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """A `write` dead letter for a row BigQuery rejected, with BigQuery's own error text.

    Accepts both shapes of `WriteToBigQuery(...).failed_rows_with_errors`: streaming inserts
    give `(destination, row, errors)`, the Storage Write API `{"failed_row", "error_message"}`.
    The payload is the rejected row as JSON. A request BigQuery refused whole (HTTP 403 while
    IAM propagates, 404 while the table is recreated) gives every row of the batch the same
    error; the message says so, and `python -m replay` inserts those rows once it is fixed.
    """
    what = "rejected the row"
    if isinstance(failure, Mapping):
        destination, row, error = None, failure.get("failed_row"), failure.get("error_message")
        error = str(error)
    else:
        destination, row, errors = failure
        error = describe_insert_errors(errors)
        if refused := request_error(errors):
            error = f"{refused}: {errors[0].get('message', '')}"
            what = "refused the whole insert request into"
    row = row if isinstance(row, Mapping) else {"row": row}
    into = f" {destination}" if destination else ""
    return dead_letter(
        stage="write",
        error=f"BigQuery {what}{into}: {error}",
        payload=json.dumps(row, default=str, ensure_ascii=False).encode(
            "utf-8", "backslashreplace"
        ),
        message_id=row.get("message_id") if isinstance(row.get("message_id"), str) else None,
        publish_time=row.get("publish_time"),
        now=now,
    )


def _text(letter: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = letter.get(name)
    return value if isinstance(value, str) and len(value) <= limit else None


def _payload(letter: Mapping[str, Any]) -> tuple[bytes | None, bool]:
    """The dead letter's payload bytes, and whether they are its payloadBytes.

    payloadBytes if they decode, else payloadString encoded: text that was decoded with
    replacement characters, so not the message's bytes when it was not UTF-8.
    """
    try:
        return base64.b64decode(letter["payloadBytes"], validate=True), True
    except (KeyError, TypeError, ValueError, binascii.Error):
        text = letter.get("payloadString")
        return (text.encode("utf-8", errors="replace") if isinstance(text, str) else None), False


def reduced_dead_letter(failure: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """What is left of a dead letter BigQuery rejected, schema-valid by construction.

    Keeps the stage, message id, publish time and both reasons, and the payload only as bytes
    (bounded and redacted by `dead_letter`); payloadString, attributes and the stack
    trace, the parts that may not have fitted, are dropped.
    """
    _, letter, errors = failure
    letter = letter if isinstance(letter, Mapping) else {}
    payload, exact = _payload(letter)
    stage = letter.get("stage") if letter.get("stage") in STAGES else "write"
    original = str(letter.get("errorMessage"))[:MAX_REDUCED_TEXT]
    reduced = dead_letter(
        stage=stage,
        error=f"BigQuery rejected the dead letter ({insert_error_reasons(errors)}), kept reduced; "
        f"original error: {original}",
        payload=payload,
        message_id=_text(letter, "message_id", MAX_REDUCED_TEXT),
        publish_time=_text(letter, "publish_time", 64),
        now=now,
    )
    # payloadBytes are what the rejected letter kept (maybe redacted or cut): keep its state,
    # else the replay command would take a reduced payload for the message's exact bytes.
    # Bytes rebuilt from payloadString are no message's bytes: state unknown (not replayable).
    state = letter.get("payload_state") if exact else None
    state = state if state in PAYLOAD_STATES else None
    return {**reduced, "payloadString": None, "attributes": [], "payload_state": state}
