"""Rate limiting with in-process token buckets: requests per API key, failed logins per client address.

Each key gets a bucket of ``burst`` tokens refilled at ``rate_per_s``; a request takes one token
or is refused with **429** and a ``Retry-After`` (whole seconds until a token is back).

:class:`AuthFailureLimiter` gives each client address a bucket that only *failed*
authentications drain: once it is empty, that address's requests with a key the API does not
already trust are answered 429 before the store is asked, so guessing keys costs the guesser
time and the store nothing.

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


class AuthFailureLimiter:
    """Failed authentications per client address (token buckets); ``rate_per_s <= 0`` turns it off."""

    def __init__(self, *, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, last refill time)
        self._lock = threading.Lock()

    def _tokens(self, address: str, now: float) -> float:
        tokens, last = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate_per_s)

    def check(self, address: str) -> None:
        """Raise :class:`RateLimitedError` while ``address`` has used up its failed attempts."""
        if self.rate_per_s <= 0:
            return
        with self._lock:
            tokens = self._tokens(address, self._clock())
        if tokens >= 1.0:
            return
        wait = (1.0 - tokens) / self.rate_per_s
        raise RateLimitedError(
            f"too many failed authentications from {address} (limit {self.rate_per_s:g}/s, "
            f"burst {self.burst}); retry in {wait:.2f} s",
            retry_after_s=wait,
        )

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if self.rate_per_s <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens = self._tokens(address, now)
            if len(self._buckets) > 100_000:  # bounded memory: forget other addresses (they refill to full)
                self._buckets.clear()
            self._buckets[address] = (max(0.0, tokens - 1.0), now)
