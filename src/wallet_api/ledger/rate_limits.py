"""Per-key token buckets, kept in the memory of each worker process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from wallet_api.ledger.errors import RateLimited

# Requests per second per key and worker when the server is not on loopback and nothing is set.
DEFAULT_PER_SECOND = 100.0


class RateLimiter:
    """A bucket of `burst` tokens per key, refilled at `per_second`; a request takes one.

    Each worker keeps its own buckets, so a key may reach up to `workers` times the rate in
    total; the buckets are not shared between processes or hosts.
    """

    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        assert per_second > 0 and burst >= 1
        self._per_second = per_second
        self._burst = float(burst)
        self._clock = clock
        # key id -> (tokens left, when they were counted); one entry per key that called.
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, key_id: int) -> None:
        """Take a token for `key_id`, or raise RateLimited with the seconds until one is free."""
        now = self._clock()
        tokens, counted_at = self._buckets.get(key_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - counted_at) * self._per_second)
        if tokens < 1:
            self._buckets[key_id] = (tokens, now)
            raise RateLimited(max(1, math.ceil((1 - tokens) / self._per_second)))
        self._buckets[key_id] = (tokens - 1, now)
