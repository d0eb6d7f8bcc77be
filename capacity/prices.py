"""The prices of `prices.toml`, for one region: each a number with its source and read date."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("prices.toml")
FALLBACK_REGION = "us-central1"


class PriceError(ValueError):
    """prices.toml lacks a figure or its source: one readable line."""


@dataclass(frozen=True)
class Price:
    """One figure (`usd` or `value`) with where and when it was read."""

    amount: float
    source: str
    read: str
    checked: str

    def cite(self) -> str:
        how = "" if self.checked == "page" else f", {self.checked} source"
        return f"{self.source} (read {self.read}{how})"


@dataclass(frozen=True)
class Machine:
    name: str
    vcpus: int
    memory_gb: float
    source: str


@dataclass(frozen=True)
class PriceBook:
    """What the model needs for one region; `region_found` is False when it fell back."""

    region: str
    priced_region: str
    dataflow: dict[str, Price]
    pubsub: dict[str, Price]
    bigquery: dict[str, Price]
    facts: dict[str, Price]
    machines: dict[str, Machine]

    @property
    def region_found(self) -> bool:
        return self.region == self.priced_region

    def cited(self) -> list[tuple[str, Price]]:
        """Every price and fact used, by name, for the table's footnotes."""
        groups = (self.dataflow, self.pubsub, self.bigquery, self.facts)
        return [(name, price) for group in groups for name, price in group.items()]


def _price(name: str, entry: Any) -> Price:
    if not isinstance(entry, dict) or not ({"usd", "value"} & entry.keys()):
        raise PriceError(f"prices.toml: {name} has no usd or value")
    missing = {"source", "read", "checked"} - entry.keys()
    if missing:
        raise PriceError(f"prices.toml: {name} has no {', '.join(sorted(missing))}")
    return Price(
        float(entry.get("usd", entry.get("value"))),
        entry["source"],
        entry["read"],
        entry["checked"],
    )


def _group(table: dict[str, Any], prefix: str) -> dict[str, Price]:
    return {name: _price(f"{prefix}.{name}", entry) for name, entry in table.items()}


def load(region: str, path: Path = PRICES) -> PriceBook:
    """The prices for `region`; Dataflow's from us-central1 when the file has none for it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    regions = data.get("dataflow", {})
    priced = region if region in regions else FALLBACK_REGION
    if priced not in regions:
        raise PriceError(f"prices.toml: no Dataflow prices for {region} nor {FALLBACK_REGION}")
    machines = {
        name: Machine(name, int(spec["vcpus"]), float(spec["memory_gb"]), spec["source"])
        for name, spec in data.get("machines", {}).items()
    }
    return PriceBook(
        region=region,
        priced_region=priced,
        dataflow=_group(regions[priced], f"dataflow.{priced}"),
        pubsub=_group(data.get("pubsub", {}), "pubsub"),
        bigquery=_group(data.get("bigquery", {}), "bigquery"),
        facts=_group(data.get("facts", {}), "facts"),
        machines=machines,
    )
