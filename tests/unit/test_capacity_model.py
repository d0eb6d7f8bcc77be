"""The capacity model's arithmetic on round, known inputs, each figure worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from capacity import model, prices

# Round prices, so each expected figure below can be checked on paper.
PRICES = """
[dataflow.test-region]
streaming_vcpu_hour = { usd = 0.1, source = "s", read = "2026-01-01", checked = "page" }
streaming_memory_gb_hour = { usd = 0.01, source = "s", read = "2026-01-01", checked = "page" }
pd_standard_gb_hour = { usd = 0.001, source = "s", read = "2026-01-01", checked = "page" }
streaming_engine_data_gb = { usd = 0.02, source = "s", read = "2026-01-01", checked = "page" }
streaming_engine_compute_unit_hour = { usd = 0.1, source = "s", read = "2026-01-01", checked = "x" }
[dataflow.us-central1]
streaming_vcpu_hour = { usd = 0.1, source = "s", read = "2026-01-01", checked = "page" }
streaming_memory_gb_hour = { usd = 0.01, source = "s", read = "2026-01-01", checked = "page" }
pd_standard_gb_hour = { usd = 0.001, source = "s", read = "2026-01-01", checked = "page" }
streaming_engine_data_gb = { usd = 0.02, source = "s", read = "2026-01-01", checked = "page" }
streaming_engine_compute_unit_hour = { usd = 0.1, source = "s", read = "2026-01-01", checked = "x" }
[pubsub]
throughput_tib = { usd = 40.0, source = "s", read = "2026-01-01", checked = "page" }
free_gib_per_month = { value = 0, source = "s", read = "2026-01-01", checked = "page" }
bigquery_subscription_tib = { usd = 50.0, source = "s", read = "2026-01-01", checked = "x" }
[bigquery]
streaming_inserts_200mb = { usd = 0.01, source = "s", read = "2026-01-01", checked = "page" }
streaming_insert_row_min_bytes = { value = 1024, source = "s", read = "2026-01-01", checked = "x" }
[machines.m-2]
vcpus = 2
memory_gb = 5.0
source = "s"
[machines.m-4]
vcpus = 4
memory_gb = 10.0
source = "s"
[facts]
worker_disk_gb = { value = 10, source = "s", read = "2026-01-01", checked = "page" }
compute_units_per_gib_per_s = { value = 36.0, source = "s", read = "2026-01-01", checked = "x" }
anchor_rows_per_vcpu_second = { value = 2000, source = "s", read = "2026-01-01", checked = "x" }
"""


@pytest.fixture
def book(tmp_path: Path) -> prices.PriceBook:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return prices.load("test-region", path)


def test_a_worker_costs_its_vcpus_memory_and_disk_for_730_hours(book):
    # 2 x 0.1 + 5 x 0.01 + 10 x 0.001 = 0.26 an hour
    assert model.worker_usd_hour(book.machines["m-2"], book) == pytest.approx(0.26)
    assert model.workers_for(1.0, book.machines["m-2"], book).usd_month == pytest.approx(189.8)


def test_cpu_per_message_is_our_graph_plus_the_anchor_pipelines_whole_cost(book):
    # 1e6 / 2,000 rows/s per vCPU = 500 us; 500 + 500 = 1,000 us; 1,000/s x 1 ms / 0.7
    estimate = model.estimate(model.Inputs(1000, 964, 500.0), book)
    assert model.platform_cpu_us(book) == pytest.approx(500.0)
    assert estimate.cpu_us == pytest.approx(1000.0)
    assert estimate.vcpus_needed == pytest.approx(1 / 0.7)


def test_workers_round_up_never_below_one_and_the_cheapest_machine_wins(book):
    assert model.workers_for(0.001, book.machines["m-2"], book).count == 1
    assert model.workers_for(2.01, book.machines["m-2"], book).count == 2
    # 14.3 vCPUs: 8 x m-2 (16 vCPUs, 8 disks) or 4 x m-4 (16 vCPUs, 4 disks): m-4, by the disks
    workers = model.cheapest_workers(14.3, book)
    assert (workers.machine.name, workers.count) == ("m-4", 4)
    # 1.4 vCPUs: 1 x m-2 (0.26/h) against 1 x m-4 (0.51/h)
    assert model.cheapest_workers(1.4, book).machine.name == "m-2"


def test_max_workers_covers_twice_the_rate_and_is_at_least_two(book):
    machine = book.machines["m-2"]
    assert model.max_workers(1, 1000.0, machine, book) == 2  # the floor
    # 2 x 10,000/s x 1 ms / 0.7 = 28.6 vCPUs -> 15 x m-2
    assert model.max_workers(10_000, 1000.0, machine, book) == 15


def test_pubsub_bills_each_message_twice_with_its_timestamp_and_id(book):
    # (964 + 36) bytes x 2 x 1,000/s x 2,628,000 s = 5.256e12 bytes = 4.7803 TiB, x $40
    estimate = model.estimate(model.Inputs(1000, 964, 0.0), book)
    assert estimate.pubsub_tib == pytest.approx(5.256e12 / 2**40)
    assert estimate.pubsub_usd == pytest.approx(5.256e12 / 2**40 * 40)


def test_pubsubs_free_tier_is_taken_off_once(book, tmp_path):
    path = tmp_path / "free.toml"
    path.write_text(
        PRICES.replace("free_gib_per_month = { value = 0", "free_gib_per_month = { value = 1024")
    )
    free = prices.load("test-region", path)
    paid = model.pubsub_usd(3.0, 40.0, free)
    assert paid == pytest.approx(2.0 * 40)  # 1,024 GiB = 1 TiB free
    assert model.pubsub_usd(0.5, 40.0, free) == 0


def test_streaming_inserts_bill_at_least_1_kb_a_row(book):
    # 1,000/s x 2,628,000 s x 1,024 bytes / 200 MB x $0.01
    small = model.estimate(model.Inputs(1000, 500, 0.0), book)
    assert small.bigquery_gb == pytest.approx(2.628e9 * 1024 / 1e9)
    assert small.bigquery_usd == pytest.approx(2.628e9 * 1024 / 200e6 * 0.01)
    large = model.estimate(model.Inputs(1000, 2000, 0.0), book)
    assert large.bigquery_usd == pytest.approx(2.628e9 * 2000 / 200e6 * 0.01)


def test_streaming_engine_data_billing_for_exactly_once(book):
    # 3 crossings x 1,000 bytes x 1,000/s x 2,628,000 s = 7,884 GB, x $0.02
    estimate = model.estimate(model.Inputs(1000, 1000, 0.0), book, model.EXACTLY_ONCE)
    assert estimate.streaming_engine_gb == pytest.approx(7884.0)
    assert estimate.streaming_engine_usd == pytest.approx(7884 * 0.02)


def test_streaming_engine_compute_units_for_at_least_once(book):
    # 3 MB/s = 3e6 / 2**30 GiB/s; x 36 units per GiB/s x 730 h x $0.1
    estimate = model.estimate(model.Inputs(1000, 1000, 0.0), book, model.AT_LEAST_ONCE)
    assert estimate.streaming_engine_usd == pytest.approx(3e6 / 2**30 * 36 * 730 * 0.1)


def test_the_monthly_total_is_the_sum_of_its_parts_and_per_million_divides_it(book):
    estimate = model.estimate(model.Inputs(100, 1000, 300.0), book)
    parts = estimate.workers.usd_month + estimate.streaming_engine_usd + estimate.pubsub_usd
    assert estimate.usd_month == pytest.approx(parts + estimate.bigquery_usd)
    assert estimate.usd_per_million == pytest.approx(estimate.usd_month / 262.8)


def test_the_bigquery_subscription_is_publish_plus_delivery_at_its_own_price(book):
    inputs = model.Inputs(1000, 964, 0.0)
    half = 5.256e12 / 2 / 2**40
    assert model.bigquery_subscription_usd(inputs, book) == pytest.approx(half * 40 + half * 50)
