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


def _landed_at(polls: Sequence[tuple[float, int]], row: int) -> float:
    """When the `row`-th row landed, interpolated between the polls around it."""
    before = (polls[0][0], 0)
    for seconds, rows in polls:
        if rows >= row:
            share = (row - before[1]) / (rows - before[1])
            return before[0] + share * (seconds - before[0])
        before = (seconds, rows)
    raise ValueError(f"no poll saw {row} rows")


def pace(polls: Sequence[tuple[float, int]], n: int = PACE_ROWS) -> Pace | None:
    """The pace of a run from its polls of (seconds, rows landed so far); None below n rows."""
    total = polls[-1][1] if polls else 0
    if n < 2 or total < n:
        return None

    def rate(first_row: int, last_row: int) -> float:
        seconds = _landed_at(polls, last_row) - _landed_at(polls, first_row)
        return (last_row - first_row) / seconds if seconds > 0 else math.inf

    return Pace(rate(1, n), rate(total - n + 1, total))


def render_pace(pace: Pace) -> str:
    return (
        f"  pace:          first {PACE_ROWS} rows {pace.first:.0f} rows/s, "
        f"last {PACE_ROWS} {pace.last:.0f} rows/s (landed in BigQuery)"
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
