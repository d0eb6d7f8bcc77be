"""The summary of a local run: rows, dead letters by stage, countries and latency, read with SQL."""

from __future__ import annotations

import datetime as dt

import pytest

from localrun import summary as summary_module
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


def test_pace_is_the_rate_of_the_first_and_last_rows_to_land():
    # 100 rows/s up to 1,000 rows, then 10 rows/s up to 1,500, polled every 0.5 s
    polls = [(t / 2, min(50 * t, 1000)) for t in range(21)]
    polls += [(10 + t / 2, 1000 + 5 * t) for t in range(1, 101)]
    pace = summary_module.pace(polls, n=500)
    assert pace.first == pytest.approx(100)
    assert pace.last == pytest.approx(10)
    assert summary_module.pace(polls, n=1501) is None  # fewer rows than the pace needs
    assert summary_module.pace([], n=500) is None


def test_pace_interpolates_between_polls():
    # 0 rows at 0 s, 400 at 4 s, 1,000 at 10 s: the 1st row at 0.01 s, the 1,000th at 10 s
    pace = summary_module.pace([(0.0, 0), (4.0, 400), (10.0, 1000)], n=1000)
    assert pace.first == pytest.approx(999 / 9.99)
    assert pace.last == pace.first


def test_the_pace_line_is_what_bench_run_growth_reads_back():
    line = summary_module.render_pace(summary_module.Pace(first=152.4, last=31.6))
    match = summary_module.PACE_LINE.search(line)
    assert match, line
    assert match.groups() == (str(summary_module.PACE_ROWS), "152", "32")
