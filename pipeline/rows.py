"""A randomuser user (API 1.0-1.4, any field selection) -> one `customers` row, or the reason not.

Plain typed functions, no Beam: the producer's tests, the replay and the pipeline share them.
"""

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apache_beam.utils.timestamp import Timestamp

from pipeline import schema

# Generous for any real name, address or URL; anything longer is garbage or an attack.
MAX_TEXT_LENGTH = 2048

# API 1.1 dates ("2015-11-04 22:09:36", no zone: read as UTC); 1.0 dates are Unix seconds,
# here limited to what BigQuery's TIMESTAMP holds (0001-01-01 .. 9999-12-31).
_LEGACY_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_UNIX_SECONDS = (-62_135_596_800, 253_402_300_799)
# API 1.0-1.2 street: "<number> <name>", e.g. "8929 valwood pkwy".
_LEGACY_STREET = re.compile(r"(?P<number>\d{1,9}) +(?P<name>\S.*)", re.DOTALL)
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


# The name is part of the interface the producer relies on, hence no "Error" suffix.
class InvalidCustomer(ValueError):  # noqa: N818
    """A user object that cannot become a `customers` row; the message says exactly why."""


def _at(user: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; None when any part is missing or null."""
    value: Any = user
    walked = []
    for key in path.split("."):
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise InvalidCustomer(f"{'.'.join(walked)} must be an object, got {json_type(value)}")
        walked.append(key)
        value = value.get(key)
    return value


def json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "object"
    return names.get(type(value), type(value).__name__)


def shown(value: Any, limit: int = 80) -> str:
    """A scalar as in `repr`, cut at `limit`; a container by its JSON type only (its repr
    could be megabytes long, or nested deeper than the recursion limit)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{value if not isinstance(value, str) else value[: limit + 1]!r:.{limit}}"
    return f"(a JSON {json_type(value)})"


def _text(user: Mapping[str, Any], path: str) -> str | None:
    value = _at(user, path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCustomer(f"{path} must be a string, got {json_type(value)}")
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
        raise InvalidCustomer(f"{path} must be an integer, got {json_type(value)}")
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
            f"location.postcode must be a string or an integer, got {json_type(value)}"
        )
    return _text(user, "location.postcode")


def _coordinate(user: Mapping[str, Any], path: str, limit: float) -> float | None:
    """The API sends coordinates as decimal strings; numbers are accepted too."""
    value = _at(user, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidCustomer(f"{path} must be a decimal string, got {json_type(value)}")
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
        f"{key} {shown(node)} is neither an object with a date (API 1.2+), "
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
        raise InvalidCustomer(f"a user must be a JSON object, got {json_type(user)}")
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
        "registered_at": schema.format_timestamp(registered_at) if registered_at else None,
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
        "publish_time": schema.lineage_time(publish_time),
        "ingested_at": schema.format_timestamp(ingested_at or datetime.now(UTC)),
        "source": source,
        "replay_of": replay_of,
    }
    if errors := schema.insert_errors(row, schema.CUSTOMERS):
        raise InvalidCustomer(f"row does not match the customers schema: {'; '.join(errors)}")
    return row
