"""The table: both streaming modes, the recommendation, the BigQuery subscription beside them,
and every price with its source and read date."""

from __future__ import annotations

from pathlib import Path

from capacity import measured, model, prices, table

BENCH = measured.Measured(
    250.0, 90.0, "python -m bench.pipeline_bench --count 7", "2026-01-01", Path("x.json")
)


def _render(region: str, rate: float = 100) -> str:
    return table.render(model.Inputs(rate, 1000, BENCH.whole_graph_us), prices.load(region), BENCH)


def test_it_shows_both_modes_the_recommendation_and_the_subscription():
    text = _render("us-central1")
    book = prices.load("us-central1")
    estimates = {
        mode: model.estimate(model.Inputs(100, 1000, 250.0), book, mode) for mode in model.MODES
    }
    total = next(line for line in text.splitlines() if line.startswith("total, a month"))
    assert total.split()[-2:] == [f"${estimates[m].usd_month:,.0f}" for m in model.MODES]
    assert "recommended: n1-standard-2, max_workers 2, at-least-once" in text
    assert "Pub/Sub BigQuery subscription, no Dataflow: $" in text
    assert (
        "250 us our whole graph (x.json, 2026-01-01: python -m bench.pipeline_bench --count 7)"
        in text
    )


def test_every_price_used_is_printed_with_its_source_and_date():
    text = _render("us-central1")
    for name, price in prices.load("us-central1").cited():
        assert f"  {name} = {price.amount:g}: {price.source} (read {price.read}" in text


def test_a_region_priced_as_us_central1_is_flagged_on_the_second_line():
    assert "!!" not in _render("us-central1")
    flagged = _render("europe-west1").splitlines()[1]
    assert flagged.startswith("!! no Dataflow prices for europe-west1")
    assert "us-central1's are used" in flagged
