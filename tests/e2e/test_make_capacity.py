"""`make capacity` as docs/cost.md and the README type it: the table at a sign-up rate and at
10,000 customers/s, from the committed benchmark results and the cited prices."""

from __future__ import annotations

import pytest
from e2e_support import make

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("rate", ["100", "10000"])
def test_make_capacity_prints_the_table_with_cited_prices(rate):
    out = make("capacity", f"RATE={rate}")
    assert out.startswith(f"{int(rate):,} customers/s")
    assert "!! no Dataflow prices for europe-west1" in out  # the Makefile's default region
    assert "recommended: n1-standard-" in out
    assert "per million customers" in out
    assert "throughput_tib = 40: https://cloud.google.com/pubsub/pricing (read " in out
