"""Latency statistics and the one-JSON-object last line every benchmark prints."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencySummary:
    """p50 / p99 / max of a set of latencies, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, seconds: Iterable[float]) -> LatencySummary:
        """Summarise latencies given in seconds."""
        ms = [s * 1000.0 for s in seconds]
        return cls(
            count=len(ms),
            p50_ms=percentile(ms, 50),
            p99_ms=percentile(ms, 99),
            max_ms=max(ms) if ms else math.nan,
        )

    def text(self) -> str:
        """``p50 1.2 ms, p99 3.4 ms, max 5.6 ms (n=100)``."""
        return (
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms (n={self.count})"
        )


class Stopwatch:
    """Wall-clock seconds since construction (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the stopwatch started."""
        return time.perf_counter() - self.started


def rounded(value: Any, digits: int = 3) -> Any:
    """Round floats (recursively in dicts and lists) so the JSON line stays readable; NaN -> None."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else math.nan


def print_result(figures: dict[str, Any]) -> None:
    """Print ``figures`` as one JSON object: the LAST line a benchmark prints."""
    sys.stdout.flush()
    print(json.dumps(rounded(figures), sort_keys=False), flush=True)
