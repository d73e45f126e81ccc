"""Per-key request rate limiting: an in-process token bucket per API key.

Each key gets a bucket of ``burst`` tokens refilled at ``rate_per_s``; a request takes one token
or is refused with **429** and a ``Retry-After`` (whole seconds until a token is back).

The buckets live in this process only: with several API replicas each enforces its own limit, so
a key can reach ``replicas x rate``. A deployment with replicas needs a shared limiter in front
of them (the load balancer / API gateway, or a Redis-backed bucket) for a global per-key limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from linecheck.errors import LinecheckError


class RateLimitedError(LinecheckError):
    """A key sent more requests than its rate allows (HTTP 429, ``retry_after_s`` in Retry-After)."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class KeyRateLimiter:
    """Token buckets keyed by API key id; ``rate_per_s <= 0`` turns limiting off."""

    def __init__(self, *, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether requests are limited at all."""
        return self.rate_per_s > 0

    def acquire(self, key_id: str) -> None:
        """Take one token for ``key_id`` or raise :class:`RateLimitedError`."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return
            self._buckets[key_id] = (tokens, now)
            if len(self._buckets) > 100_000:  # bounded memory: forget idle keys (they refill to full)
                self._buckets = {key_id: (tokens, now)}
        wait = (1.0 - tokens) / self.rate_per_s
        raise RateLimitedError(
            f"API key {key_id} exceeded its rate limit of {self.rate_per_s:g} requests/s "
            f"(burst {self.burst}); retry in {wait:.2f} s",
            retry_after_s=wait,
        )

    @staticmethod
    def retry_after_header(retry_after_s: float) -> str:
        """``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(retry_after_s)))
