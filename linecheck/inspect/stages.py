"""The pipeline stages other than batching and sending: source, code reader, judge, recorder.

source (one per camera) -> code reader (routes to the line's model queue) -> batcher (one per
model) -> judge (kind logic + verdict) -> recorder (outbox) -> sender. Each stage is a
:class:`~linecheck.inspect.workers.Worker` over bounded :class:`~linecheck.inspect.workers.Channel` s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from linecheck.config import LineConfig, model_of
from linecheck.errors import StoreError
from linecheck.frame_checks import META_KEY as FRAME_CHECK
from linecheck.frame_checks import FrameChecked, FrameChecker, FrameQuality
from linecheck.inspect.batcher import failed
from linecheck.inspect.code_reader import CodeReader, CodeReading
from linecheck.inspect.frame_source import FrameSource
from linecheck.inspect.geometry import FrameGeometry, bind, fallback, measure, remember
from linecheck.inspect.kinds import KindLogic
from linecheck.inspect.messages import CodedFrame, InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.products import product_of
from linecheck.inspect.verdict import judge, shorten
from linecheck.inspect.workers import Channel, ChannelClosed, RateLimitedLog, Worker
from linecheck.messages import CodeStatus, Frame

log = logging.getLogger(__name__)

#: Called by the judge with every result and the inferred frame it came from (demo scoring, tests).
Observer = Callable[[InspectionResult, InferredFrame], None]
#: Gives each frame its trigger as it is read (:meth:`linecheck.inspect.gate.RejectGate.admit`).
Admit = Callable[[Frame], Frame]
#: Decides each judged unit at the gate and returns what to record (:meth:`RejectGate.settle`).
Settle = Callable[[InspectionResult], InspectionResult]


class SourceWorker(Worker):
    """Reads one camera / file / simulator into the frames channel (blocking: a source is never dropped)."""

    def __init__(
        self,
        *,
        source: FrameSource,
        out: Channel[Frame],
        metrics: InspectorMetrics,
        stop: threading.Event,
        admit: Admit | None = None,
        product: Callable[[], str | None] | None = None,
    ) -> None:
        """``product``: the product the line is on now (a changeover switches the camera's frame checks)."""
        ctx = source.context
        super().__init__(f"source-{ctx.line_id}-{ctx.station}", stop)
        self.source = source
        self.out = out
        self.metrics = metrics
        self.admit = admit
        self.product = product
        self.frames = 0
        self._reconnects = 0
        self._skipped = 0
        #: Per product (None: the line's own config), the camera's checks with their memory.
        self._checkers: dict[str | None, FrameChecker] = {}
        #: The product whose checks the camera's frames are checked with now (None: the line's own).
        self.checks_product = product() if product is not None else None
        self.checker = self._checker_for(self.checks_product)
        #: The measures of the last frame read (None before the first): the status's ``cameras``.
        self.last_quality: dict[str, float] | None = None
        #: The drift watch's last report per measure (``checks.baseline``): the status's ``cameras``.
        self.drift: dict[str, dict[str, float | bool]] = {}

    def setup(self) -> None:
        """Open the source."""
        self.source.open()

    def run(self) -> None:
        """Read until the source ends or the worker is stopped."""
        ctx = self.source.context
        while not self.stop.is_set():
            frame = self.source.read()
            reconnects = int(getattr(self.source, "reconnects", 0))
            if reconnects > self._reconnects:
                self.metrics.source_reconnects.labels(ctx.line_id, ctx.station).inc(
                    reconnects - self._reconnects
                )
                self._reconnects = reconnects
            waiting = getattr(self.source, "waiting", None)
            if waiting is not None:
                self.metrics.source_waiting.labels(ctx.line_id, ctx.station).set(waiting)
            for _ in range(self.source.skipped - self._skipped):
                self.metrics.unreadable_file(ctx.line_id, ctx.station)
            self._skipped = self.source.skipped
            if frame is None:
                log.info("source %s ended after %d frame(s)", self.source.uri, self.frames)
                return
            self.frames += 1
            self.metrics.frame_in(ctx.line_id, ctx.station)
            frame = self.check(frame)
            if self.admit is not None:
                frame = self.admit(frame)
            started = time.monotonic()
            if not self.out.put(frame, timeout=0.5):
                self.out.put_until(frame, self.stop)  # stop only on a hard abort
                self.metrics.waited(self.out.name, time.monotonic() - started)

    def _checker_for(self, product: str | None) -> FrameChecker:
        """The camera's checks while the line is on ``product`` (``products[].checks`` over the camera's)."""
        if product not in self._checkers:
            ctx = self.source.context
            line = ctx.line.for_product(product) if product in ctx.line.product_ids else ctx.line
            self._checkers[product] = FrameChecker(line.frame_checks(ctx.station))
        return self._checkers[product]

    def check(self, frame: Frame) -> Frame:
        """``frame`` with its measures and the checks it failed in its meta (the code worker decides).

        The checks are those of the product the line is on as the frame is read: after a changeover, the
        new product's (its own brightness range, its own baseline for the drift watch). A unit that turns
        out to be another product (its job or its code names it) is judged again with that product's
        checks by the code worker, which counts the refusals.
        """
        ctx = self.source.context
        if self.product is not None:
            product = self.product()
            checker = self._checker_for(product)
            if checker is not self.checker:
                self.checker, self.checks_product, self.drift = checker, product, {}
        quality: FrameQuality | None = None
        try:
            quality, found = self.checker.check(frame.image)
        except Exception as exc:  # per-frame loop boundary: an unmeasured frame is not judged, not lost
            log.exception(
                "line %s station %s frame %d: frame check failed", ctx.line_id, ctx.station, frame.seq
            )
            found = [("error", f"the frame check failed: {type(exc).__name__}: {exc}")]
        else:
            self.last_quality = quality.as_dict()
            self.metrics.frame_quality(ctx.line_id, ctx.station, self.last_quality)
            self.watch_drift()
        checked = FrameChecked(product=self.checks_product, quality=quality, found=tuple(found))
        return replace(frame, meta={**frame.meta, FRAME_CHECK: checked})

    def watch_drift(self) -> None:
        """Report the running levels against the camera's baseline; log a drift when it starts and ends."""
        if self.checker.drift is None:
            return
        ctx = self.source.context
        drifts = self.checker.drift.drifts()
        self.metrics.frame_drifts(ctx.line_id, ctx.station, drifts)
        for drift in drifts:
            was = bool(self.drift.get(drift.measure, {}).get("drifting"))
            if drift.drifting and not was:
                log.warning(
                    "line %s station %s: %s drifting: running level %.1f is %+.0f %% from its baseline %.1f "
                    "(checks.baseline.tolerance %.0f %%): check the lighting and the lens",
                    ctx.line_id,
                    ctx.station,
                    drift.measure,
                    drift.level,
                    100 * drift.change,
                    drift.baseline,
                    100 * self.checker.drift.baseline.tolerance,
                )
            elif was and not drift.drifting:
                log.info(
                    "line %s station %s: %s back within its baseline", ctx.line_id, ctx.station, drift.measure
                )
            self.drift[drift.measure] = drift.as_dict()

    def halt(self) -> None:
        """Stop reading: set the stop event and interrupt a blocked read."""
        self.stop.set()
        self.source.interrupt()

    def teardown(self) -> None:
        """Close the source and this producer's side of the channel."""
        try:
            self.source.close()
        finally:
            self.out.close()


class CodeWorker(Worker):
    """Identifies the unit of each frame and routes it to its line's model queue.

    When a model queue stays full for ``queue_wait_s`` (inference is falling behind), the
    frame becomes ``not_inspected`` right here, counted and logged — never silently dropped. So does
    a frame that failed its camera's checks (:mod:`linecheck.frame_checks`): it is never inferred.
    """

    def __init__(
        self,
        *,
        name: str,
        readers: Mapping[str, CodeReader],
        routes: Mapping[str, Channel[CodedFrame]],
        inbox: Channel[Frame],
        results: Channel[InferredFrame],
        queue_wait_s: float,
        metrics: InspectorMetrics,
        stop: threading.Event,
    ) -> None:
        super().__init__(name, stop)
        self.readers = readers
        self.routes = routes
        self.inbox = inbox
        self.results = results
        self.queue_wait_s = queue_wait_s
        self.metrics = metrics
        self._warn = RateLimitedLog(log)

    def run(self) -> None:
        """Read codes until the frames channel is drained."""
        while not self.stop.is_set():
            try:
                frame = self.inbox.get(timeout=0.1)
            except ChannelClosed:
                return
            if frame is not None:
                self.handle(frame)

    def handle(self, frame: Frame) -> None:
        """Identify, then queue for inference (or fail the frame when the queue stays full)."""
        age = max(0.0, (datetime.now(UTC) - frame.captured_at).total_seconds())
        try:
            reading = self.readers[frame.line_id].read(frame)
        except (
            Exception
        ) as exc:  # per-frame loop boundary: a decoder crash makes the code unread, not the frame lost
            log.exception("line %s frame %d: code reader failed", frame.line_id, frame.seq)
            reading = CodeReading(code=None, status=CodeStatus.UNREAD, note=f"code reader failed: {exc}")
        reader = self.readers[frame.line_id]
        product = product_of(
            reader.line, code=reading.code, trigger=frame.meta.get("trigger"), board=reader.board
        )
        line = reader.line.for_product(product)
        bind(line, frame.image)
        refused = self.frame_check(line, frame, product)
        coded = CodedFrame(
            frame=frame,
            line=line,
            code=reading.code,
            code_status=reading.status,
            received_at=time.monotonic() - age,
            code_note=reading.note,
            geometry=None if refused else self.measure(line, frame),
        )
        model_name = model_of(line)
        queue = self.routes[model_name]
        if refused:  # a frame no model should judge: recorded not_inspected with its image and code
            key = f"frame-check-{frame.line_id}-{frame.station}"
            self.not_inspected(coded, model_name, "frame_check", f"frame check: {refused}", key)
            return
        started = time.monotonic()
        if queue.put(coded, timeout=self.queue_wait_s):
            self.metrics.waited(queue.name, time.monotonic() - started)
            return
        self.metrics.waited(queue.name, time.monotonic() - started)
        reason = f"inference queue {queue.name} full for {self.queue_wait_s}s: inference is falling behind"
        self.not_inspected(coded, model_name, "queue_full", reason, queue.name)

    def frame_check(self, line: LineConfig, frame: Frame, product: str | None) -> str | None:
        """Why ``frame`` must not be judged as a unit of ``product`` (None: it may be), counted by check.

        The source checked it for the product the line was on; a unit of another product (named by its
        job or its code) is judged with that product's checks, from the same measures.
        """
        checked = frame.meta.get(FRAME_CHECK)
        if not isinstance(checked, FrameChecked):  # a frame no source worker checked
            return None
        found = checked.for_product(product, line.frame_checks(frame.station))
        if not found:
            return None
        self.metrics.frame_check_failed(frame.line_id, frame.station, [name for name, _text in found])
        return "; ".join(text for _name, text in found)

    def not_inspected(
        self, coded: CodedFrame, model_name: str, cause: str, reason: str, log_key: str
    ) -> None:
        """Pass ``coded`` on uninferred, not_inspected for ``reason``: counted by cause, logged."""
        frame = coded.frame
        self.metrics.frame_not_inspected(frame.line_id, cause)
        self._warn.warning(
            log_key,
            "line %s station %s frame %d not_inspected: %s",
            frame.line_id,
            frame.station,
            frame.seq,
            reason,
        )
        self.results.put_until(failed(coded, model_name, reason), self.stop)

    def measure(self, line: LineConfig, frame: Frame) -> FrameGeometry | None:
        """The product's geometry in ``frame`` on a ``geometry_mode: auto`` line (fallbacks counted)."""
        try:
            found = measure(line, frame.image)
        except Exception as exc:  # per-frame loop boundary: a finder crash keeps the YAML's geometry
            log.exception("line %s frame %d: geometry finder failed", frame.line_id, frame.seq)
            found = remember(line, frame.image, fallback(f"finder failed: {type(exc).__name__}: {exc}"))
        if found is not None and found.source == "fixed":
            self.metrics.geometry_fallback(frame.line_id)
        return found

    def teardown(self) -> None:
        """Close this producer's side of every model queue and of the results channel."""
        for queue in self.routes.values():
            queue.close()
        self.results.close()


class JudgeWorker(Worker):
    """Applies the kind logic and the verdict; every inferred frame becomes exactly one result."""

    def __init__(
        self,
        *,
        logics: Mapping[str, KindLogic],
        inbox: Channel[InferredFrame],
        out: Channel[InspectionResult],
        metrics: InspectorMetrics,
        observers: Sequence[Observer],
        stop: threading.Event,
        settle: Settle | None = None,
    ) -> None:
        super().__init__("judge", stop)
        self.logics = logics
        self.inbox = inbox
        self.out = out
        self.metrics = metrics
        self.observers = list(observers)
        self.settle = settle

    def run(self) -> None:
        """Judge until the results channel is drained."""
        while not self.stop.is_set():
            try:
                inferred = self.inbox.get(timeout=0.1)
            except ChannelClosed:
                return
            if inferred is not None:
                self.handle(inferred)

    def handle(self, inferred: InferredFrame) -> None:
        """Judge one frame, account it, notify observers and pass the result on."""
        line_id = inferred.coded.frame.line_id
        logic = self.logics[line_id]
        try:
            result = judge(inferred, logic)
        except Exception as exc:  # per-frame loop boundary: a bug must neither pass nor lose the frame
            log.exception("line %s frame %d: judging failed", line_id, inferred.coded.frame.seq)
            reason = f"internal error while judging: {type(exc).__name__}: {exc}"
            self.metrics.frame_not_inspected(line_id, "error")
            result = judge(failed(inferred.coded, inferred.model_name, reason), logic)
        if self.settle is not None:
            result = self.settle(result)  # the gate's decision; past the deadline: not_inspected
        if logic.observe(result):
            self.metrics.unit(line_id, None)
        self.metrics.verdict(
            line_id, result.verdict.value, [d.class_name for d in result.defects], result.code_status.value
        )
        if result.audit_sample:
            self.metrics.audit_kept(line_id, "sample")
        if result.audit_borderline:
            self.metrics.audit_kept(line_id, "borderline")
        status = logic.status().get("current_roll")
        if status and status.get("points_per_100yd2") is not None:
            self.metrics.roll_score.labels(line_id).set(status["points_per_100yd2"])
        for observer in self.observers:
            try:
                observer(result, inferred)
            except Exception:  # an observer bug must not stop the line
                log.exception("observer %r failed", observer)
        self.out.put_until(result, self.stop)

    def teardown(self) -> None:
        """Close the units in progress and the results channel."""
        for logic in self.logics.values():
            logic.finish()
        self.out.close()


class RecordWorker(Worker):
    """Commits every result to the outbox (retrying on a storage error: a result is never lost)."""

    def __init__(
        self, *, outbox: Outbox, inbox: Channel[InspectionResult], stop: threading.Event, retry_s: float = 1.0
    ) -> None:
        super().__init__("recorder", stop)
        self.outbox = outbox
        self.inbox = inbox
        self.retry_s = retry_s
        self.recorded = 0

    def run(self) -> None:
        """Record until the channel is drained."""
        while not self.stop.is_set():
            try:
                result = self.inbox.get(timeout=0.1)
            except ChannelClosed:
                return
            if result is not None:
                self.record(result)

    def record(self, result: InspectionResult) -> None:
        """Add one result to the outbox, retrying until it is stored or the worker is aborted.

        A storage failure (disk full, database locked) is retried; any other failure (an image
        that cannot be encoded) stores the result without its images, saying so in the reason.
        """
        while True:
            try:
                self.outbox.add(result)
                self.recorded += 1
                return
            except Exception as exc:  # per-result loop boundary
                if not isinstance(exc, StoreError | OSError) and result.image is not None:
                    log.exception(
                        "outbox: cannot keep the images of inspection %s; storing it without", result.id
                    )
                    result = _without_images(result, exc)
                    continue
                log.error(
                    "outbox: cannot store inspection %s, retrying in %.0fs: %s", result.id, self.retry_s, exc
                )
                if self.stop.wait(self.retry_s):
                    log.critical(
                        "outbox: aborted with inspection %s unsaved (verdict %s)", result.id, result.verdict
                    )
                    return


def _without_images(result: InspectionResult, exc: BaseException) -> InspectionResult:
    """``result`` with no image to keep, the failure noted in its reason."""
    note = f"images not kept: {type(exc).__name__}: {exc}"
    reason = shorten(f"{result.reason}; {note}" if result.reason else note)
    return replace(result, image=None, reason=reason)
