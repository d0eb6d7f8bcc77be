"""The capacity table `make capacity` prints: both streaming modes side by side, the Pub/Sub
BigQuery subscription beside them, and every price with its source and the date it was read."""

from __future__ import annotations

from capacity import model
from capacity.measured import Measured
from capacity.prices import PriceBook


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd < 100 else f"${usd:,.0f}"


def header(inputs: model.Inputs, prices: PriceBook, measured: Measured) -> list[str]:
    month = inputs.rate * model.SECONDS_PER_MONTH
    lines = [
        f"{inputs.rate:,.0f} customers/s ({month / 1e6:,.1f} million a month), "
        f"{inputs.message_bytes:,}-byte messages, region {prices.region}"
    ]
    if not prices.region_found:
        lines.append(
            f"!! no Dataflow prices for {prices.region} in capacity/prices.toml: "
            f"{prices.priced_region}'s are used; check the region's own before you rely on it"
        )
    platform = model.platform_cpu_us(prices)
    lines += [
        f"CPU per message: {measured.whole_graph_us:,.0f} us our whole graph "
        f"({measured.path.name}, {measured.finished}: {measured.command})",
        f"               + {platform:,.0f} us Dataflow's own read, state and write "
        f"(public anchor: {1e6 / platform:,.0f} rows/s per vCPU)",
    ]
    return lines


def rows(estimates: list[model.Estimate]) -> list[tuple[str, list[str]]]:
    def each(value) -> list[str]:
        return [value(estimate) for estimate in estimates]

    return [
        ("vCPUs needed (at 70% CPU)", each(lambda e: f"{e.vcpus_needed:,.2f}")),
        ("workers", each(lambda e: f"{e.workers.count} x {e.workers.machine.name}")),
        ("max_workers (2x catch-up)", each(lambda e: str(e.max_workers))),
        ("  workers, a month", each(lambda e: _money(e.workers.usd_month))),
        ("Streaming Engine, GB a month", each(lambda e: f"{e.streaming_engine_gb:,.0f}")),
        ("  Streaming Engine, a month", each(lambda e: _money(e.streaming_engine_usd))),
        ("Pub/Sub in + out, TiB a month", each(lambda e: f"{e.pubsub_tib:,.2f}")),
        ("  Pub/Sub, a month", each(lambda e: _money(e.pubsub_usd))),
        ("BigQuery inserts, GB billed a month", each(lambda e: f"{e.bigquery_gb:,.0f}")),
        ("  BigQuery streaming inserts, a month", each(lambda e: _money(e.bigquery_usd))),
        ("total, a month", each(lambda e: _money(e.usd_month))),
        ("per million customers", each(lambda e: _money(e.usd_per_million))),
    ]


def render(inputs: model.Inputs, prices: PriceBook, measured: Measured) -> str:
    estimates = [model.estimate(inputs, prices, mode) for mode in model.MODES]
    lines = header(inputs, prices, measured)
    lines.append("")
    lines.append(f"{'our pipeline on Dataflow':<38}" + "".join(f"{m:>21}" for m in model.MODES))
    lines += [
        f"{label:<38}" + "".join(f"{v:>21}" for v in values) for label, values in rows(estimates)
    ]
    chosen = estimates[model.MODES.index(model.AT_LEAST_ONCE)]
    lines.append(
        f"recommended: {chosen.workers.machine.name}, max_workers {chosen.max_workers}, "
        f"{model.AT_LEAST_ONCE} (a redelivery is dropped by the dedupe by customer_id)"
    )
    subscription = model.bigquery_subscription_usd(inputs, prices)
    per_million = subscription / (inputs.rate * model.SECONDS_PER_MONTH) * 1e6
    lines += [
        "",
        f"Pub/Sub BigQuery subscription, no Dataflow: {_money(subscription)} a month, "
        f"{_money(per_million)} per million (raw messages: no typed rows, no dead-letter "
        "reasons, no dedupe by customer)",
        "",
        "Prices and facts (source, date read):",
    ]
    lines += [f"  {name} = {price.amount:g}: {price.cite()}" for name, price in prices.cited()]
    return "\n".join(lines)
