"""The summary of a local run: rows, dead letters by stage, countries and latency, read with SQL."""

from __future__ import annotations

import datetime as dt

import pytest

from localrun.resources import SHORT_RETRY
from localrun.stack import Counts, counts
from localrun.summary import collect, render


def test_summary_counts_stages_countries_and_latency(fresh_resources):
    r = fresh_resources
    published = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    rows = [
        {
            "customer_id": f"c{i}",
            "country": "Norway" if i < 3 else "Brazil",
            "publish_time": published.isoformat(),
            "ingested_at": (published + dt.timedelta(seconds=i + 1)).isoformat(),
        }
        for i in range(4)
    ]
    letters = [
        {"timestamp": published.isoformat(), "stage": stage, "errorMessage": "x"}
        for stage in ("parse", "validate", "validate")
    ]
    assert not r.bigquery.insert_rows_json(r.names.customers, rows, retry=SHORT_RETRY)
    assert not r.bigquery.insert_rows_json(r.names.customers_dlq, letters, retry=SHORT_RETRY)

    assert counts(r.bigquery, r.names) == Counts(4, 3)
    summary = collect(r.bigquery, r.names)
    assert summary.rows == summary.distinct_customers == 4
    assert summary.dead_letters_by_stage == {"parse": 1, "validate": 2}
    assert summary.top_countries == [("Norway", 3), ("Brazil", 1)]
    assert summary.latency_p50_ms == pytest.approx(2500)
    assert "p50 2.50s" in render(summary)
