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


class DetectorLink:
    """One model's detector, built by its factory when first needed, rebuilt with backoff after a failure.

    :meth:`get` returns the detector, or None while the model is down and its next try is not due;
    :meth:`fail` drops a detector that failed and puts the next try ``min_s`` later, doubling up to
    ``max_s``. ``on_connect`` is called with the error the model recovers from (None the first time).
    """

    def __init__(
        self,
        name: str,
        factory: DetectorFactory,
        *,
        min_s: float,
        max_s: float,
        report: Callable[[str], None],
        on_connect: Callable[[Detector, str | None], None] | None = None,
    ) -> None:
        self.name = name
        self.factory = factory
        self.min_s, self.max_s = min_s, max_s
        self.report = report
        self.on_connect = on_connect
        self.detector: Detector | None = None
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._delay = min_s

    def get(self) -> Detector | None:
        """The connected detector, connecting it when a try is due; None while the model is down."""
        if self.detector is not None:
            return self.detector
        if time.monotonic() < self._retry_at:
            return None
        try:
            self.detector = self.factory()
        except Exception as exc:  # any failure to build the detector is retried with backoff
            self.fail(f"cannot connect detector: {exc}")
            return None
        recovered, self.last_error = self.last_error, None
        self._delay = self.min_s
        if self.on_connect is not None:
            self.on_connect(self.detector, recovered)
        return self.detector

    def fail(self, error: str) -> None:
        """The model failed with ``error``: close its detector and try again after the backoff."""
        self.last_error = error
        self._retry_at = time.monotonic() + self._delay
        self.report(f"{error}; retrying in {self._delay:.1f}s")
        self._delay = min(self._delay * 2, self.max_s)
        self.close()

    def close(self) -> None:
        """Close the detector, if one is connected (best effort)."""
        if self.detector is not None:
            detector, self.detector = self.detector, None
            try:
                detector.close()
            except Exception:  # closing a broken detector is best effort
                log.debug("model %s: close raised", self.name, exc_info=True)


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
        self.link = DetectorLink(
            model_name,
            factory,
            min_s=settings.reconnect_min_s,
            max_s=settings.reconnect_max_s,
            report=lambda text: log.error("model %s: %s", model_name, text),
            on_connect=self._connected,
        )
        self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{model_name}")
        self.batches = 0
        self._warn = RateLimitedLog(log)

    def setup(self) -> None:
        """Connect the detector (a failure here is retried later, not fatal)."""
        self.link.get()

    @property
    def detector(self) -> Detector | None:
        """The connected detector (None while the model is down)."""
        return self.link.detector

    @property
    def last_error(self) -> str | None:
        """Why the model is down, or was last (None once it answers again)."""
        return self.link.last_error

    def _connected(self, _detector: Detector, recovered: str | None) -> None:
        if recovered is not None:
            log.info("model %s: detector connected again after: %s", self.model_name, recovered)
            self.metrics.detector_reconnects.labels(self.model_name).inc()

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
        detector = self.link.get()
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
            self.link.fail(reason)
            self._fail_all(live, "timeout", reason)
            return
        except ServingError as exc:
            self.link.fail(f"{type(exc).__name__}: {exc}")
            self._fail_all(live, "error", f"inference failed: {type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # an unexpected detector bug must still not pass a unit
            log.exception("model %s: detector raised", self.model_name)
            self.link.fail(f"{type(exc).__name__}: {exc}")
            self._fail_all(live, "error", f"inference failed: {type(exc).__name__}: {exc}")
            return
        seconds = time.monotonic() - started
        if len(detections) != len(live):
            reason = f"detector returned {len(detections)} results for {len(live)} images"
            self.link.fail(reason)
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
        self.link.close()
        self.results.close()
