"""The views of views/*.sql on the BigQuery emulator: known rows in, the exact result out;
and the views over `customers`, marketing's, read no direct identifier.

The emulator runs the same SQL text Terraform gives BigQuery (DuckDB underneath, through
bqemulator's translation), so a construct either engine rejects fails here, or is checked by
hand against the comments in the SQL files.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

import views
from localrun.bad_messages import bad_messages
from localrun.resources import SHORT_RETRY, query
from pipeline.dead_letters import dead_letter, write_failure
from pipeline.messages import process_message
from tests.support import classification

NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def customer(customer_id: str, ingested: dt.datetime, **columns) -> dict:
    return {
        "customer_id": customer_id,
        "ingested_at": ingested.isoformat(),
        "message_id": f"m-{customer_id}-{ingested.timestamp():.0f}",
        **columns,
    }


def insert(resources, table: str, rows: list[dict]) -> None:
    assert not resources.bigquery.insert_rows_json(table, rows, retry=SHORT_RETRY)


def select(resources, sql: str) -> list[tuple]:
    return [tuple(row.values()) for row in query(resources.bigquery, sql, resources.names)]


def test_every_view_exists_with_its_description(fresh_resources):
    r = fresh_resources
    assert set(views.VIEWS) == {"new_customers_daily", "customer_segments", "dead_letters_last_day"}
    for name in views.VIEWS:
        table = r.bigquery.get_table(r.names.view(name), retry=SHORT_RETRY)
        assert table.table_type == "VIEW"
        assert table.description == views.description(name) and len(table.description) > 20


def test_new_customers_daily_counts_each_customer_once_on_its_utc_signup_day(fresh_resources):
    r = fresh_resources
    first = dt.datetime(2024, 3, 5, 9, 0, tzinfo=dt.UTC)
    insert(
        r,
        r.names.customers,
        [
            customer("a", first, registered_at="2024-03-01T23:30:00+00:00", country="Norway"),
            customer("b", first, registered_at="2024-03-01T00:10:00+00:00", country="Norway"),
            # 00:30 in UTC+2 is still 1 March in UTC
            customer("c", first, registered_at="2024-03-02T00:30:00+02:00", country="Finland"),
            customer("d", first, registered_at="2024-03-02T08:00:00+00:00", country="Brazil"),
            # a copy of "a" written after the duplicate window, with other values: the first wins
            customer(
                "a",
                first + dt.timedelta(hours=2),
                registered_at="2024-03-02T10:00:00+00:00",
                country="Sweden",
            ),
        ],
    )
    assert select(r, "SELECT * FROM {new_customers_daily} ORDER BY signup_date, country") == [
        (dt.date(2024, 3, 1), "Finland", 1),
        (dt.date(2024, 3, 1), "Norway", 2),
        (dt.date(2024, 3, 2), "Brazil", 1),
    ]


def test_customer_segments_bands_ages_on_todays_date(fresh_resources):
    r = fresh_resources
    registered = dt.datetime.combine(TODAY - dt.timedelta(days=10), dt.time(12), dt.UTC)
    born = {  # customer -> date of birth
        "turns-30-tomorrow": years_before(TODAY, 30) + dt.timedelta(days=1),
        "turned-30-today": years_before(TODAY, 30),
        "17": years_before(TODAY, 17),
        "18": years_before(TODAY, 18),
        "64": years_before(TODAY, 65) + dt.timedelta(days=1),
        "65": years_before(TODAY, 65),
        "no-birth-date": None,
    }
    rows = [
        customer(
            key,
            NOW,
            date_of_birth=day.isoformat() if day else None,
            registered_at=registered.isoformat(),
            gender="female",
            country="Norway",
            nationality="NO",
            email=f"{key}@example.com",
        )
        for key, day in born.items()
    ]
    rows.append({**rows[0], "ingested_at": (NOW + dt.timedelta(minutes=20)).isoformat()})
    insert(r, r.names.customers, rows)

    result = query(r.bigquery, "SELECT * FROM {customer_segments} ORDER BY customer_id", r.names)
    assert list(result[0].keys()) == [
        "customer_id",
        "age_band",
        "age",
        "gender",
        "country",
        "nationality",
        "registered_at",
        "days_since_registration",
    ]  # and no contact detail
    assert {row["customer_id"]: (row["age_band"], row["age"]) for row in result} == {
        "turns-30-tomorrow": ("25-34", 29),
        "turned-30-today": ("25-34", 30),
        "17": ("under 18", 17),
        "18": ("18-24", 18),
        "64": ("55-64", 64),
        "65": ("65+", 65),
        "no-birth-date": ("unknown", None),
    }
    assert {
        (row["gender"], row["country"], row["nationality"], row["days_since_registration"])
        for row in result
    } == {("female", "Norway", "NO", 10)}


def pipeline_dead_letters(now: dt.datetime) -> list[dict]:
    """Dead letters exactly as the pipeline writes them, for every defect `make run` publishes."""
    letters = [
        letter
        for message in bad_messages(16)
        for letter in process_message(
            message.data, message.attributes, message_id="1", publish_time=None, now=now
        ).dead_letters
    ]
    letters.append(
        write_failure(
            (
                "local-project:customer_stream.customers",
                {"customer_id": "x", "street_number": "twelve"},
                [{"reason": "invalid", "location": "street_number", "message": "not INT64"}],
            ),
            now=now,
        )
    )
    long_name = {"name": {"first": "x" * 3000}, "login": {"uuid": "y"}}
    letters.append(
        dead_letter(
            stage="validate",
            error="name.first is 3000 characters long; the limit is 2048",
            payload=str(long_name).encode() * 400,  # over 1 MB: the payload is cut
            now=now,
        )
    )
    return letters


def test_dead_letters_last_day_groups_real_dead_letters_by_stage_and_error_class(
    fresh_resources,
):
    r = fresh_resources
    recent = pipeline_dead_letters(NOW - dt.timedelta(hours=1))
    old = pipeline_dead_letters(NOW - dt.timedelta(days=2))  # outside the last day
    insert(r, r.names.customers_dlq, recent + old[:3])

    result = select(r, "SELECT stage, error_class, dead_letters FROM {dead_letters_last_day}")
    assert result == [
        ("validate", "login.uuid is missing", 4),  # with and without the envelope's results[0]
        ("parse", "payload is not JSON", 2),
        ("parse", "payload is not UTF-8", 2),
        ("parse", "payload must be a JSON object (a user or an API envelope), got array", 2),
        ("validate", "dob.date <value> is not an ISO 8601 timestamp with a time zone", 2),
        ("validate", "location.street.number must be an integer, got string", 2),
        (
            "validate",
            "registered.date <value> is not an ISO 8601 timestamp with a time zone",
            2,
        ),
        ("validate", "name.first is N characters long; the limit is 2048", 1),
        ("write", "BigQuery rejected the row local-project:customer_stream.customers", 1),
    ]
    assert sum(n for _, _, n in result) == len(recent)
    first_seen, last_seen = select(
        r, "SELECT MIN(first_seen), MAX(last_seen) FROM {dead_letters_last_day}"
    )[0]
    assert NOW - dt.timedelta(hours=1, seconds=5) < first_seen <= last_seen < NOW


# Columns that identify a person on their own (pipeline/schemas/classification.json).
DIRECT = {
    column for column, entry in classification()["customers"].items() if entry["class"] == "direct"
}
MARKETING = [name for name, sql in views.VIEWS.items() if "{dataset}.customers`" in sql]


def words(sql: str) -> set[str]:
    """The identifiers of a query, comments left out."""
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))


def test_the_marketing_views_are_the_views_over_customers():
    assert sorted(MARKETING) == ["customer_segments", "new_customers_daily"]
    assert "{dataset}.customers_dlq`" in views.VIEWS["dead_letters_last_day"]


@pytest.mark.parametrize("name", MARKETING)
def test_a_marketing_view_reads_no_direct_identifier(name):
    assert {"email", "phone", "first_name", "last_name", "street_name", "picture_url"} <= DIRECT
    assert not words(views.VIEWS[name]) & DIRECT


def test_the_check_sees_a_direct_identifier():
    assert words("SELECT customer_id, email AS contact FROM t -- phone") & DIRECT == {"email"}
