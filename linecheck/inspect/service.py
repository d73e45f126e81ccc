"""The inspector service: wires sources, code readers, batchers, judge, outbox and sender.

One service can run several lines (and several cameras per line); frames are batched across
them per model. Shutting down stops the sources first and then lets every frame already read
flow through to the outbox, so a stop never loses an accepted frame; what the API has not
acknowledged stays in the outbox for the next run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

from linecheck.config import LineConfig, model_of
from linecheck.errors import ConfigError
from linecheck.inspect.alarm_watch import AlarmWatch
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.batcher import BatchWorker, DetectorFactory
from linecheck.inspect.code_reader import CodeReader
from linecheck.inspect.frame_source import FrameSource, SourceContext, open_source
from linecheck.inspect.gate import DecisionSink, RejectGate
from linecheck.inspect.kinds import KindLogic, logic_for
from linecheck.inspect.messages import CodedFrame, InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.metrics_server import MetricsServer
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.outputs import build_outputs
from linecheck.inspect.outputs.base import LineOutput, OutputContext, OutputMetrics
from linecheck.inspect.sender import SenderWorker
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.shadow import ShadowLog, ShadowSpec, ShadowWorker, judged_for_shadow, shadow_dir
from linecheck.inspect.stages import CodeWorker, JudgeWorker, Observer, RecordWorker, SourceWorker
from linecheck.inspect.triggers import TriggerBoard
from linecheck.inspect.verification_watch import VerificationWatch
from linecheck.inspect.workers import Channel, Worker
from linecheck.messages import Frame
from linecheck.verification import met

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceSpec:
    """One camera to run: the line, the station and the source URI."""

    line_id: str
    station: str
    uri: str


def _model_state(worker: BatchWorker | ShadowWorker) -> str:
    """A model worker's state in the status: stopped (its worker finished), up or down."""
    if worker.finished.is_set():
        return "stopped"
    return "up" if worker.detector is not None else "down"


class InspectorService:
    """Runs the line-side pipeline for one or more lines until stopped (or the sources end)."""

    def __init__(
        self,
        lines: Sequence[LineConfig],
        *,
        detectors: Mapping[str, DetectorFactory],
        settings: InspectorSettings,
        client: ApiClient | None,
        sources: Sequence[SourceSpec] | None = None,
        board: TriggerBoard | None = None,
        metrics: InspectorMetrics | None = None,
        observers: Sequence[Observer] = (),
        code_workers: int = 1,
        sinks: Sequence[DecisionSink] = (),
        shadows: Mapping[str, Sequence[ShadowSpec]] | None = None,
    ) -> None:
        if not lines:
            raise ConfigError("inspector: no lines to run")
        self.lines = {line.id: line for line in lines}
        self.settings = settings
        self.client = client
        self.metrics = metrics or InspectorMetrics()
        self.board = board or TriggerBoard()
        for line in lines:
            self.board.expect(
                line.id,
                line.code_pattern,
                products=line.product_ids,
                default_product=line.default_product,
            )
        self.sources = list(sources) if sources is not None else self._configured_sources(lines)
        for spec in self.sources:
            if spec.line_id not in self.lines:
                raise ConfigError(
                    f"source {spec.uri!r}: line_id={spec.line_id!r} is not one of {sorted(self.lines)}"
                )
        missing = sorted({model_of(v) for line in lines for v in line.variants()} - set(detectors))
        if missing:
            raise ConfigError(f"inspector: no detector for model(s) {missing}; have {sorted(detectors)}")
        self.detectors = detectors
        self.shadows = {lid: list(specs) for lid, specs in (shadows or {}).items() if specs}
        unknown = sorted(set(self.shadows) - set(self.lines))
        if unknown:
            raise ConfigError(
                f"shadow models for line(s) {unknown}, which are not among {sorted(self.lines)}"
            )
        self.shadow_workers: list[ShadowWorker] = []
        #: Per line, the latest inspection of each challenge part this inspector saw (status only: the
        #: API keeps the record and says whether the verification is due).
        self.challenge_runs: dict[str, dict[str, dict[str, Any]]] = {}
        self.verification: VerificationWatch | None = None
        #: The run alarms of the lines with ``alarms:`` (None: no line has any).
        self.alarms = AlarmWatch(lines, self.metrics) if any(line.alarms for line in lines) else None
        self._challenge_lock = threading.Lock()
        self.code_workers = max(1, code_workers)
        self.observers = list(observers)
        self.sinks = list(sinks)
        self.gate: RejectGate | None = None
        self.outputs: list[LineOutput] = []
        self.logics: dict[str, KindLogic] = {line.id: logic_for(line) for line in lines}
        self.outbox: Outbox | None = None
        self.server: MetricsServer | None = None
        self._source_stop = threading.Event()
        self._abort = threading.Event()
        self._sender_stop = threading.Event()
        self.source_workers: list[SourceWorker] = []
        self.pipeline: list[Worker] = []
        self.batchers: dict[str, BatchWorker] = {}
        self.sender: SenderWorker | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    @staticmethod
    def _configured_sources(lines: Sequence[LineConfig]) -> list[SourceSpec]:
        return [
            SourceSpec(line_id=ln.id, station=cam.station, uri=cam.source)
            for ln in lines
            for cam in ln.cameras
        ]

    # -- life cycle ---------------------------------------------------------------------------
    def _open_sources(self) -> list[FrameSource]:
        s = self.settings
        out = []
        for spec in self.sources:
            ctx = SourceContext(
                line=self.lines[spec.line_id],
                station=spec.station,
                reconnect_min_s=s.reconnect_min_s,
                reconnect_max_s=s.reconnect_max_s,
            )
            out.append(open_source(spec.uri, ctx))
        return out

    def start(self) -> None:
        """Open the outbox, start the metrics server and every worker."""
        s = self.settings
        sources = self._open_sources()  # URI errors surface before any thread starts
        self.outbox = Outbox(s.outbox_path, s.images_dir, keep_sent_images=s.keep_sent_images)
        frames: Channel[Frame] = Channel("frames", s.queue_size, producers=len(sources))
        models = sorted({model_of(v) for line in self.lines.values() for v in line.variants()})
        model_queues: dict[str, Channel[CodedFrame]] = {
            m: Channel(f"infer-{m}", s.queue_size, producers=self.code_workers) for m in models
        }
        results: Channel[InferredFrame] = Channel(
            "results", s.queue_size, producers=self.code_workers + len(models)
        )
        records: Channel[InspectionResult] = Channel("records", s.queue_size)
        watched: list[Channel[Any]] = [frames, *model_queues.values(), results, records]
        for ch in watched:
            self.metrics.watch_queue(ch.name, ch.qsize)
        self.metrics.watch_outbox(self.outbox.counts, self.outbox.image_backlog)
        gate = self.gate = RejectGate(self.lines, metrics=self.metrics, sinks=self.sinks, board=self.board)
        self.source_workers = [
            SourceWorker(
                source=src,
                out=frames,
                metrics=self.metrics,
                stop=self._source_stop,
                admit=gate.admit,
                product=partial(self.board.product, src.context.line_id),
            )
            for src in sources
        ]
        readers = {lid: CodeReader(line, board=self.board) for lid, line in self.lines.items()}
        code_workers = [
            CodeWorker(
                name=f"code-{i}",
                readers=readers,
                routes=model_queues,
                inbox=frames,
                results=results,
                queue_wait_s=s.queue_wait_s,
                metrics=self.metrics,
                stop=self._abort,
            )
            for i in range(self.code_workers)
        ]
        self.batchers = {
            m: BatchWorker(
                model_name=m,
                factory=self.detectors[m],
                inbox=model_queues[m],
                results=results,
                settings=s,
                metrics=self.metrics,
                stop=self._abort,
            )
            for m in models
        }
        self.shadow_workers = [
            ShadowWorker(
                line_id=lid,
                spec=spec,
                logic=logic_for(self.lines[lid]),  # its own: kind logic keeps per-unit state
                inbox=Channel(f"shadow-{lid}-{spec.label}", s.queue_size),
                record=ShadowLog(
                    shadow_dir(s.inspector_dir, lid, spec.label),
                    line_id=lid,
                    label=spec.label,
                    keep_images=s.shadow_keep_images,
                ),
                metrics=self.metrics,
                max_batch=s.max_batch,
                reconnect_s=(s.reconnect_min_s, s.reconnect_max_s),
                stop=self._abort,
            )
            for lid, specs in self.shadows.items()
            for spec in specs
        ]
        observers = [*self.observers, self._note_challenge_part]
        if self.alarms is not None:
            observers.append(self.alarms.observe)
        if self.shadow_workers:
            observers.append(self._offer_to_shadows)
        judge = JudgeWorker(
            logics=self.logics,
            inbox=results,
            out=records,
            metrics=self.metrics,
            observers=observers,
            stop=self._abort,
            settle=gate.settle,
        )
        recorder = RecordWorker(outbox=self.outbox, inbox=records, stop=self._abort)
        gate.record = recorder.record
        self.pipeline = [*code_workers, *self.batchers.values(), judge, recorder]
        if self.client is not None and any(line.verification for line in self.lines.values()):
            self.verification = VerificationWatch(
                lines=list(self.lines.values()),
                client=self.client,
                metrics=self.metrics,
                poll_s=s.verification_poll_s,
                stop=self._sender_stop,
            )
        if self.client is not None:
            self.sender = SenderWorker(
                outbox=self.outbox,
                client=self.client,
                settings=s,
                metrics=self.metrics,
                stop=self._sender_stop,
            )
        if s.metrics_port:
            try:
                self.server = MetricsServer(
                    self.metrics.registry,
                    status=self.status,
                    board=self.board,
                    host=s.metrics_host,
                    port=s.metrics_port,
                    jobs=gate.job,
                    acknowledge=self.alarms.acknowledge if self.alarms is not None else None,
                )
            except OSError as exc:
                self.outbox.close()
                raise ConfigError(
                    f"metrics_port={s.metrics_port}: cannot listen on {s.metrics_host}: {exc}"
                ) from exc
            self.server.start()
            log.info("inspector metrics on %s/metrics", self.server.url)
        self._start_outputs(gate)
        self.started_at = time.monotonic()
        for worker in [
            *([self.verification] if self.verification else []),
            *self.shadow_workers,
            *self.pipeline,
            *([self.sender] if self.sender else []),
            *self.source_workers,
        ]:
            worker.start()

    def _note_challenge_part(self, result: InspectionResult, _inferred: InferredFrame) -> None:
        """A challenge part of the line's verification: tell the operator at once if it was judged right."""
        config = self.lines[result.line_id].verification
        part = config.part(result.code) if config is not None else None
        if part is None:
            return
        classes = {d.class_name for d in result.defects}
        ok = met(part, result.verdict.value, classes)
        self.metrics.challenge_parts.labels(result.line_id, part.code, "met" if ok else "missed").inc()
        with self._challenge_lock:
            self.challenge_runs.setdefault(result.line_id, {})[part.code] = {
                "met": ok,
                "verdict": result.verdict.value,
                "classes": sorted(classes),
                "expect": part.expect,
                "inspection_id": result.id,
                "captured_at": result.captured_at.isoformat(),
            }
        if self.verification is not None:
            self.verification.recheck()  # once its inspection reached the API
        if not ok:
            log.error(
                "line %s: challenge part %s was judged %s (%s), expected %s %s: the station may not catch "
                "this defect; stop and check it (GET /v1/lines/%s/verification)",
                result.line_id,
                part.code,
                result.verdict.value,
                ", ".join(sorted(classes)) or "no defect",
                part.expect,
                ", ".join(part.classes),
                result.line_id,
            )

    def _offer_to_shadows(self, result: InspectionResult, inferred: InferredFrame) -> None:
        """Give each of the line's shadow models the frame the line judged (never waiting for them)."""
        if judged_for_shadow(result):
            for worker in self.shadow_workers:
                if worker.line_id == result.line_id:
                    worker.offer((inferred, result))

    def _start_outputs(self, gate: RejectGate) -> None:
        """Build the line outputs the lines name, start them and the gate (an output that fails stops all)."""
        assert self.outbox is not None
        context = OutputContext(
            lines=list(self.lines.values()),
            settings=self.settings,
            metrics=self.metrics,
            output_metrics=OutputMetrics(self.metrics),
            gate=gate,
            outbox=self.outbox,
            status=self.status,
            board=self.board,
            alarms=self.alarms,
        )
        try:
            self.outputs = build_outputs(list(self.lines.values()), context)
            for output in self.outputs:
                output.start()
                gate.add_sink(output)
        except BaseException:
            self._close_outputs()
            if self.server is not None:
                self.server.stop()
                self.server = None
            self.outbox.close()
            raise
        gate.start()

    def _close_outputs(self) -> None:
        for output in reversed(self.outputs):
            try:
                output.close()
            except Exception:  # closing is best effort; every output gets its turn
                log.exception("output %s: close failed", output.name)

    def wait_sources(self, timeout: float | None = None) -> bool:
        """Wait until every source has ended (finite sources); True when they all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self.source_workers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not worker.join(left):
                return False
        return True

    def drain(self, timeout: float | None = None) -> bool:
        """Stop the sources and wait until every frame read so far is in the outbox."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for source in self.source_workers:
            source.halt()
        waiting: list[Worker] = [*self.source_workers, *self.pipeline]
        for worker in waiting:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not worker.join(left):
                log.error("inspector: %s did not drain within %.0fs", worker.name, timeout or 0)
                return False
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
        for shadow in self.shadow_workers:  # the judge is done: no more frames for them
            shadow.inbox.close()
        for shadow in self.shadow_workers:
            left = None if deadline is None else max(1.0, deadline - time.monotonic())
            if not shadow.join(left):  # a slow candidate never holds the line's results back
                log.warning("inspector: shadow %s had frames left when the drain ended", shadow.name)
        return True

    def wait_delivered(self, timeout: float) -> bool:
        """Wait until the outbox has nothing pending (the API acknowledged everything)."""
        if self.outbox is None or self.sender is None:
            return self.outbox is not None and self.outbox.counts()["pending"] == 0
        deadline = time.monotonic() + timeout
        self.sender.wake()
        while time.monotonic() < deadline:
            if self.outbox.counts()["pending"] == 0:
                return True
            time.sleep(0.1)
        return self.outbox.counts()["pending"] == 0

    def stop(self, *, drain_timeout_s: float = 60.0, deliver_timeout_s: float = 10.0) -> None:
        """Drain the pipeline, give the sender ``deliver_timeout_s`` to empty the outbox, then stop all."""
        drained = self.drain(drain_timeout_s)
        if not drained:
            self._abort.set()
            # Frames still in the stages are lost with the process: say how many, never silently.
            for line, frames in self.metrics.frames_unrecorded().items():
                self.metrics.abandoned(line, frames)
                log.error(
                    "inspector: stopped before %d frame(s) of line %s were recorded (drain timeout %.0fs): "
                    "they have no inspection; linecheck_inspector_frames_abandoned_total counts them",
                    frames,
                    line,
                    drain_timeout_s,
                )
        if self.sender is not None and deliver_timeout_s > 0:
            self.wait_delivered(deliver_timeout_s)
        self._abort.set()
        self._sender_stop.set()
        for worker in [
            *self.pipeline,
            *self.shadow_workers,
            *([self.sender] if self.sender else []),
            *([self.verification] if self.verification else []),
        ]:
            worker.join(5.0)
        if self.gate is not None:
            self.gate.close()
        self._close_outputs()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.outbox is not None:
            pending = self.outbox.counts()["pending"]
            if pending:
                log.warning(
                    "inspector stopped with %d inspection(s) pending in %s", pending, self.outbox.path
                )
            self.outbox.close()
            self.outbox = None
        if self.client is not None:
            self.client.close()

    def __enter__(self) -> InspectorService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- observation --------------------------------------------------------------------------
    def _challenge_status(self, line_id: str) -> dict[str, dict[str, Any]]:
        with self._challenge_lock:
            return {code: dict(run) for code, run in self.challenge_runs.get(line_id, {}).items()}

    def status(self) -> dict[str, Any]:
        """A JSON-friendly snapshot: per line counts and unit state, queues, models, outbox, sender."""
        m = self.metrics
        elapsed = ((self.stopped_at or time.monotonic()) - self.started_at) if self.started_at else 0.0
        lines = {}
        for lid, logic in self.logics.items():
            line, product = self.lines[lid], self.board.product(lid)
            lines[lid] = {
                "kind": logic.spec.name,
                "model": model_of(line.for_product(product)),
                **(
                    {
                        "product": product,
                        "products": line.product_ids,
                        "changeovers": self.board.changeovers.get(lid, 0),
                    }
                    if line.products
                    else {}
                ),
                "frames_in": m.total("frames_in", lid),
                "unreadable_files": m.total("source_unreadable", lid),
                "waiting_files": sum(
                    int(getattr(w.source, "waiting", 0))
                    for w in self.source_workers
                    if w.source.context.line_id == lid
                ),
                "verdicts": m.by_key("verdicts", lid),
                "codes": m.by_key("codes", lid),
                "defects": m.by_key("defects", lid),
                "not_inspected_causes": m.by_key("not_inspected", lid),
                "geometry_fallbacks": m.total("geometry_fallbacks", lid),
                "audit_samples": m.by_key("audit_samples", lid),
                "cameras": {
                    w.source.context.station: {
                        "last_frame": w.last_quality,
                        "frame_checks_failed": m.by_key("frame_checks", lid, w.source.context.station),
                        "drift": dict(w.drift),
                        "checks_product": w.checks_product,
                    }
                    for w in self.source_workers
                    if w.source.context.line_id == lid
                },
                "frames_abandoned": m.total("frames_abandoned", lid),
                "challenge_parts": self._challenge_status(lid),
                "verification": self.verification.snapshot(lid) if self.verification else None,
                "alarms": self.alarms.snapshot(lid) if self.alarms else None,
                "shadow": {
                    w.spec.label: {
                        **{k: v for k, v in w.record.snapshot().items() if k not in ("line_id", "shadow")},
                        "state": _model_state(w),
                        "last_error": w.last_error,
                    }
                    for w in self.shadow_workers
                    if w.line_id == lid
                },
                **logic.status(),
            }
        outbox = self.outbox.counts() if self.outbox is not None else None
        return {
            "elapsed_s": round(elapsed, 2),
            "frames_in": m.total("frames_in"),
            "frames_inferred": m.total("frames_inferred"),
            "fps_in": round(m.total("frames_in") / elapsed, 2) if elapsed else 0.0,
            "latency_ms_p50": m.latencies.percentile(50),
            "latency_ms_p99": m.latencies.percentile(99),
            "lines": lines,
            "models": {
                name: {
                    "connected": b.detector is not None,
                    "state": _model_state(b),
                    "batches": b.batches,
                    "last_error": b.last_error,
                    "version": None if b.detector is None else str(b.detector.model_version),
                }
                for name, b in self.batchers.items()
            },
            "outbox": outbox,
            "image_backlog": self.outbox.image_backlog() if self.outbox is not None else None,
            "sender": None
            if self.sender is None
            else {
                "online": self.sender.online,
                "last_error": self.sender.last_error,
                "clock": self.sender.clock.status(),
            },
            "errors": {w.name: repr(w.error) for w in [*self.source_workers, *self.pipeline] if w.error},
            "outputs": {o.name: o.status() for o in self.outputs},
            "fail_safe_rejects": self.gate.fired if self.gate is not None else 0,
        }
