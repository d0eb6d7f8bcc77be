"""The capacity and cost model: plain arithmetic over a rate, a message size, prices and the
CPU a message costs, as measured by `make bench-pipeline` (bench/results/pipeline.json).

What it assumes, each a named constant below: workers are held at TARGET_UTILIZATION of their
vCPUs; Dataflow's own work per message (the Pub/Sub read, Streaming Engine, the write) is what
the public anchor's nearly empty pipeline costs per row, added to our graph's CPU; a bench core
counts as one Dataflow vCPU; the row BigQuery receives is about as large as the message; the
message crosses Streaming Engine SHUFFLES + 1 times (read, the dedupe key, the sink's reshuffle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capacity.prices import Machine, PriceBook

HOURS_PER_MONTH = 730  # the month Google's pricing pages use
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# The CPU share a worker is sized for: headroom for bursts, retries and garbage collection.
TARGET_UTILIZATION = 0.7
# max_workers: room to drain a backlog at CATCH_UP times the arrival rate after an outage.
CATCH_UP = 2
MIN_MAX_WORKERS = 2
# Keyed steps whose data goes through Streaming Engine: the dedupe key and the sink's reshuffle.
SHUFFLES = 2
# Pub/Sub bills each message's data plus attributes, 20 bytes of timestamp and its message id.
PUBSUB_OVERHEAD_BYTES = 20 + 16
TIB, GIB, GB = 2**40, 2**30, 10**9
MB_200 = 200 * 10**6
EXACTLY_ONCE, AT_LEAST_ONCE = "exactly-once", "at-least-once"


@dataclass(frozen=True)
class Inputs:
    rate: float  # customers (messages) per second
    message_bytes: int  # payload plus attributes
    graph_cpu_us: float  # our whole graph, per message, from the bench


@dataclass(frozen=True)
class Workers:
    machine: Machine
    count: int
    usd_month: float


@dataclass(frozen=True)
class Estimate:
    """One configuration's bill for a month at the input rate."""

    inputs: Inputs
    mode: str
    cpu_us: float  # per message, ours plus Dataflow's own
    vcpus_needed: float
    workers: Workers
    max_workers: int
    streaming_engine_gb: float
    streaming_engine_usd: float
    pubsub_tib: float
    pubsub_usd: float
    bigquery_gb: float
    bigquery_usd: float

    @property
    def messages_month(self) -> float:
        return self.inputs.rate * SECONDS_PER_MONTH

    @property
    def usd_month(self) -> float:
        parts = (self.workers.usd_month, self.streaming_engine_usd, self.pubsub_usd)
        return sum(parts) + self.bigquery_usd

    @property
    def usd_per_million(self) -> float:
        return self.usd_month / self.messages_month * 1e6


def platform_cpu_us(prices: PriceBook) -> float:
    """Dataflow's own CPU per message: the anchor pipeline's whole cost per row."""
    return 1e6 / prices.facts["anchor_rows_per_vcpu_second"].amount


def vcpus_needed(rate: float, cpu_us: float) -> float:
    return rate * cpu_us * 1e-6 / TARGET_UTILIZATION


def worker_usd_hour(machine: Machine, prices: PriceBook) -> float:
    dataflow = prices.dataflow
    disk_gb = prices.facts["worker_disk_gb"].amount
    return (
        machine.vcpus * dataflow["streaming_vcpu_hour"].amount
        + machine.memory_gb * dataflow["streaming_memory_gb_hour"].amount
        + disk_gb * dataflow["pd_standard_gb_hour"].amount
    )


def workers_for(vcpus: float, machine: Machine, prices: PriceBook) -> Workers:
    """At least one worker: a streaming job never scales to zero."""
    count = max(1, math.ceil(vcpus / machine.vcpus))
    return Workers(machine, count, count * worker_usd_hour(machine, prices) * HOURS_PER_MONTH)


def cheapest_workers(vcpus: float, prices: PriceBook) -> Workers:
    """The machine type of prices.toml that runs `vcpus` for the least; ties: the smaller."""
    options = [workers_for(vcpus, machine, prices) for machine in prices.machines.values()]
    return min(options, key=lambda w: (round(w.usd_month, 2), w.machine.vcpus))


def max_workers(rate: float, cpu_us: float, machine: Machine, prices: PriceBook) -> int:
    catch_up = workers_for(vcpus_needed(CATCH_UP * rate, cpu_us), machine, prices)
    return max(MIN_MAX_WORKERS, catch_up.count)


def pubsub_tib(inputs: Inputs) -> float:
    """Published and delivered once each, in TiB a month."""
    billed = inputs.message_bytes + PUBSUB_OVERHEAD_BYTES
    return 2 * billed * inputs.rate * SECONDS_PER_MONTH / TIB


def pubsub_usd(tib: float, per_tib: float, prices: PriceBook) -> float:
    free_tib = prices.pubsub["free_gib_per_month"].amount * GIB / TIB
    return max(0.0, tib - free_tib) * per_tib


def streaming_inserts_gb(inputs: Inputs, prices: PriceBook) -> float:
    """The billed volume: each row counted as at least the minimum."""
    row = max(inputs.message_bytes, prices.bigquery["streaming_insert_row_min_bytes"].amount)
    return row * inputs.rate * SECONDS_PER_MONTH / GB


def streaming_inserts_usd(inputs: Inputs, prices: PriceBook) -> float:
    volume = streaming_inserts_gb(inputs, prices) * GB
    return volume / MB_200 * prices.bigquery["streaming_inserts_200mb"].amount


def streaming_engine_gb(inputs: Inputs) -> float:
    return (SHUFFLES + 1) * inputs.message_bytes * inputs.rate * SECONDS_PER_MONTH / GB


def streaming_engine_usd(gb: float, mode: str, inputs: Inputs, prices: PriceBook) -> float:
    """Exactly-once: data-processed billing. At-least-once turns on resource-based billing:
    Compute Units, scaled from Google's benchmark rate of units per GiB/s."""
    if mode == EXACTLY_ONCE:
        return gb * prices.dataflow["streaming_engine_data_gb"].amount
    gib_per_s = gb * GB / GIB / SECONDS_PER_MONTH
    units = prices.facts["compute_units_per_gib_per_s"].amount * gib_per_s
    return units * HOURS_PER_MONTH * prices.dataflow["streaming_engine_compute_unit_hour"].amount


def estimate(inputs: Inputs, prices: PriceBook, mode: str = AT_LEAST_ONCE) -> Estimate:
    """Our pipeline on Dataflow at `inputs.rate`, in `mode`."""
    cpu_us = inputs.graph_cpu_us + platform_cpu_us(prices)
    vcpus = vcpus_needed(inputs.rate, cpu_us)
    workers = cheapest_workers(vcpus, prices)
    gb = streaming_engine_gb(inputs)
    tib = pubsub_tib(inputs)
    return Estimate(
        inputs=inputs,
        mode=mode,
        cpu_us=cpu_us,
        vcpus_needed=vcpus,
        workers=workers,
        max_workers=max_workers(inputs.rate, cpu_us, workers.machine, prices),
        streaming_engine_gb=gb,
        streaming_engine_usd=streaming_engine_usd(gb, mode, inputs, prices),
        pubsub_tib=tib,
        pubsub_usd=pubsub_usd(tib, prices.pubsub["throughput_tib"].amount, prices),
        bigquery_gb=streaming_inserts_gb(inputs, prices),
        bigquery_usd=streaming_inserts_usd(inputs, prices),
    )


def bigquery_subscription_usd(inputs: Inputs, prices: PriceBook) -> float:
    """No Dataflow: publish at the throughput price, delivery into BigQuery at the
    subscription's; BigQuery charges nothing more for what the subscription writes."""
    half = pubsub_tib(inputs) / 2
    publish = pubsub_usd(half, prices.pubsub["throughput_tib"].amount, prices)
    return publish + half * prices.pubsub["bigquery_subscription_tib"].amount


MODES = (EXACTLY_ONCE, AT_LEAST_ONCE)
