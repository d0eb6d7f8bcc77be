"""Which dead letters a replay selects: one parameterised condition, times in three forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from replay.selection import Selection, parse_time

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_selection_is_one_parameterised_condition():
    since = datetime(2026, 11, 1, tzinfo=UTC)
    selection = Selection(
        stages=("validate",), since=since, error="x' OR TRUE --", message_ids=("1", "2")
    )
    where, parameters = selection.where()
    assert where == (
        "stage IN UNNEST(@stages) AND timestamp >= @since AND STRPOS(errorMessage, @error) > 0 "
        "AND message_id IN UNNEST(@message_ids)"
    )
    assert "OR TRUE" not in where
    values = {p.name: getattr(p, "value", None) or getattr(p, "values", None) for p in parameters}
    assert values == {
        "stages": ["validate"],
        "since": since,
        "error": "x' OR TRUE --",
        "message_ids": ["1", "2"],
    }
    assert Selection().where() == ("TRUE", [])


def test_times_are_dates_instants_or_durations_ago():
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_time("90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_time("7d", NOW) == NOW - timedelta(days=7)
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("last tuesday")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:00:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        ("2026-11-01T10:00:00+05:30", datetime(2026, 11, 1, 4, 30, tzinfo=UTC)),
    ],
)
def test_since_and_until_without_a_zone_are_utc_on_any_host(away_from_utc, text, expected):
    moment = parse_time(text)
    assert moment == expected
    assert moment.utcoffset() is not None


def test_durations_ago_count_from_utc_now_on_any_host(away_from_utc):
    before = datetime.now(UTC)
    moment = parse_time("2h")
    assert before - timedelta(hours=2) <= moment <= datetime.now(UTC) - timedelta(hours=2)
    assert Selection(since=parse_time("2026-11-01")).describe() == "since 2026-11-01T00:00:00+00:00"
