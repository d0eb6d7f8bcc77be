"""Pub/Sub message -> `customers` rows or `customers_dlq` dead letters.

The logic is plain typed functions (`to_customer_row`, `process_message`, `write_failure`)
that need no pipeline to run or test; the DoFns and PTransforms at the bottom only wire them
into one and count what happens, in the Beam metrics namespace `customers`.
"""

import base64
import json
import math
import re
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

import contract
from pipeline import schema
from pipeline.dedupe import DeduplicateCustomers

METRICS_NAMESPACE = "customers"
DEAD_LETTER = "dead_letter"
STAGES = schema.STAGES

# Generous for any real name, address or URL; anything longer is garbage or an attack.
MAX_TEXT_LENGTH = 2048
# Dead letters keep at most this much of a payload, so that even a 10 MB Pub/Sub message
# still fits BigQuery's streaming row limit (payloadString and base64 payloadBytes both hold it).
MAX_DEAD_LETTER_PAYLOAD = 1_000_000
# ... and at most this many characters of the error and of the stack trace.
MAX_DEAD_LETTER_TEXT = 65_536

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# A credential field's value in raw JSON text, even in truncated or otherwise broken JSON.
_CREDENTIAL_VALUE = re.compile(
    rb'("(?:' + b"|".join(key.encode() for key in contract.CREDENTIAL_FIELDS) + rb')"\s*:\s*)'
    rb'"(?:[^"\\]|\\.)*(?:"|$)'
)


# Names are part of the interface the producer relies on, hence no "Error" suffix.
class InvalidCustomer(ValueError):  # noqa: N818
    """A user object that cannot become a `customers` row; the message says exactly why."""


class InvalidMessage(ValueError):  # noqa: N818
    """A Pub/Sub payload that is not a user or an API envelope of users."""


# --- user -> row --------------------------------------------------------------------------


def _at(user: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; None when any part is missing or null."""
    value: Any = user
    walked = []
    for key in path.split("."):
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise InvalidCustomer(f"{'.'.join(walked)} must be an object, got {_json_type(value)}")
        walked.append(key)
        value = value.get(key)
    return value


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "object"
    return names.get(type(value), type(value).__name__)


def _text(user: Mapping[str, Any], path: str) -> str | None:
    value = _at(user, path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCustomer(f"{path} must be a string, got {_json_type(value)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidCustomer(
            f"{path} is {len(value)} characters long; the limit is {MAX_TEXT_LENGTH}"
        )
    return value


def _integer(user: Mapping[str, Any], path: str) -> int | None:
    value = _at(user, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCustomer(f"{path} must be an integer, got {_json_type(value)}")
    if not schema.INT64_MIN <= value <= schema.INT64_MAX:
        raise InvalidCustomer(f"{path} {value} does not fit in INT64")
    return value


def _postcode(user: Mapping[str, Any]) -> str | None:
    """An integer for most countries, a string for CA, GB, NO (and NL in 1.3): always text."""
    value = _at(user, "location.postcode")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise InvalidCustomer(
            f"location.postcode must be a string or an integer, got {_json_type(value)}"
        )
    return _text(user, "location.postcode")


def _coordinate(user: Mapping[str, Any], path: str, limit: float) -> float | None:
    """The API sends coordinates as decimal strings; numbers are accepted too."""
    value = _at(user, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidCustomer(f"{path} must be a decimal string, got {_json_type(value)}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidCustomer(f"{path} {value!r:.80} is not a number") from None
    if not (math.isfinite(number) and -limit <= number <= limit):
        raise InvalidCustomer(f"{path} {value!r:.80} is outside [-{limit:g}, {limit:g}]")
    return number


def _instant(user: Mapping[str, Any], path: str) -> datetime | None:
    value = _text(user, path)
    if value is None:
        return None
    try:
        return schema.parse_timestamp(value).astimezone(UTC)
    except ValueError:
        raise InvalidCustomer(
            f"{path} {value!r:.80} is not an ISO 8601 timestamp with a time zone"
        ) from None


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: a time zone is required")
    return contract.to_rfc3339(moment.isoformat())


def _lineage_time(value: datetime | Timestamp | str | None) -> str | None:
    """Pub/Sub publish times arrive as datetimes, Beam Timestamps or RFC 3339 text."""
    if value is None:
        return None
    if isinstance(value, Timestamp):
        value = value.to_utc_datetime(has_tz=True)
    if isinstance(value, str):
        value = schema.parse_timestamp(value)
    return _rfc3339(value)


def to_customer_row(
    user: Mapping[str, Any],
    *,
    message_id: str | None = None,
    publish_time: datetime | Timestamp | str | None = None,
    source: str | None = None,
    ingested_at: datetime | None = None,
    replay_of: str | None = None,
) -> dict[str, Any]:
    """One randomuser 1.3/1.4 user as a `customers` row, ready for `insert_rows_json`.

    Only the columns of the schema are picked, so a credential the producer failed to strip
    can never reach the table. Raises InvalidCustomer with the precise reason otherwise.
    """
    if not isinstance(user, Mapping):
        raise InvalidCustomer(f"a user must be a JSON object, got {_json_type(user)}")
    if _at(user, "login") is None:
        raise InvalidCustomer("login is missing")
    customer_id = _text(user, "login.uuid")
    if customer_id is None:
        raise InvalidCustomer("login.uuid is missing")
    if not _UUID.fullmatch(customer_id):
        raise InvalidCustomer(f"login.uuid {customer_id!r:.80} is not a UUID")
    registered_at = _instant(user, "registered.date")
    if registered_at is None:
        raise InvalidCustomer("registered.date is missing")
    born = _instant(user, "dob.date")

    row = {
        "customer_id": customer_id,
        "username": _text(user, "login.username"),
        "title": _text(user, "name.title"),
        "first_name": _text(user, "name.first"),
        "last_name": _text(user, "name.last"),
        "gender": _text(user, "gender"),
        "email": _text(user, "email"),
        "phone": _text(user, "phone"),
        "cell": _text(user, "cell"),
        "date_of_birth": born.date().isoformat() if born else None,
        "registered_at": _rfc3339(registered_at),
        "street_number": _integer(user, "location.street.number"),
        "street_name": _text(user, "location.street.name"),
        "city": _text(user, "location.city"),
        "state": _text(user, "location.state"),
        "country": _text(user, "location.country"),
        "postcode": _postcode(user),
        "latitude": _coordinate(user, "location.coordinates.latitude", 90),
        "longitude": _coordinate(user, "location.coordinates.longitude", 180),
        "timezone_offset": _text(user, "location.timezone.offset"),
        "nationality": _text(user, "nat"),
        "national_id_name": _text(user, "id.name"),
        "national_id_value": _text(user, "id.value"),
        "picture_url": _text(user, "picture.large"),
        "message_id": message_id,
        "publish_time": _lineage_time(publish_time),
        "ingested_at": _rfc3339(ingested_at or datetime.now(UTC)),
        "source": source,
        "replay_of": replay_of,
    }
    if errors := schema.insert_errors(row, schema.CUSTOMERS):
        raise InvalidCustomer(f"row does not match the customers schema: {'; '.join(errors)}")
    return row


# --- dead letters -------------------------------------------------------------------------


def redact_credentials(payload: bytes) -> bytes:
    """The payload with every credential field's value replaced by null, the rest untouched.

    Works on raw bytes, so it also cleans truncated JSON and payloads that are not UTF-8.
    """
    return _CREDENTIAL_VALUE.sub(rb"\1null", payload)


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
    state = schema.PAYLOAD_REDACTED if kept != (payload or b"") else schema.PAYLOAD_ORIGINAL
    if len(kept) > MAX_DEAD_LETTER_PAYLOAD:
        error = f"{error} [payload truncated to {MAX_DEAD_LETTER_PAYLOAD} of {len(kept)} bytes]"
        kept = kept[:MAX_DEAD_LETTER_PAYLOAD]
        state = schema.PAYLOAD_TRUNCATED
    if stage == "write":  # the payload is the row BigQuery rejected, not the message
        state = schema.PAYLOAD_ROW
    try:
        published = _lineage_time(publish_time)
    except ValueError:
        published = None
    letter = {
        "timestamp": _rfc3339(now or datetime.now(UTC)),
        "payloadString": kept.decode("utf-8", errors="replace") if payload is not None else None,
        "payloadBytes": base64.b64encode(kept).decode("ascii") if payload is not None else None,
        "attributes": [
            {"key": str(key), "value": str(value)}
            for key, value in sorted((attributes or {}).items())
        ],
        "errorMessage": error[:MAX_DEAD_LETTER_TEXT],
        "stacktrace": stacktrace[:MAX_DEAD_LETTER_TEXT] if stacktrace else stacktrace,
        "message_id": message_id,
        "publish_time": published,
        "stage": stage,
        "payload_state": state,
    }
    if schema.json_size(letter) > schema.MAX_STREAMING_ROW_BYTES:
        # Bytes that are not UTF-8 or are control characters grow 6-fold in payloadString's
        # JSON (\ufffd, \u0001); payloadBytes still holds every byte kept.
        letter["payloadString"] = None
        letter["errorMessage"] += " [payloadString left out to fit BigQuery's row size limit]"
    return letter


# --- message -> rows and dead letters -----------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one message became. Every message yields at least one row or dead letter."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_users(payload: bytes | None) -> list[tuple[str, Any]]:
    """The users in a payload, each with where it was: one user, or an API envelope's results."""
    if not payload:
        raise InvalidMessage("payload is empty")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidMessage(f"payload is not UTF-8: {error}") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidMessage(f"payload is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidMessage(
            f"payload must be a JSON object (a user or an API envelope), got {_json_type(document)}"
        )
    if "results" not in document:
        if "error" in document and "login" not in document:
            raise InvalidMessage(f"payload is an API error response: {document['error']!r:.200}")
        return [("", document)]
    users = document["results"]
    if not isinstance(users, list):
        raise InvalidMessage(f"envelope results must be an array, got {_json_type(users)}")
    if not users:
        raise InvalidMessage("envelope results is empty")
    return [(f"results[{index}]: ", user) for index, user in enumerate(users)]


def process_message(
    payload: bytes | None,
    attributes: Mapping[str, str] | None = None,
    *,
    message_id: str | None = None,
    publish_time: datetime | Timestamp | str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Rows for the usable users of one message, a dead letter for everything else.

    Never raises: an unexpected error becomes a dead letter with its stack trace.
    """
    now = now or datetime.now(UTC)
    attributes = attributes or {}

    def rejected(stage: str, error: str, stacktrace: str | None = None) -> dict[str, Any]:
        return dead_letter(
            stage=stage,
            error=error,
            payload=payload,
            attributes=attributes,
            message_id=message_id,
            publish_time=publish_time,
            stacktrace=stacktrace,
            now=now,
        )

    try:
        users = parse_users(payload)
    except InvalidMessage as error:
        return Outcome(dead_letters=[rejected("parse", str(error))])
    except Exception as error:
        return Outcome(dead_letters=[rejected("parse", repr(error), traceback.format_exc())])

    outcome = Outcome()
    for where, user in users:
        try:
            row = to_customer_row(
                user,
                message_id=message_id,
                publish_time=publish_time,
                source=attributes.get(contract.ATTR_SOURCE),
                ingested_at=now,
                replay_of=attributes.get(contract.ATTR_REPLAY_OF),
            )
        except InvalidCustomer as error:
            outcome.dead_letters.append(rejected("validate", f"{where}{error}"))
        except Exception as error:
            outcome.dead_letters.append(
                rejected("validate", f"{where}{error!r}", traceback.format_exc())
            )
        else:
            outcome.rows.append(row)
    return outcome


def _describe_insert_errors(errors: Any) -> str:
    """BigQuery's insertErrors entries ({reason, location, message}) as one line."""
    if not isinstance(errors, Sequence) or isinstance(errors, str):
        return str(errors)
    parts = []
    for error in errors:
        if not isinstance(error, Mapping):
            parts.append(str(error))
            continue
        location = f" at {error['location']}" if error.get("location") else ""
        parts.append(f"{error.get('reason', 'error')}{location}: {error.get('message', '')}")
    return "; ".join(parts)


def write_failure(failure: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """A `write` dead letter for a row BigQuery rejected, with BigQuery's own error text.

    Accepts both shapes of `WriteToBigQuery(...).failed_rows_with_errors`: streaming inserts
    give `(destination, row, errors)`, the Storage Write API `{"failed_row", "error_message"}`.
    The payload is the rejected row as JSON.
    """
    if isinstance(failure, Mapping):
        destination, row, error = None, failure.get("failed_row"), failure.get("error_message")
        error = str(error)
    else:
        destination, row, errors = failure
        error = _describe_insert_errors(errors)
    row = row if isinstance(row, Mapping) else {"row": row}
    into = f" {destination}" if destination else ""
    return dead_letter(
        stage="write",
        error=f"BigQuery rejected the row{into}: {error}",
        payload=json.dumps(row, default=str, ensure_ascii=False).encode("utf-8"),
        message_id=row.get("message_id") if isinstance(row.get("message_id"), str) else None,
        publish_time=row.get("publish_time"),
        now=now,
    )


# --- Beam wiring --------------------------------------------------------------------------


class ParseMessages(beam.DoFn):
    """PubsubMessage -> `customers` rows (main output) and dead letters (tag DEAD_LETTER)."""

    def __init__(self):
        self._messages_read = Metrics.counter(METRICS_NAMESPACE, "messages_read")
        self._rows_built = Metrics.counter(METRICS_NAMESPACE, "rows_built")

    def process(self, message: PubsubMessage) -> Iterator[Any]:
        self._messages_read.inc()
        outcome = process_message(
            message.data,
            message.attributes,
            message_id=message.message_id,
            publish_time=message.publish_time,
        )
        self._rows_built.inc(len(outcome.rows))
        yield from outcome.rows
        for letter in outcome.dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)


class CountRows(beam.DoFn):
    """Passes elements through, counting them in the `customers` counter `name`."""

    def __init__(self, name: str):
        self._counter = Metrics.counter(METRICS_NAMESPACE, name)

    def process(self, element: Any) -> Iterator[Any]:
        self._counter.inc()
        yield element


class CountDeadLetters(beam.DoFn):
    """Passes dead letters through, counting them as `dead_letters_<stage>`."""

    def __init__(self):
        self._counters = {
            stage: Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{stage}") for stage in STAGES
        }

    def process(self, letter: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self._counters[letter["stage"]].inc()
        yield letter


class ToCustomerRows(beam.PTransform):
    """PubsubMessages -> (unique `customers` rows, `customers_dlq` dead letters)."""

    def __init__(self, dedup_window_seconds: int):
        super().__init__()
        self._dedup_window_seconds = dedup_window_seconds

    def expand(self, messages):
        parsed = messages | "Parse" >> beam.ParDo(ParseMessages()).with_outputs(
            DEAD_LETTER, main="rows"
        )
        rows = parsed.rows | "Deduplicate" >> DeduplicateCustomers(
            self._dedup_window_seconds, METRICS_NAMESPACE
        )
        return rows, parsed[DEAD_LETTER]
