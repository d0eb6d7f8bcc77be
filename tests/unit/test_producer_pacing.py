"""TokenBucket: smooth pacing, bounded bursts, a wait that can be abandoned."""

from __future__ import annotations

import itertools
import threading

import pytest

from producer.pacing import TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        return False


def test_token_bucket_paces_smoothly():
    clock = FakeClock()
    bucket = TokenBucket(rate=100.0, clock=clock, wait=clock.sleep)
    times = []
    for _ in range(500):
        assert bucket.take()
        times.append(clock.now)
    assert times[-1] == pytest.approx(4.99, abs=0.02)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 0.0101  # never a burst followed by a long pause


def test_token_bucket_bursts_at_most_its_capacity_after_idling():
    clock = FakeClock()
    bucket = TokenBucket(rate=1000.0, clock=clock, wait=clock.sleep)
    clock.now = 60.0  # idle for a minute
    start = clock.now
    for _ in range(100):
        bucket.take()
    assert clock.now - start == pytest.approx((100 - 50) / 1000, abs=0.002)


def test_token_bucket_wait_can_be_abandoned():
    stop = threading.Event()
    stop.set()
    bucket = TokenBucket(rate=0.001, wait=stop.wait)
    assert bucket.take()  # the first token is there
    assert not bucket.take()
