"""What a local run produced, read back from the BigQuery emulator with SQL."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from google.cloud import bigquery

from localrun.resources import StackNames, query

# The pace is measured over this many rows at each end of a run (`make bench-run` compares it).
PACE_ROWS = 1000
# The summary's pace line, as bench/run_growth.py reads it back.
PACE_LINE = re.compile(r"pace: +first (\d+) rows ([\d.]+|inf) rows/s, last \1 ([\d.]+|inf) rows/s")


@dataclass(frozen=True)
class Pace:
    """Rows/s over the first and over the last PACE_ROWS rows to land in BigQuery.

    A cost per row that grows with the rows before it shows as `last` well below `first`.
    """

    first: float
    last: float


def pace(built: Sequence[float], n: int = PACE_ROWS) -> Pace | None:
    """The pace of a run from the sorted times (s) its rows were built; None below n rows.

    Each row carries the moment the pipeline built it (`ingested_at`, milliseconds), so the pace
    needs no polling: at 500 rows/s, 1,000 rows take 2 s, too few polls to time them by.
    """
    if n < 2 or len(built) < n:
        return None

    def rate(first: float, last: float) -> float:
        return (n - 1) / (last - first) if last > first else math.inf

    return Pace(rate(built[0], built[n - 1]), rate(built[-n], built[-1]))


def built_times(client: bigquery.Client, names: StackNames) -> list[float]:
    """When each row of the run was built, in seconds since the epoch, oldest first."""
    micros = query(
        client, "SELECT UNIX_MICROS(ingested_at) AS t FROM {customers} ORDER BY t", names
    )
    return [row[0] / 1e6 for row in micros if row[0] is not None]


def render_pace(pace: Pace) -> str:
    return (
        f"  pace:          first {PACE_ROWS} rows {pace.first:.0f} rows/s, "
        f"last {PACE_ROWS} {pace.last:.0f} rows/s (built by the pipeline: ingested_at)"
    )


@dataclass(frozen=True)
class Summary:
    rows: int
    distinct_customers: int
    dead_letters_by_stage: dict[str, int]
    top_countries: list[tuple[str, int]]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    # (stage, error class, count) from the view dead_letters_last_day (views/*.sql)
    dead_letter_classes: list[tuple[str, str, int]]

    @property
    def dead_letters(self) -> int:
        return sum(self.dead_letters_by_stage.values())


def collect(client: bigquery.Client, names: StackNames, top: int = 5) -> Summary:
    rows, distinct = query(
        client, "SELECT COUNT(*), COUNT(DISTINCT customer_id) FROM {customers}", names
    )[0]
    stages = query(
        client, "SELECT stage, COUNT(*) FROM {customers_dlq} GROUP BY stage ORDER BY stage", names
    )
    countries = query(
        client,
        "SELECT country, COUNT(*) AS n FROM {customers} GROUP BY country ORDER BY n DESC, country",
        names,
    )[:top]
    # End-to-end latency: Pub/Sub accepted the message -> the pipeline built its row.
    latencies = [
        row[0]
        for row in query(
            client,
            "SELECT TIMESTAMP_DIFF(ingested_at, publish_time, MILLISECOND) FROM {customers}",
            names,
        )
        if row[0] is not None
    ]
    p50 = p95 = None
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        p50, p95 = cuts[49], cuts[94]
    elif latencies:
        p50 = p95 = float(latencies[0])
    classes = query(
        client, "SELECT stage, error_class, dead_letters FROM {dead_letters_last_day}", names
    )
    return Summary(
        rows=rows,
        distinct_customers=distinct,
        dead_letters_by_stage={stage: n for stage, n in stages},
        top_countries=[(country, n) for country, n in countries],
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        dead_letter_classes=[(stage, error_class, n) for stage, error_class, n in classes],
    )


def render(summary: Summary, unread_pulls: int = 0) -> str:
    stages = ", ".join(f"{stage} {n}" for stage, n in summary.dead_letters_by_stage.items())
    countries = ", ".join(f"{country} {n}" for country, n in summary.top_countries)
    lines = [
        f"  rows:          {summary.rows} ({summary.distinct_customers} distinct customers)",
        f"  dead letters:  {summary.dead_letters}" + (f" ({stages})" if stages else ""),
        f"  top countries: {countries or '-'}",
    ]
    if unread_pulls:
        lines.append(
            f"  unread:        {unread_pulls} Pub/Sub pulls failed "
            "(the read went on; see .run/logs/pipeline.log)"
        )
    if summary.latency_p50_ms is not None:
        lines.append(
            f"  latency:       p50 {summary.latency_p50_ms / 1000:.2f}s, "
            f"p95 {summary.latency_p95_ms / 1000:.2f}s (publish_time -> ingested_at)"
        )
    if summary.dead_letter_classes:
        lines.append("  dead letters of the last day by error class (view dead_letters_last_day):")
        lines += [
            f"    {n:>5}  {stage:<9} {error_class}"
            for stage, error_class, n in summary.dead_letter_classes
        ]
    return "\n".join(lines)
