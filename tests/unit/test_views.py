"""views/*.sql: the views over `customers` are marketing's, and expose no direct identifier."""

from __future__ import annotations

import re

import pytest

import views
from tests.support import classification

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
