"""TIMESTAMP text as the tables store it: RFC 3339, UTC, milliseconds; every other form refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from apache_beam.utils.timestamp import Timestamp

from pipeline import timestamps


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123Z"),  # the API's form: kept
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),  # API 1.2: no milliseconds
        ("2024-05-01T14:00:00.123456+02:00", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01 12:00:00-00:30", "2024-05-01T12:30:00.000Z"),
    ],
)
def test_utc_timestamp_stores_one_form(text, stored):
    assert timestamps.utc_timestamp(text) == stored


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30T00:00:00.000Z",  # the stored form, but no such day
        "2024-05-01T12:00:00",  # no zone
        "2024-05-01",
        "yesterday",
        "0001-01-01T00:30:00+01:00",  # before 0001-01-01 in UTC: outside TIMESTAMP's range
    ],
)
def test_utc_timestamp_refuses_what_is_not_a_zoned_instant(text):
    with pytest.raises(ValueError):
        timestamps.utc_timestamp(text)


def test_format_timestamp_needs_a_zone_and_keeps_milliseconds():
    east = timezone(timedelta(hours=5, minutes=45))
    moment = datetime(2024, 5, 1, 17, 45, 0, 999_999, tzinfo=east)
    assert timestamps.format_timestamp(moment) == "2024-05-01T12:00:00.999Z"
    with pytest.raises(ValueError, match="time zone is required"):
        timestamps.format_timestamp(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    "published",
    [
        datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC),
        Timestamp.of(datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC).timestamp()),
        "2024-05-01T12:00:00.25Z",
    ],
    ids=["datetime", "Beam Timestamp", "RFC 3339"],
)
def test_a_publish_time_in_any_form_pub_sub_gives_it(published):
    assert timestamps.lineage_time(published) == "2024-05-01T12:00:00.250Z"
    assert timestamps.lineage_time(None) is None


def test_stored_text_is_utc_whatever_the_host_zone(away_from_utc):
    east = timezone(timedelta(hours=2))
    assert timestamps.format_timestamp(datetime(2024, 5, 1, 14, tzinfo=east)) == (
        "2024-05-01T12:00:00.000Z"
    )
    assert timestamps.utc_timestamp("2024-05-01T14:00:00+02:00") == "2024-05-01T12:00:00.000Z"
    # The range is BigQuery's in UTC: the last hour of 9999 is in it, though past it in Kolkata.
    assert timestamps.utc_timestamp("9999-12-31T23:00:00Z") == "9999-12-31T23:00:00.000Z"
    assert timestamps.utc_timestamp("9999-12-31T23:00:00.5+00:00") == "9999-12-31T23:00:00.500Z"
    with pytest.raises(ValueError, match=r"^outside 0001-01-01 to 9999-12-31 UTC: "):
        timestamps.parse_timestamp("0001-01-01T00:30:00+01:00")
    with pytest.raises(ValueError, match=r"^not an RFC 3339 timestamp with a time zone: "):
        timestamps.parse_timestamp("2024-05-01T12:00:00")
