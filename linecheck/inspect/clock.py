"""How far this PC's clock is from the API's, read from the HTTP ``Date`` of the API's answers.

Line PCs on a plant network often reach no time server: a clock that drifted minutes, or one reset to
its BIOS date, stamps every inspection (``captured_at``) with the wrong time, and the trace, the shift
statistics and every ``since`` / ``until`` query follow it. Every answer of the API carries its own
time in the ``Date`` header (RFC 9110, to the second), so each exchange measures the offset for free:
the inspector shows it (``linecheck_inspector_clock_offset_seconds``, ``/status``), and warns when it
is beyond ``LINECHECK_INSPECTOR_CLOCK_SKEW_WARN_S``. Times are never rewritten: a record keeps the time
its PC gave it, and the fix is the PC's time service (chrony / systemd-timesyncd, w32time) pointed at
the plant's time server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

log = logging.getLogger(__name__)

#: The ``Date`` header is truncated to the second: on average the server's time was half a second later.
DATE_RESOLUTION_S = 1.0


def offset_from_date(date_header: str | None, sent_at: float, received_at: float) -> float | None:
    """The server's clock minus ours (seconds) from one answer's ``Date``; None without a usable one.

    ``sent_at`` / ``received_at`` are this PC's wall-clock times (``time.time()``) around the
    request: the server stamped its answer between them, taken as the midpoint. The error is half the
    round trip plus the header's resolution: one second, and servers that stamp a cached date (uvicorn
    renews it once a second) add up to one more; the measurement is good to a second or two.
    """
    if not date_header:
        return None
    try:
        stamped = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if stamped.tzinfo is None:  # RFC 9110 dates are GMT; one without a zone is not trustworthy
        return None
    server = stamped.timestamp() + DATE_RESOLUTION_S / 2
    return server - (sent_at + received_at) / 2


class ClockWatch:
    """Follows the measured offset: a gauge, a status entry, and one log line per change of state.

    Args:
        warn_s: an offset beyond this (either way) is a skewed clock.
        gauge: called with each new offset (the metric's ``set``).

    """

    def __init__(self, warn_s: float, gauge: Callable[[float], None] | None = None) -> None:
        self.warn_s = warn_s
        self.gauge = gauge
        self.offset_s: float | None = None
        self.skewed = False

    def update(self, offset_s: float | None) -> None:
        """Take the latest measurement (None: nothing new); logs when the clock goes off or comes back."""
        if offset_s is None or not math.isfinite(offset_s):
            return
        self.offset_s = offset_s
        if self.gauge is not None:
            self.gauge(offset_s)
        skewed = abs(offset_s) > self.warn_s
        if skewed and not self.skewed:
            log.warning(
                "this PC's clock is %s: inspection times (captured_at) are off by that much. Point its "
                "time service (chrony, systemd-timesyncd, w32time) at the plant's time server",
                describe(offset_s),
            )
        elif self.skewed and not skewed:
            log.info("this PC's clock is back within %g s of the API's (%s)", self.warn_s, describe(offset_s))
        self.skewed = skewed

    def status(self) -> dict[str, Any]:
        """``offset_s`` (the API's clock minus ours; None until an answer came), ``skewed``, ``warn_s``."""
        return {
            "offset_s": None if self.offset_s is None else round(self.offset_s, 1),
            "skewed": self.skewed,
            "warn_s": self.warn_s,
        }


def describe(offset_s: float) -> str:
    """``3605 s behind the API's`` / ``12 s ahead of the API's``."""
    way = "behind" if offset_s > 0 else "ahead of"
    return f"{abs(offset_s):.0f} s {way} the API's"
