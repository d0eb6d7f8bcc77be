"""TIMESTAMP values as the tables store them: RFC 3339 text, UTC, milliseconds."""

from __future__ import annotations

import datetime
import re
from typing import Any

# The canonical text forms BigQuery documents for TIMESTAMP values in JSON rows.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
# The form `format_timestamp` prints, in which the tables store every TIMESTAMP.
_UTC_MILLISECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


def parse_timestamp(value: str) -> datetime.datetime:
    """An RFC 3339 timestamp with a time zone (what BigQuery accepts), as an aware datetime.

    Raises ValueError outside BigQuery's TIMESTAMP range, which is Python's in UTC.
    """
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"not an RFC 3339 timestamp with a time zone: {value!r:.80}")
    moment = datetime.datetime.fromisoformat(value)
    try:
        moment.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError(f"outside 0001-01-01 to 9999-12-31 UTC: {value!r:.80}") from None
    return moment


def utc_timestamp(value: str) -> str:
    """RFC 3339 text with a time zone as the TIMESTAMP text the tables store (UTC, milliseconds).

    Text already in that form, as the API sends it, is only checked (a day or time that does
    not exist raises), which costs a third of parsing and printing it again.
    """
    if _UTC_MILLISECONDS.fullmatch(value):
        datetime.datetime.fromisoformat(value)
        return value
    return format_timestamp(parse_timestamp(value))


def format_timestamp(moment: datetime.datetime) -> str:
    """An aware datetime as the RFC 3339 UTC text (milliseconds) the tables store."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: a time zone is required")
    # What contract.to_rfc3339(moment.isoformat()) gives, without printing and parsing again.
    # Formatted by hand: isoformat(timespec=...) takes twice as long, and every row has two.
    utc = moment.astimezone(datetime.UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond // 1000,
    )


def lineage_time(value: Any) -> str | None:
    """A Pub/Sub publish time as TIMESTAMP text: it arrives as a datetime, a Beam Timestamp
    (anything with `to_utc_datetime`) or RFC 3339 text."""
    if value is None:
        return None
    if hasattr(value, "to_utc_datetime"):
        value = value.to_utc_datetime(has_tz=True)
    if isinstance(value, str):
        value = parse_timestamp(value)
    return format_timestamp(value)
