"""Batching and inference: one worker per model, batching frames across cameras and lines.

A :class:`BatchWorker` takes coded frames from its model's bounded queue, flushes a batch at
``max_batch`` frames or ``max_delay_ms`` after the first one, and runs the detector on it in a
helper thread so that a hung call cannot hang the line: after ``infer_timeout_s`` the batch is
given up. Fail-safe: a frame past its deadline, a failed or timed-out call, or a detector that
cannot be reached turns every affected frame into a ``not_inspected`` :class:`InferredFrame`
with the reason — counted and logged, never passed and never dropped. The detector is rebuilt
with bounded exponential backoff after a failure, so processing resumes when the server does.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Callable

from linecheck.errors import ServingError
from linecheck.inspect.messages import CodedFrame, InferredFrame
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.workers import Channel, ChannelClosed, RateLimitedLog, Worker
from linecheck.messages import Detections
from linecheck.model.detector import Detector

log = logging.getLogger(__name__)

#: Builds (connects) the detector of one model; raises ServingError when it cannot.
DetectorFactory = Callable[[], Detector]


def failed(coded: CodedFrame, model_name: str, reason: str) -> InferredFrame:
    """A frame that will not be inferred, with the reason."""
    return InferredFrame(
        coded=coded,
        detections=None,
        model_name=model_name,
        model_version=None,
        latency_ms=None,
        failure=reason,
    )


class BatchWorker(Worker):
    """Runs one model on batches of frames from any number of cameras / lines."""

    def __init__(
        self,
        *,
        model_name: str,
        factory: DetectorFactory,
        inbox: Channel[CodedFrame],
        results: Channel[InferredFrame],
        settings: InspectorSettings,
        metrics: InspectorMetrics,
        stop: threading.Event,
    ) -> None:
        super().__init__(f"batch-{model_name}", stop)
        self.model_name = model_name
        self.factory = factory
        self.inbox = inbox
        self.results = results
        self.settings = settings
        self.metrics = metrics
        self.detector: Detector | None = None
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._retry_delay = settings.reconnect_min_s
        self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{model_name}")
        self.batches = 0
        self._warn = RateLimitedLog(log)

    def setup(self) -> None:
        """Connect the detector (a failure here is retried later, not fatal)."""
        self._connect()

    def _connect(self) -> Detector | None:
        if self.detector is not None:
            return self.detector
        if time.monotonic() < self._retry_at:
            return None
        try:
            self.detector = self.factory()
        except Exception as exc:  # any failure to build the detector is retried with backoff
            self._fail_connection(f"cannot connect detector: {exc}")
            return None
        if self.last_error is not None:
            log.info("model %s: detector connected again after: %s", self.model_name, self.last_error)
            self.metrics.detector_reconnects.labels(self.model_name).inc()
        self.last_error = None
        self._retry_delay = self.settings.reconnect_min_s
        return self.detector

    def _fail_connection(self, error: str) -> None:
        self.last_error = error
        self._retry_at = time.monotonic() + self._retry_delay
        log.error("model %s: %s; retrying in %.1fs", self.model_name, error, self._retry_delay)
        self._retry_delay = min(self._retry_delay * 2, self.settings.reconnect_max_s)
        if self.detector is not None:
            detector, self.detector = self.detector, None
            try:
                detector.close()
            except Exception:  # closing a broken detector is best effort
                log.debug("model %s: close after failure raised", self.model_name, exc_info=True)

    def _collect(self) -> list[CodedFrame] | None:
        """Up to ``max_batch`` frames, waiting at most ``max_delay_ms`` after the first; None when drained."""
        try:
            first = self.inbox.get(timeout=0.1)
        except ChannelClosed:
            return None
        if first is None:
            return []
        batch = [first]
        flush_at = time.monotonic() + self.settings.max_delay_ms / 1000.0
        while len(batch) < self.settings.max_batch:
            remaining = flush_at - time.monotonic()
            item = self.inbox.get_nowait() if remaining <= 0 else self._get_or_none(remaining)
            if item is None:
                break
            batch.append(item)
        return batch

    def _get_or_none(self, timeout: float) -> CodedFrame | None:
        try:
            return self.inbox.get(timeout=timeout)
        except ChannelClosed:
            return None

    def run(self) -> None:
        """Batch and infer until the inbox is drained (or stop is set)."""
        while not self.stop.is_set():
            batch = self._collect()
            if batch is None:
                return
            if batch:
                self.process(batch)

    def process(self, batch: list[CodedFrame]) -> None:
        """Infer one batch and emit one :class:`InferredFrame` per frame."""
        now = time.monotonic()
        live: list[CodedFrame] = []
        for coded in batch:
            waited = now - coded.received_at
            if waited > self.settings.deadline_s:
                reason = (
                    f"not inferred within the deadline: waited {waited:.1f}s > {self.settings.deadline_s}s"
                )
                self._emit_failure(coded, "deadline", reason)
            else:
                live.append(coded)
        if not live:
            return
        detector = self._connect()
        if detector is None:
            self._fail_all(live, "unavailable", f"detector unavailable: {self.last_error}")
            return
        images = [c.frame.image for c in live]
        started = time.monotonic()
        future = self._executor.submit(detector.detect, images)
        try:
            detections = future.result(timeout=self.settings.infer_timeout_s)
        except cf.TimeoutError:
            reason = f"inference timed out after {self.settings.infer_timeout_s}s"
            self._abandon_executor()
            self._fail_connection(reason)
            self._fail_all(live, "timeout", reason)
            return
        except ServingError as exc:
            self._fail_connection(f"{type(exc).__name__}: {exc}")
            self._fail_all(live, "error", f"inference failed: {type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # an unexpected detector bug must still not pass a unit
            log.exception("model %s: detector raised", self.model_name)
            self._fail_connection(f"{type(exc).__name__}: {exc}")
            self._fail_all(live, "error", f"inference failed: {type(exc).__name__}: {exc}")
            return
        seconds = time.monotonic() - started
        if len(detections) != len(live):
            reason = f"detector returned {len(detections)} results for {len(live)} images"
            self._fail_connection(reason)
            self._fail_all(live, "error", reason)
            return
        self.batches += 1
        self.metrics.inferred(self.model_name, len(live), seconds)
        version = str(detector.model_version)
        for coded, det in zip(live, detections, strict=True):
            self._emit(coded, det, version, seconds * 1000.0)

    def _abandon_executor(self) -> None:
        """Leave a hung call behind: later batches get a fresh helper thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{self.model_name}")

    def _emit(self, coded: CodedFrame, det: Detections, version: str, latency_ms: float) -> None:
        item = InferredFrame(
            coded=coded,
            detections=det,
            model_name=self.model_name,
            model_version=version,
            latency_ms=latency_ms,
        )
        self.results.put_until(item, self.stop)

    def _fail_all(self, frames: list[CodedFrame], cause: str, reason: str) -> None:
        self._warn.warning(
            cause, "model %s: %d frame(s) not_inspected: %s", self.model_name, len(frames), reason
        )
        for coded in frames:
            self._emit_failure(coded, cause, reason, quiet=True)

    def _emit_failure(self, coded: CodedFrame, cause: str, reason: str, *, quiet: bool = False) -> None:
        if not quiet:
            self._warn.warning(
                cause, "line %s frame %d not_inspected: %s", coded.frame.line_id, coded.frame.seq, reason
            )
        self.metrics.frame_not_inspected(coded.frame.line_id, cause)
        self.results.put_until(failed(coded, self.model_name, reason), self.stop)

    def teardown(self) -> None:
        """Close the detector and the results channel (as one of its producers)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.detector is not None:
            try:
                self.detector.close()
            except Exception:  # best effort on the way out
                log.debug("model %s: close raised", self.model_name, exc_info=True)
            self.detector = None
        self.results.close()
