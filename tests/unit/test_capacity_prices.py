"""prices.toml: every figure cited with its source and read date; a region it lacks falls back
to us-central1, visibly."""

from __future__ import annotations

import re
import tomllib

import pytest

from capacity import prices

SHIPPED = tomllib.loads(prices.PRICES.read_text(encoding="utf-8"))


def _entries(table: dict, prefix: str = ""):
    for name, value in table.items():
        if isinstance(value, dict) and ({"usd", "value"} & value.keys()):
            yield f"{prefix}{name}", value
        elif isinstance(value, dict):
            yield from _entries(value, f"{prefix}{name}.")


@pytest.mark.parametrize(("name", "entry"), list(_entries(SHIPPED)), ids=lambda v: str(v)[:40])
def test_every_shipped_figure_has_a_source_a_read_date_and_how_it_was_checked(name, entry):
    assert entry["source"].startswith("https://"), name
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["read"]), name
    assert entry["checked"] in ("page", "secondary", "unverified"), name
    if entry["checked"] == "secondary":
        assert entry.get("via"), f"{name}: a secondary source names what it read"


def test_the_shipped_prices_load_for_us_central1_with_every_figure_the_model_uses():
    book = prices.load("us-central1")
    assert book.region_found
    assert book.dataflow["streaming_vcpu_hour"].amount == 0.069
    assert set(book.machines) == {"n1-standard-2", "n1-standard-4"}
    assert {name for name, _ in book.cited()} >= {
        "throughput_tib",
        "streaming_inserts_200mb",
        "anchor_rows_per_vcpu_second",
    }


def test_a_region_without_prices_uses_us_central1s_and_says_so():
    book = prices.load("europe-west1")
    assert (book.region, book.priced_region, book.region_found) == (
        "europe-west1",
        "us-central1",
        False,
    )


def test_a_figure_without_its_source_is_refused_with_one_line(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text('[dataflow.us-central1]\nstreaming_vcpu_hour = { usd = 0.1, read = "x" }\n')
    with pytest.raises(prices.PriceError, match="streaming_vcpu_hour has no checked, source"):
        prices.load("us-central1", path)


def test_a_file_without_us_central1_is_refused(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text("[pubsub]\n")
    with pytest.raises(
        prices.PriceError, match="no Dataflow prices for asia-east1 nor us-central1"
    ):
        prices.load("asia-east1", path)


def test_a_citation_names_the_source_and_date_and_flags_what_was_not_read_on_the_page():
    page = prices.Price(1.0, "https://a", "2026-01-02", "page")
    unverified = prices.Price(1.0, "https://b", "2026-01-02", "unverified")
    assert page.cite() == "https://a (read 2026-01-02)"
    assert unverified.cite() == "https://b (read 2026-01-02, unverified source)"
