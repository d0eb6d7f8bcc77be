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
# One dead letter per message, whatever it holds: it lists the first MAX_LISTED_USERS invalid
# users of an envelope (each reason cut at MAX_REASON_LENGTH characters) and counts the rest.
MAX_LISTED_USERS = 20
MAX_REASON_LENGTH = 500
MAX_STACKTRACE_LENGTH = 8_000
# The bound `dead_letter_bound` states and the tests hold every message to: a dead letter is
# at most DEAD_LETTER_SIZE_FACTOR times the message's size plus DEAD_LETTER_OVERHEAD bytes.
DEAD_LETTER_SIZE_FACTOR = 8
DEAD_LETTER_OVERHEAD = 96 * 1024

# API 1.1 dates ("2015-11-04 22:09:36", no zone: read as UTC); 1.0 dates are Unix seconds,
# here limited to what BigQuery's TIMESTAMP holds (0001-01-01 .. 9999-12-31).
_LEGACY_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_UNIX_SECONDS = (-62_135_596_800, 253_402_300_799)
# API 1.0-1.2 street: "<number> <name>", e.g. "8929 valwood pkwy".
_LEGACY_STREET = re.compile(r"(?P<number>\d{1,9}) +(?P<name>\S.*)", re.DOTALL)
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


def _shown(value: Any, limit: int = 80) -> str:
    """A scalar as in `repr`, cut at `limit`; a container by its JSON type only (its repr
    could be megabytes long, or nested deeper than the recursion limit)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{value if not isinstance(value, str) else value[: limit + 1]!r:.{limit}}"
    return f"(a JSON {_json_type(value)})"


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
    if not value.isascii():
        _check_utf8(path, value)
    return value


def _check_utf8(path: str, value: str) -> None:
    """JSON text may escape a lone UTF-16 surrogate ("\\ud800"); no UTF-8 encoder accepts it.

    Such a row would pass every check and then fail the bundle wherever Beam encodes elements
    (Dataflow, FnApiRunner: `StrUtf8Coder` and the pickling coders all encode to UTF-8), and a
    failing streaming bundle is retried forever. So it is a dead letter here.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidCustomer(
            f"{path} cannot be encoded as UTF-8: {error.reason} at character {error.start} "
            f"({value[error.start : error.end]!a})"
        ) from None


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


def _instant(user: Mapping[str, Any], key: str) -> datetime | None:
    """`dob` or `registered` as an aware UTC datetime, in any API version's form.

    1.2-1.4: an object whose `date` is ISO 8601 with a zone (1.2 without milliseconds);
    1.1: a bare "YYYY-MM-DD HH:MM:SS" string; 1.0: a bare number of Unix seconds.
    """
    node = _at(user, key)
    if isinstance(node, Mapping):
        path = f"{key}.date"
        value = _text(user, path)
        if value is None:
            return None
        try:
            return schema.parse_timestamp(value).astimezone(UTC)
        except ValueError:
            raise InvalidCustomer(
                f"{path} {value!r:.80} is not an ISO 8601 timestamp with a time zone"
            ) from None
    if node is None:
        return None
    is_number = isinstance(node, int) and not isinstance(node, bool)
    try:
        if isinstance(node, str) and _LEGACY_DATE.fullmatch(node):
            return datetime.fromisoformat(node).replace(tzinfo=UTC)
        if is_number and _UNIX_SECONDS[0] <= node <= _UNIX_SECONDS[1]:
            return datetime.fromtimestamp(node, UTC)
    except ValueError:  # e.g. month 13
        pass
    raise InvalidCustomer(
        f"{key} {_shown(node)} is neither an object with a date (API 1.2+), "
        "a 'YYYY-MM-DD HH:MM:SS' string (1.1) nor Unix seconds (1.0)"
    )


def _street(user: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """(number, name): an object from API 1.3 on, "<number> <name>" text before."""
    if isinstance(_at(user, "location.street"), Mapping):
        return _integer(user, "location.street.number"), _text(user, "location.street.name")
    street = _text(user, "location.street")
    if street is None:
        return None, None
    if parts := _LEGACY_STREET.fullmatch(street):
        return int(parts["number"]), parts["name"]
    return None, street


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
    """One randomuser user (API 1.0-1.4, any `inc`/`exc` selection) as a `customers` row.

    Only `login.uuid` is required; every other column is null where the user has no value
    (the mapping of older versions is in pipeline/README.md). Only the columns of the schema
    are picked, so a credential the producer failed to strip can never reach the table.
    Raises InvalidCustomer with the precise reason otherwise.
    """
    if not isinstance(user, Mapping):
        raise InvalidCustomer(f"a user must be a JSON object, got {_json_type(user)}")
    if _at(user, "login") is None:
        raise InvalidCustomer("login is missing: login.uuid is the customer_id")
    customer_id = _text(user, "login.uuid")
    if customer_id is None:
        raise InvalidCustomer(
            "login.uuid is missing: it is the customer_id (API versions 1.0 and 1.1 send none)"
        )
    if not _UUID.fullmatch(customer_id):
        raise InvalidCustomer(f"login.uuid {customer_id!r:.80} is not a UUID")
    registered_at = _instant(user, "registered")
    born = _instant(user, "dob")
    street_number, street_name = _street(user)

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
        "registered_at": _rfc3339(registered_at) if registered_at else None,
        "street_number": street_number,
        "street_name": street_name,
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
    if schema.json_size(letter) > schema.MAX_STREAMING_ROW_BYTES:
        # Bytes that are not UTF-8 or are control characters grow 6-fold in payloadString's
        # JSON (\ufffd, \u0001); payloadBytes still holds every byte kept.
        letter["payloadString"] = None
        letter["errorMessage"] += " [payloadString left out to fit BigQuery's row size limit]"
    return letter


# --- message -> rows and dead letters -----------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one message became: its rows and at most one dead letter (never neither)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _Scanner:
    """Walks JSON text value by value with the standard library's own decoder (`raw_decode`).

    Same grammar and error messages as `json.loads`, but an envelope's `results` can be read
    one element at a time instead of as one list of every user.
    """

    def __init__(self, text: str):
        self.text = text
        self.index = 0

    def error(self, expecting: str) -> InvalidMessage:
        return InvalidMessage(
            f"payload is not JSON: {json.JSONDecodeError(expecting, self.text, self.index)}"
        )

    def at(self, token: str) -> bool:
        """Whether the next non-space text is `token` (nothing is consumed)."""
        self.index = _WHITESPACE.match(self.text, self.index).end()
        return self.text.startswith(token, self.index)

    def take(self, tokens: str, expecting: str) -> str:
        """Consumes the next non-space character, which must be one of `tokens`."""
        self.index = _WHITESPACE.match(self.text, self.index).end()
        if self.index < len(self.text) and self.text[self.index] in tokens:
            self.index += 1
            return self.text[self.index - 1]
        raise self.error(expecting)

    def value(self) -> Any:
        self.index = _WHITESPACE.match(self.text, self.index).end()
        try:
            value, self.index = _DECODER.raw_decode(self.text, self.index)
        except RecursionError:
            raise self.error("Nesting too deep") from None
        except ValueError as error:
            raise InvalidMessage(f"payload is not JSON: {error}") from None
        return value

    def key(self) -> str:
        if not self.at('"'):
            raise self.error("Expecting property name enclosed in double quotes")
        key = self.value()
        self.take(":", "Expecting ':' delimiter")
        return key

    def elements(self) -> Iterator[Any]:
        """The array's elements, decoded one at a time."""
        self.take("[", "Expecting '['")
        if self.at("]"):
            self.take("]", "Expecting ']'")
            return
        while True:
            yield self.value()
            if self.take(",]", "Expecting ',' delimiter") == "]":
                return

    def finish(self) -> None:
        self.index = _WHITESPACE.match(self.text, self.index).end()
        if self.index < len(self.text):
            raise self.error("Extra data")

    def kind(self) -> str:
        """The JSON type of the document; an array is not decoded (it may hold millions)."""
        if self.at("["):
            return "array"
        document = self.value()
        self.finish()
        return _json_type(document)


def iter_users(payload: bytes | None) -> Iterator[tuple[int | None, Any]]:
    """The users of a payload, one at a time: (None, user) for a single user, or
    (index, user) for each element of an API envelope's `results`.

    An envelope is decoded one `results` element at a time, so a 10 MB envelope of 3 million
    users never becomes 3 million objects at once. Raises InvalidMessage, possibly after some
    users were yielded (JSON that breaks off later): the caller then drops what it built.
    """
    if not payload:
        raise InvalidMessage("payload is empty")
    try:
        scan = _Scanner(payload.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidMessage(f"payload is not UTF-8: {error}") from None
    if not scan.at("{"):
        raise InvalidMessage(
            f"payload must be a JSON object (a user or an API envelope), got {scan.kind()}"
        )
    scan.take("{", "Expecting '{'")
    document: dict[str, Any] = {}
    envelope_users: int | None = None
    more = not scan.at("}")
    if not more:
        scan.take("}", "Expecting '}'")
    while more:
        key = scan.key()
        if key == "results" and scan.at("["):
            if envelope_users is not None:
                raise InvalidMessage("envelope has more than one results array")
            envelope_users = 0
            for user in scan.elements():
                yield envelope_users, user
                envelope_users += 1
        else:
            document[key] = scan.value()
        more = scan.take(",}", "Expecting ',' delimiter") == ","
    scan.finish()
    if envelope_users == 0:
        raise InvalidMessage("envelope results is empty")
    if envelope_users is None:
        yield None, _single_user(document)


def _single_user(document: dict[str, Any]) -> dict[str, Any]:
    if "results" in document:
        raise InvalidMessage(
            f"envelope results must be an array, got {_json_type(document['results'])}"
        )
    if "error" in document and "login" not in document:
        raise InvalidMessage(f"payload is an API error response: {_shown(document['error'], 200)}")
    return document


def _clip(text: str, limit: int) -> str:
    return (
        text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"
    )


@dataclass
class _Rejections:
    """The invalid users of one message, summarised in bounded space however many there are."""

    users: int = 0
    invalid: int = 0
    reasons: list[str] = field(default_factory=list)
    stacktrace: str | None = None

    def add(self, where: int | None, reason: str, stacktrace: str | None = None) -> None:
        self.invalid += 1
        if len(self.reasons) < MAX_LISTED_USERS:
            prefix = "" if where is None else f"results[{where}]: "
            self.reasons.append(prefix + _clip(reason, MAX_REASON_LENGTH))
        if stacktrace and self.stacktrace is None:
            self.stacktrace = _clip(stacktrace, MAX_STACKTRACE_LENGTH)

    def error_message(self) -> str:
        listed = "; ".join(self.reasons)
        if self.invalid > len(self.reasons):
            listed += f"; and {self.invalid - len(self.reasons)} more"
        if self.users == 1 and self.reasons and not self.reasons[0].startswith("results["):
            return listed
        return f"{self.invalid} of {self.users} users in the envelope are invalid: {listed}"


def _error_text(error: Exception) -> str:
    """repr(error), which can itself fail (an argument nested past the recursion limit)."""
    try:
        return repr(error)
    except Exception:
        return f"{type(error).__name__} (its text could not be rendered)"


def _stacktrace() -> str:
    try:
        return traceback.format_exc()
    except Exception:
        return "(the stack trace could not be rendered)"


def process_message(
    payload: bytes | None,
    attributes: Mapping[str, str] | None = None,
    *,
    message_id: str | None = None,
    publish_time: datetime | Timestamp | str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Rows for the usable users of one message, and one dead letter if anything was unusable.

    The dead letter names each invalid user's index and reason (the first MAX_LISTED_USERS,
    then "and N more") and stores the payload once, so its size is bounded by the message's:
    see `dead_letter_bound`. Users are processed one at a time. Never raises: an unexpected
    error becomes a dead letter with its stack trace.
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

    rows: list[dict[str, Any]] = []
    rejections = _Rejections()
    try:
        for where, user in iter_users(payload):
            rejections.users += 1
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
                rejections.add(where, str(error))
            except Exception as error:
                rejections.add(where, _error_text(error), _stacktrace())
            else:
                rows.append(row)
    except InvalidMessage as error:
        return Outcome(dead_letters=[rejected("parse", _clip(str(error), MAX_REASON_LENGTH))])
    except Exception as error:
        trace = _clip(_stacktrace(), MAX_STACKTRACE_LENGTH)
        return Outcome(
            dead_letters=[rejected("parse", _clip(_error_text(error), MAX_REASON_LENGTH), trace)]
        )
    if not rejections.invalid:
        return Outcome(rows=rows)
    letter = rejected("validate", rejections.error_message(), rejections.stacktrace)
    return Outcome(rows=rows, dead_letters=[letter])


def message_size(payload: bytes | None, attributes: Mapping[str, str] | None = None) -> int:
    """A Pub/Sub message's size as Pub/Sub counts it: data plus attribute keys and values."""
    size = len(payload or b"")
    for key, value in (attributes or {}).items():
        size += len(str(key).encode("utf-8", "surrogatepass"))
        size += len(str(value).encode("utf-8", "surrogatepass"))
    return size


def dead_letter_bound(payload: bytes | None, attributes: Mapping[str, str] | None = None) -> int:
    """The most bytes a message's dead letter takes as a JSON insert row (ASCII-escaped).

    payloadString costs at most 6 bytes per payload byte (a control byte or an invalid byte
    escaped as \\uXXXX), payloadBytes 4/3 (base64), attributes at most 6 per byte; both
    payload copies stop at MAX_DEAD_LETTER_PAYLOAD. The rest (error list, stack trace, lineage,
    JSON keys) is capped by MAX_LISTED_USERS, MAX_REASON_LENGTH, MAX_STACKTRACE_LENGTH.
    """
    return DEAD_LETTER_SIZE_FACTOR * message_size(payload, attributes) + DEAD_LETTER_OVERHEAD


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
        payload=json.dumps(row, default=str, ensure_ascii=False).encode(
            "utf-8", "backslashreplace"
        ),
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
