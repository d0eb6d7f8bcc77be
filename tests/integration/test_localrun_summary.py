"""The summary of a local run: rows, dead letters by stage, countries and latency, read with SQL."""

from __future__ import annotations

import datetime as dt
import math

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


def test_pace_is_the_rate_of_the_first_and_last_rows_built():
    # 1,000 rows at 100 rows/s, then 500 at 10 rows/s
    built = [i / 100 for i in range(1000)] + [10 + i / 10 for i in range(500)]
    pace = summary_module.pace(built, n=500)
    assert pace.first == pytest.approx(100)
    assert pace.last == pytest.approx(10)
    assert summary_module.pace(built, n=1000).last == pytest.approx(999 / (59.9 - 5))
    assert summary_module.pace(built, n=1501) is None  # fewer rows than the pace needs
    assert summary_module.pace([], n=500) is None
    assert summary_module.pace([1.0] * 3, n=3) == summary_module.Pace(math.inf, math.inf)


def test_pace_reads_when_each_row_was_built(fresh_resources):
    r = fresh_resources
    built = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    # inserted out of order, 10 ms apart for the first three rows then 1 s apart
    offsets = [0.02, 0.0, 2.02, 0.01, 1.02]
    rows = [
        {"customer_id": f"c{i}", "ingested_at": (built + dt.timedelta(seconds=s)).isoformat()}
        for i, s in enumerate(offsets)
    ]
    assert not r.bigquery.insert_rows_json(r.names.customers, rows, retry=SHORT_RETRY)
    times = summary_module.built_times(r.bigquery, r.names)
    assert times == pytest.approx([built.timestamp() + s for s in sorted(offsets)])
    pace = summary_module.pace(times, n=3)
    assert (pace.first, pace.last) == pytest.approx((100, 1))


def test_the_pace_line_is_what_bench_run_growth_reads_back():
    line = summary_module.render_pace(summary_module.Pace(first=152.4, last=31.6))
    match = summary_module.PACE_LINE.search(line)
    assert match, line
    assert match.groups() == (str(summary_module.PACE_ROWS), "152", "32")
