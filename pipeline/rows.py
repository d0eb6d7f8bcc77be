"""A randomuser user (API 1.0-1.4, any field selection) -> one `customers` row, or the reason not.

Plain typed functions, no Beam: the pipeline's DoFn calls them, and the producer's tests check
its fake users with them. One pass: each column has a precompiled extractor (its parent object,
its key, its check), each object on the way is looked up once per user, and every value is
checked as it is taken, so the row is valid by construction. Only what the user cannot decide
(the lineage columns, the partition window, the row size) is checked after.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import contract
from pipeline import tables, timestamps

if TYPE_CHECKING:  # for the hints only: rows need no Beam
    from apache_beam.utils.timestamp import Timestamp

# Generous for any real name, address or URL; anything longer is garbage or an attack.
MAX_TEXT_LENGTH = 2048

# API 1.1 dates ("2015-11-04 22:09:36", no zone: read as UTC); 1.0 dates are Unix seconds,
# here limited to what BigQuery's TIMESTAMP holds (0001-01-01 .. 9999-12-31).
_LEGACY_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_UNIX_SECONDS = (-62_135_596_800, 253_402_300_799)
# API 1.0-1.2 street: "<number> <name>", e.g. "8929 valwood pkwy".
_LEGACY_STREET = re.compile(r"(?P<number>\d{1,9}) +(?P<name>\S.*)", re.DOTALL)
UUID_PATTERN = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_UUID = re.compile(UUID_PATTERN)


# Named, like InvalidMessage, for what the value is rather than "...Error".
class InvalidCustomer(ValueError):  # noqa: N818
    """A user object that cannot become a `customers` row; the message says exactly why."""


_OBJECT = "object"
_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is dict or isinstance(value, Mapping):
        return _OBJECT
    return _JSON_TYPES.get(type(value), type(value).__name__)


def shown(value: Any, limit: int = 80) -> str:
    """A scalar as in `repr`, cut at `limit`; a container by its JSON type only (its repr
    could be megabytes long, or nested deeper than the recursion limit)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{value if not isinstance(value, str) else value[: limit + 1]!r:.{limit}}"
    return f"(a JSON {json_type(value)})"


def _is_object(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


Path = tuple[str, ...]


class _Objects(dict):
    """The objects of one user by path, each looked up once: None when missing or null.

    `objects[("location", "coordinates")]` walks only what no column has walked yet, and
    raises InvalidCustomer naming the first part on the way that is not an object.
    """

    def __missing__(self, path: Path) -> Mapping[str, Any] | None:
        parent = self[path[:-1]]
        value = None if parent is None else parent.get(path[-1])
        if value is not None and not _is_object(value):
            raise InvalidCustomer(f"{'.'.join(path)} must be an object, got {json_type(value)}")
        self[path] = value
        return value


def check_text(path: str, value: Any) -> str:
    """`value` if it is text BigQuery and Beam's coders accept; InvalidCustomer if not."""
    if type(value) is str and len(value) <= MAX_TEXT_LENGTH and value.isascii():
        return value  # the common case, in three cheap tests
    if not isinstance(value, str):
        raise InvalidCustomer(f"{path} must be a string, got {json_type(value)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidCustomer(
            f"{path} is {len(value)} characters long; the limit is {MAX_TEXT_LENGTH}"
        )
    # A row holding text UTF-8 cannot encode would pass every other check and then fail the
    # bundle wherever Beam encodes elements (Dataflow, FnApiRunner: `StrUtf8Coder` and the
    # pickling coders all encode to UTF-8); a failing streaming bundle is retried forever.
    if error := contract.utf8_error(value):
        raise InvalidCustomer(
            f"{path} cannot be encoded as UTF-8: {error.reason} at character {error.start} "
            f"({value[error.start : error.end]!a})"
        )
    return value


def _integer(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCustomer(f"{path} must be an integer, got {json_type(value)}")
    if not tables.INT64_MIN <= value <= tables.INT64_MAX:
        raise InvalidCustomer(f"{path} {value} does not fit in INT64")
    return value


def check_postcode(path: str, value: Any) -> str:
    """An integer for most countries, a string for CA, GB, NO (and NL in 1.3): always text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidCustomer(f"{path} must be a string or an integer, got {json_type(value)}")
    return check_text(path, value)


def _coordinate(limit: float) -> Callable[[str, Any], float]:
    """The API sends coordinates as decimal strings; numbers are accepted too."""

    def coordinate(path: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidCustomer(f"{path} must be a decimal string, got {json_type(value)}")
        try:
            number = float(value)
        except ValueError:
            raise InvalidCustomer(f"{path} {value!r:.80} is not a number") from None
        if not (math.isfinite(number) and -limit <= number <= limit):
            raise InvalidCustomer(f"{path} {value!r:.80} is outside [-{limit:g}, {limit:g}]")
        return number

    return coordinate


def _instant(objects: _Objects, key: str) -> str | None:
    """`dob` or `registered` as TIMESTAMP text (UTC, milliseconds), from any API version's form.

    1.2-1.4: an object whose `date` is ISO 8601 with a zone (1.2 without milliseconds);
    1.1: a bare "YYYY-MM-DD HH:MM:SS" string; 1.0: a bare number of Unix seconds.
    """
    node = objects[()].get(key)
    if node is None:
        return None
    if _is_object(node):
        path = f"{key}.date"
        value = node.get("date")
        if value is None:
            return None
        value = check_text(path, value)
        try:
            return timestamps.utc_timestamp(value)
        except ValueError:
            raise InvalidCustomer(
                f"{path} {value!r:.80} is not an ISO 8601 timestamp with a time zone"
            ) from None
    is_number = isinstance(node, int) and not isinstance(node, bool)
    try:
        if isinstance(node, str) and _LEGACY_DATE.fullmatch(node):
            return timestamps.format_timestamp(datetime.fromisoformat(node).replace(tzinfo=UTC))
        if is_number and _UNIX_SECONDS[0] <= node <= _UNIX_SECONDS[1]:
            return timestamps.format_timestamp(datetime.fromtimestamp(node, UTC))
    except ValueError:  # e.g. month 13
        pass
    raise InvalidCustomer(
        f"{key} {shown(node)} is neither an object with a date (API 1.2+), "
        "a 'YYYY-MM-DD HH:MM:SS' string (1.1) nor Unix seconds (1.0)"
    )


def _street(objects: _Objects) -> tuple[int | None, str | None]:
    """(number, name): an object from API 1.3 on, "<number> <name>" text before."""
    location = objects[("location",)]
    street = None if location is None else location.get("street")
    if street is None:
        return None, None
    if _is_object(street):
        number, name = street.get("number"), street.get("name")
        return (
            None if number is None else _integer("location.street.number", number),
            None if name is None else check_text("location.street.name", name),
        )
    street = check_text("location.street", street)
    if parts := _LEGACY_STREET.fullmatch(street):
        return int(parts["number"]), parts["name"]
    return None, street


# The columns taken straight from one user value, in the order their checks run (which decides
# the reason given when a user has several faults): (column, parent object, key, dotted path,
# check). The others (customer_id, the dates, the street, lineage) are built in to_customer_row.
_Column = tuple[str, Path, str, str, Callable[[str, Any], Any]]


def _column(column: str, path: str, check: Callable[[str, Any], Any] = check_text) -> _Column:
    *parent, key = path.split(".")
    return column, tuple(parent), key, path, check


USER_COLUMNS: tuple[_Column, ...] = (
    _column("username", "login.username"),
    _column("title", "name.title"),
    _column("first_name", "name.first"),
    _column("last_name", "name.last"),
    _column("gender", "gender"),
    _column("email", "email"),
    _column("phone", "phone"),
    _column("cell", "cell"),
    _column("city", "location.city"),
    _column("state", "location.state"),
    _column("country", "location.country"),
    _column("postcode", "location.postcode", check_postcode),
    _column("latitude", "location.coordinates.latitude", _coordinate(90)),
    _column("longitude", "location.coordinates.longitude", _coordinate(180)),
    _column("timezone_offset", "location.timezone.offset"),
    _column("nationality", "nat"),
    _column("national_id_name", "id.name"),  # id.value is never stored (docs/privacy.md)
    _column("picture_url", "picture.large"),
)
_LINEAGE_TEXT = ("message_id", "source", "replay_of")
# JSON with ASCII escapes spends at most 12 bytes on one character (an astral character is two
# \uXXXX escapes). A row's text from the user is at most this many characters, and the rest
# (keys, numbers, dates) far below 4 KB: so only long lineage text can make a row too big.
# (+ 2: customer_id and street_name, which come from user text outside USER_COLUMNS.)
ROW_BOUND_BEFORE_LINEAGE = 12 * MAX_TEXT_LENGTH * (len(USER_COLUMNS) + 2) + 4096
_BLANK_ROW = dict.fromkeys(tables.column_names(tables.CUSTOMERS))


def blank_row() -> dict[str, Any]:
    """A `customers` row with every column null."""
    return _BLANK_ROW.copy()


@dataclass(frozen=True)
class Lineage:
    """Where a row came from: the message's lineage columns of `customers`.

    `publish_time` arrives as Pub/Sub gives it (a datetime, a Beam Timestamp or RFC 3339 text);
    `ingested_at` None means now, when the row is built.
    """

    message_id: str | None = None
    publish_time: datetime | Timestamp | str | None = None
    source: str | None = None
    ingested_at: datetime | None = None
    replay_of: str | None = None


def to_customer_row(user: Mapping[str, Any], lineage: Lineage = Lineage()) -> dict[str, Any]:
    """One randomuser user (API 1.0-1.4, any `inc`/`exc` selection) as a `customers` row.

    Only `login.uuid` is required; every other column is null where the user has no value
    (the mapping of older versions is in pipeline/README.md). Only the columns of the schema
    are picked, so a credential the producer failed to strip can never reach the table.
    Raises InvalidCustomer with the precise reason otherwise.
    """
    return with_lineage(user_columns(user), lineage)


def user_columns(user: Mapping[str, Any]) -> dict[str, Any]:
    """The row of `user` without its lineage columns (null)."""
    if not _is_object(user):
        raise InvalidCustomer(f"a user must be a JSON object, got {json_type(user)}")
    if user.get("login") is None:  # before any lookup: the cheapest reject, and the commonest
        raise InvalidCustomer("login is missing: login.uuid is the customer_id")
    objects = _Objects({(): user})
    login = objects[("login",)]
    customer_id = login.get("uuid")
    if customer_id is None:
        raise InvalidCustomer(
            "login.uuid is missing: it is the customer_id (API versions 1.0 and 1.1 send none)"
        )
    customer_id = check_text("login.uuid", customer_id)
    if not _UUID.fullmatch(customer_id):
        raise InvalidCustomer(f"login.uuid {customer_id!r:.80} is not a UUID")
    registered_at = _instant(objects, "registered")
    born = _instant(objects, "dob")
    street_number, street_name = _street(objects)

    row = blank_row()
    row["customer_id"] = customer_id
    for column, parent_path, key, path, check in USER_COLUMNS:
        parent = objects[parent_path]
        if parent is not None and (value := parent.get(key)) is not None:
            plain = type(value) is str and len(value) <= MAX_TEXT_LENGTH and value.isascii()
            row[column] = value if plain and check is check_text else check(path, value)
    row["date_of_birth"] = born[:10] if born else None
    row["registered_at"] = registered_at
    row["street_number"] = street_number
    row["street_name"] = street_name
    return row


def with_lineage(row: dict[str, Any], lineage: Lineage) -> dict[str, Any]:
    """`row`, a user's columns, completed with the message's lineage; InvalidCustomer if the
    whole would break a rule of the table (the lineage text, the partition window, the size)."""
    ingested = lineage.ingested_at or datetime.now(UTC)
    row["message_id"] = lineage.message_id
    row["publish_time"] = timestamps.lineage_time(lineage.publish_time)
    row["ingested_at"] = timestamps.format_timestamp(ingested)
    row["source"] = lineage.source
    row["replay_of"] = lineage.replay_of
    if errors := _row_errors(row, ingested):
        raise InvalidCustomer(f"row does not match the customers schema: {'; '.join(errors)}")
    return row


def _row_errors(row: dict[str, Any], ingested: datetime) -> list[str]:
    """The rules of a streaming insert a row built above may still break: only what the builder
    has not checked as it took each value (the lineage text, the partition window, the size)."""
    errors = []
    lineage_length = 0
    for column in _LINEAGE_TEXT:
        value = row[column]
        if value is None:
            continue
        if not isinstance(value, str) or contract.utf8_error(value):
            errors.append(f"{column}: {value!r:.80} is not a valid STRING")
        else:
            lineage_length += len(value)
    if error := tables.partition_error_of_day(
        "ingested_at", ingested.astimezone(UTC).date(), datetime.now(UTC)
    ):
        errors.append(error)
    limit = tables.MAX_STREAMING_ROW_BYTES
    if (
        12 * lineage_length + ROW_BOUND_BEFORE_LINEAGE > limit
        and (size := tables.json_size(row)) > limit
    ):
        errors.append(f"row is {size} bytes as JSON; the limit is {limit}")
    return errors
