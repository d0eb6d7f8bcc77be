"""Which dead letters an operator chose: stage, time range, error text, message ids.

A `Selection` becomes one parameterised WHERE clause; nothing the operator types is ever
pasted into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.cloud import bigquery

from pipeline.bigquery_client import Parameter

_AGO = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """`2026-11-01`, `2026-11-01T10:00:00Z` (UTC unless a zone is given) or `90m`/`2h`/`7d` ago."""
    if match := _AGO.fullmatch(text.strip()):
        amount, unit = match.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give 2026-11-01, 2026-11-01T10:00:00Z, or 90m, 2h, 7d ago"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Selection:
    """Dead letters matching every given criterion; an empty Selection matches all of them."""

    stages: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    error: str | None = None
    message_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.stages or self.since or self.until or self.error or self.message_ids)

    def where(self) -> tuple[str, list[Parameter]]:
        """A GoogleSQL condition on `customers_dlq` columns and its query parameters.

        The time range is on `timestamp` (when the message was dead-lettered), the table's
        partitioning column, so BigQuery reads only the partitions in range. The error text
        is a plain, case-sensitive substring of `errorMessage`.
        """
        conditions, parameters = [], []
        if self.stages:
            conditions.append("stage IN UNNEST(@stages)")
            parameters.append(bigquery.ArrayQueryParameter("stages", "STRING", list(self.stages)))
        if self.since:
            conditions.append("timestamp >= @since")
            parameters.append(bigquery.ScalarQueryParameter("since", "TIMESTAMP", self.since))
        if self.until:
            conditions.append("timestamp < @until")
            parameters.append(bigquery.ScalarQueryParameter("until", "TIMESTAMP", self.until))
        if self.error:
            conditions.append("STRPOS(errorMessage, @error) > 0")
            parameters.append(bigquery.ScalarQueryParameter("error", "STRING", self.error))
        if self.message_ids:
            conditions.append("message_id IN UNNEST(@message_ids)")
            parameters.append(
                bigquery.ArrayQueryParameter("message_ids", "STRING", list(self.message_ids))
            )
        return " AND ".join(conditions) or "TRUE", parameters

    def describe(self) -> str:
        parts = []
        if self.stages:
            parts.append(f"stage {' or '.join(self.stages)}")
        if self.since:
            parts.append(f"since {self.since.isoformat(timespec='seconds')}")
        if self.until:
            parts.append(f"until {self.until.isoformat(timespec='seconds')}")
        if self.error:
            parts.append(f"error contains {self.error!r}")
        if self.message_ids:
            parts.append(f"{len(self.message_ids)} message id(s)")
        return ", ".join(parts) or "all dead letters"
