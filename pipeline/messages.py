"""One Pub/Sub message -> its `customers` rows and at most one dead letter (an `Outcome`).

The one parse path of the pipeline, in two steps:
1. `iter_users` decodes the payload into its users: a single user, or the `results` of an API
   envelope one at a time; a payload that is neither is a `parse` dead letter.
2. `rows.to_customer_row` makes each user a row, or gives the reason it cannot; the reasons of
   a message go into one bounded `validate` dead letter.
`process_message` never raises. Plain functions, no Beam graph.
"""

from __future__ import annotations

import functools
import json
import re
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import contract
from pipeline.dead_letters import (
    MAX_LISTED_USERS,
    MAX_REASON_LENGTH,
    MAX_STACKTRACE_LENGTH,
    dead_letter,
)
from pipeline.rows import InvalidCustomer, Lineage, json_type, shown, to_customer_row

if TYPE_CHECKING:  # for the hints only
    from apache_beam.utils.timestamp import Timestamp


class InvalidMessage(ValueError):  # noqa: N818
    """A Pub/Sub payload that is not a user or an API envelope of users."""


@dataclass(frozen=True)
class Outcome:
    """What one message became: its rows and at most one dead letter (never neither)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# After an array element: its separator, with the white space on both sides.
_SEPARATOR = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")


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

    def skip(self) -> None:
        """Consumes the one-character token `at` has just found (so it cannot be missing)."""
        self.index += 1

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
        """The array's elements, decoded one at a time; `at("[")` has found the array."""
        self.skip()
        if self.at("]"):
            self.skip()
            return
        # The loop of `value` and `take` inlined: the C scanner and one regex per element, so an
        # envelope of millions of tiny elements costs about a microsecond each. Any fault is
        # decoded again by `value` and `take`, which raise exactly what json.loads would.
        text, scan_once, separator = self.text, _DECODER.scan_once, _SEPARATOR.match
        while True:
            try:
                element, end = scan_once(text, self.index)
            except (StopIteration, ValueError, RecursionError):
                element, end = self.value(), self.index
            yield element
            if (after := separator(text, end)) is None:
                self.index = _WHITESPACE.match(text, end).end()
                raise self.error("Expecting ',' delimiter")
            self.index = after.end()
            if after[1] == "]":
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
        return json_type(document)


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
    if (document := _plain_object(payload, scan.text)) is not None:
        yield None, _single_user(document)
        return
    scan.skip()  # the "{" found above
    document: dict[str, Any] = {}
    envelope_users: int | None = None
    more = not scan.at("}")
    if not more:
        scan.skip()
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


def _plain_object(payload: bytes, text: str) -> dict[str, Any] | None:
    """The payload decoded in one call if it is an object without `results` (a single user,
    the common case); None otherwise. Whatever is unusual (bad JSON, a "results" key spelt
    with escapes) is left to the scanner, which names the fault."""
    if b'"results"' in payload:
        return None
    try:
        document = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return None if "results" in document else document


def _single_user(document: dict[str, Any]) -> dict[str, Any]:
    if "results" in document:
        raise InvalidMessage(
            f"envelope results must be an array, got {json_type(document['results'])}"
        )
    if "error" in document and "login" not in document:
        raise InvalidMessage(f"payload is an API error response: {shown(document['error'], 200)}")
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

    def add(self, where: int | None, error: Exception) -> None:
        """Counts the user `error` rejected; called in its `except` block. Only what the dead
        letter keeps is rendered: a million invalid users cost a counter each, no text."""
        self.invalid += 1
        expected = isinstance(error, InvalidCustomer)
        if len(self.reasons) < MAX_LISTED_USERS:
            prefix = "" if where is None else f"results[{where}]: "
            reason = str(error) if expected else _error_text(error)
            self.reasons.append(prefix + _clip(reason, MAX_REASON_LENGTH))
        if not expected and self.stacktrace is None:
            self.stacktrace = _clip(_stacktrace(), MAX_STACKTRACE_LENGTH)

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
    then "and N more") and stores the payload once, so its size is bounded by the message's
    (pipeline/README.md, "Dead letters are bounded"). Users are processed one at a time. Never
    raises: an unexpected error becomes a dead letter with its stack trace.
    """
    now = now or datetime.now(UTC)
    attributes = attributes or {}
    lineage = Lineage(
        message_id=message_id,
        publish_time=publish_time,
        source=attributes.get(contract.ATTR_SOURCE),
        ingested_at=now,
        replay_of=attributes.get(contract.ATTR_REPLAY_OF),
    )
    letter = functools.partial(
        dead_letter,
        payload=payload,
        attributes=attributes,
        message_id=message_id,
        publish_time=publish_time,
        now=now,
    )
    rejections = _Rejections()
    try:
        rows = _rows(payload, lineage, rejections)
    except InvalidMessage as error:
        return Outcome(
            dead_letters=[letter(stage="parse", error=_clip(str(error), MAX_REASON_LENGTH))]
        )
    except Exception as error:
        reason = _clip(_error_text(error), MAX_REASON_LENGTH)
        trace = _clip(_stacktrace(), MAX_STACKTRACE_LENGTH)
        return Outcome(dead_letters=[letter(stage="parse", error=reason, stacktrace=trace)])
    if not rejections.invalid:
        return Outcome(rows=rows)
    reason, trace = rejections.error_message(), rejections.stacktrace
    return Outcome(
        rows=rows, dead_letters=[letter(stage="validate", error=reason, stacktrace=trace)]
    )


def _rows(payload: bytes | None, lineage: Lineage, rejections: _Rejections) -> list[dict[str, Any]]:
    """The rows of the message's valid users; each invalid one is counted in `rejections`.
    Raises what `iter_users` raises: then the message as a whole is a dead letter."""
    rows = []
    for where, user in iter_users(payload):
        rejections.users += 1
        try:
            rows.append(to_customer_row(user, lineage))
        except Exception as error:
            rejections.add(where, error)
    return rows
