"""Smooth pacing of sign-ups: a token bucket, so `--rate` holds per second, not per burst."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up (default: 50 ms worth, at least 1).

    `wait(seconds)` sleeps and returns True to abandon the wait (e.g. `threading.Event.wait`
    of a stop event), which makes pacing interruptible and lets tests run on a fake clock.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool | None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity or max(1.0, rate / 20)
        self.tokens = 1.0
        self._clock = clock
        self._wait = wait
        self._last = clock()

    def take(self) -> bool:
        """Wait for one token; False if the wait was abandoned."""
        while True:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now
            if self.tokens >= 1 - 1e-9:  # float sums of fractions land just under 1
                self.tokens = max(self.tokens - 1, 0.0)
                return True
            if self._wait((1 - self.tokens) / self.rate):
                return False
