"""Pipeline plumbing: bounded channels between stages and the worker base class.

A :class:`Channel` is a bounded queue that knows its producers: when every producer has
closed it and it is empty, the consumer sees :class:`ChannelClosed` and can finish its own
work and close its downstream channel. Shutting the pipeline down from the sources therefore
drains every frame already accepted, stage by stage, instead of dropping it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class ChannelClosed(Exception):
    """Every producer closed the channel and it is empty."""


class Channel(Generic[T]):
    """A bounded FIFO between pipeline stages, closed once by each of its producers."""

    def __init__(self, name: str, maxsize: int, *, producers: int = 1) -> None:
        if maxsize < 1:
            raise ValueError(f"channel {name}: maxsize={maxsize!r}, expected >= 1")
        self.name = name
        self.maxsize = maxsize
        self._queue: queue.Queue[T] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._open_producers = producers

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Put ``item``, waiting up to ``timeout`` seconds for room (None: forever); False if full."""
        try:
            self._queue.put(item, timeout=timeout)
        except queue.Full:
            return False
        return True

    def put_until(self, item: T, stop: threading.Event, *, poll_s: float = 0.1) -> bool:
        """Put ``item`` waiting for room until ``stop`` is set; False when stopped first."""
        while not stop.is_set():
            if self.put(item, timeout=poll_s):
                return True
        return False

    def get(self, timeout: float) -> T | None:
        """Next item, or None after ``timeout`` seconds; raises :class:`ChannelClosed` when drained."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            if self.closed:
                # A producer may have put its last item just before closing.
                try:
                    return self._queue.get_nowait()
                except queue.Empty:
                    raise ChannelClosed(self.name) from None
            return None

    def get_nowait(self) -> T | None:
        """Next item if one is waiting, else None (never raises)."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        """One producer is done."""
        with self._lock:
            self._open_producers = max(0, self._open_producers - 1)

    @property
    def closed(self) -> bool:
        """True when no producer is left."""
        with self._lock:
            return self._open_producers == 0

    def qsize(self) -> int:
        """Items waiting (approximate, as for :class:`queue.Queue`)."""
        return self._queue.qsize()


class Worker(ABC):
    """One pipeline stage on its own thread: ``setup()``, ``run()``, ``teardown()``.

    ``run`` returns when the stage's input is drained or the stop event is set. Exceptions that
    escape ``run`` are logged and recorded in :attr:`error` (the worker boundary is the one
    place a broad ``except`` is allowed); ``teardown`` always runs and closes the outputs.
    """

    def __init__(self, name: str, stop: threading.Event) -> None:
        self.name = name
        self.stop = stop
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Acquire resources (called on the worker's thread before :meth:`run`)."""

    @abstractmethod
    def run(self) -> None:
        """Process input until it is drained or :attr:`stop` is set."""

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release resources and close output channels (always called)."""

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to finish; True when it did within ``timeout``."""
        return self.finished.wait(timeout)

    def _main(self) -> None:
        started = time.monotonic()
        try:
            self.setup()
            self.run()
        except Exception as exc:  # worker boundary: log, record, and let teardown close outputs
            self.error = exc
            log.exception("worker %s failed after %.1fs", self.name, time.monotonic() - started)
        finally:
            try:
                self.teardown()
            except Exception:  # teardown must not hide the original error
                log.exception("worker %s teardown failed", self.name)
            self.finished.set()


class RateLimitedLog:
    """Logs a repeated warning at most once per ``every_s`` seconds, with the count suppressed."""

    def __init__(self, logger: logging.Logger, every_s: float = 5.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, message: str, *args: object) -> None:
        """Log ``message`` under ``key`` unless it was logged less than ``every_s`` ago."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -1e9) < self.every_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            skipped = self._suppressed.pop(key, 0)
        suffix = f" (and {skipped} more like it)" if skipped else ""
        self.logger.warning(message + suffix, *args)
