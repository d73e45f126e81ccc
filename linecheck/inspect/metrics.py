"""Prometheus metrics of one inspector, on its own registry, plus an in-memory tally for summaries.

Every counter the pipeline bumps goes through :class:`InspectorMetrics`, which updates the
Prometheus series and a plain snapshot (:meth:`InspectorMetrics.snapshot`) used by the live
status line and the demo summary. Several services can live in one process (tests) because
each has its own :class:`~prometheus_client.CollectorRegistry`.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from linecheck.frame_checks import Drift

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class LatencyWindow:
    """The most recent ``size`` latency samples, for percentiles in summaries."""

    def __init__(self, size: int = 10_000) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value_ms: float) -> None:
        """Record one sample (milliseconds)."""
        with self._lock:
            self._samples.append(value_ms)

    def samples(self) -> list[float]:
        """A copy of the window (milliseconds, oldest first)."""
        with self._lock:
            return list(self._samples)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of the window, None when empty."""
        with self._lock:
            if not self._samples:
                return None
            return float(np.percentile(np.fromiter(self._samples, float), q))

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)


def _count_of(counts: Callable[[], dict[str, int]], state: str) -> Callable[[], float]:
    return lambda: float(counts().get(state, 0))


class InspectorMetrics:
    """All of one inspector's metrics (names prefixed ``linecheck_inspector_``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        p = "linecheck_inspector_"
        self.frames_in = Counter(f"{p}frames_in", "Frames read from sources", ["line", "station"], registry=r)
        self.frames_inferred = Counter(
            f"{p}frames_inferred", "Frames the detector answered", ["model"], registry=r
        )
        self.not_inspected = Counter(
            f"{p}frames_not_inspected",
            "Frames that could not be inferred, by cause",
            ["line", "cause"],
            registry=r,
        )
        self.clock_offset = Gauge(
            f"{p}clock_offset_seconds",
            "The API's clock minus this PC's, from the HTTP Date of the API's answers (0 until one came)",
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{p}queue_depth", "Items waiting in a stage's input queue", ["queue"], registry=r
        )
        self.backpressure = Counter(
            f"{p}backpressure_seconds", "Time producers waited on a full queue", ["queue"], registry=r
        )
        self.latency = Histogram(
            f"{p}inference_latency_seconds",
            "Duration of one inference call",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            f"{p}batch_size", "Frames per inference call", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.verdicts = Counter(
            f"{p}verdicts", "Inspection verdicts (per frame)", ["line", "verdict"], registry=r
        )
        self.units = Counter(f"{p}units", "Units (rolls, parts, modules) seen", ["line"], registry=r)
        self.defects = Counter(f"{p}defects", "Defects above threshold", ["line", "class_name"], registry=r)
        self.codes = Counter(f"{p}codes", "Unit identification outcomes", ["line", "status"], registry=r)
        self.outbox_backlog = Gauge(f"{p}outbox_backlog", "Outbox rows by state", ["state"], registry=r)
        self.outbox_sent = Counter(f"{p}outbox_sent", "Inspections acknowledged by the API", registry=r)
        self.outbox_rejected = Counter(
            f"{p}outbox_rejected", "Inspections the API refused (kept in the outbox)", registry=r
        )
        self.outbox_parked = Counter(
            f"{p}outbox_parked",
            "Outbox rows parked as rejected without blocking the rows behind them: server_error (the API "
            "kept answering 5xx for the row alone) or unsendable (the payload cannot be serialised)",
            ["reason"],
            registry=r,
        )
        self.send_failures = Counter(f"{p}send_failures", "Failed sends, by cause", ["cause"], registry=r)
        self.images_deferred = Counter(
            f"{p}images_deferred",
            "Inspections posted before their images because the API's image store was full",
            registry=r,
        )
        self.image_backlog = Gauge(
            f"{p}image_backlog", "Local images not uploaded to the API yet", registry=r
        )
        self.source_unreadable = Counter(
            f"{p}source_unreadable_files",
            "Files a folder or video source could not decode (skipped, logged)",
            ["line", "station"],
            registry=r,
        )
        self.source_waiting = Gauge(
            f"{p}source_waiting_files",
            "Images waiting in a hot folder (watch://) to be read: growing, the inspector falls behind",
            ["line", "station"],
            registry=r,
        )
        self.source_reconnects = Counter(
            f"{p}source_reconnects", "Frame source reconnections", ["line", "station"], registry=r
        )
        self.detector_reconnects = Counter(
            f"{p}detector_reconnects", "Detector (re)connections after a failure", ["model"], registry=r
        )
        self.frames_abandoned = Counter(
            f"{p}frames_abandoned",
            "Frames read but not recorded because the inspector was stopped before they drained",
            ["line"],
            registry=r,
        )
        self.geometry_fallbacks = Counter(
            f"{p}geometry_fallbacks",
            "Frames of geometry_mode: auto lines in which the product was not found (placed with the "
            "line YAML's geometry)",
            ["line"],
            registry=r,
        )
        self.audit_samples = Counter(
            f"{p}audit_samples",
            "Passed frames kept for a person to audit (linecheck.audit), by reason: sample (the line's "
            "audit.pass_sample) or borderline (a near miss within audit.borderline of a threshold)",
            ["line", "reason"],
            registry=r,
        )
        self.reject_signals = Counter(
            f"{p}reject_signals",
            "Reject-signal events sent, by reject true/false",
            ["line", "reject"],
            registry=r,
        )
        self.trigger_repeats = Counter(
            f"{p}trigger_repeats",
            "PLC jobs received again with the trigger id of a recent one (answered with that job)",
            ["line"],
            registry=r,
        )
        self.mqtt_trigger_requests = Counter(
            f"{p}mqtt_trigger_requests",
            "Trigger requests read from the lines' MQTT trigger topics, by outcome "
            "(job, code, changeover, refused)",
            ["line", "outcome"],
            registry=r,
        )
        self.frame_level = Gauge(
            f"{p}frame_quality",
            "The last frame's measures per camera (brightness, contrast, saturated, sharpness): a lamp "
            "ageing or a lens drifting out of focus shows here before a check fails",
            ["line", "station", "measure"],
            registry=r,
        )
        self.frame_drift = Gauge(
            f"{p}frame_drift",
            "A camera's running level of a measure against its checks.baseline, as a relative change "
            "(-0.2: a fifth lower; frame_checks drift watch)",
            ["line", "station", "measure"],
            registry=r,
        )
        self.frame_drifting = Gauge(
            f"{p}frame_drifting",
            "1 while a camera's running level of a measure is more than checks.baseline.tolerance away "
            "from its baseline (an early warning: the frames are still judged)",
            ["line", "station", "measure"],
            registry=r,
        )
        self.frame_check_failures = Counter(
            f"{p}frame_check_failures",
            "Frames a camera's checks refused (not inspected), by check: brightness, contrast, saturated, "
            "sharpness, frozen, error",
            ["line", "station", "check"],
            registry=r,
        )
        self.shadow_frames = Counter(
            f"{p}shadow_frames",
            "Frames a line's shadow model judged, by outcome: both_pass, both_fail, production_only "
            "(production failed, the shadow would have passed), shadow_only",
            ["line", "shadow", "outcome"],
            registry=r,
        )
        self.shadow_skip = Counter(
            f"{p}shadow_skipped",
            "Frames a shadow model did not judge, by cause (queue_full, unavailable, error)",
            ["line", "shadow", "cause"],
            registry=r,
        )
        self.challenge_parts = Counter(
            f"{p}challenge_parts",
            "Challenge parts of a line's verification inspected, by outcome: met (a red rabbit rejected, a "
            "master passed) or missed (the station did not judge it as it must)",
            ["line", "code", "outcome"],
            registry=r,
        )
        self.verification_state = Gauge(
            f"{p}verification_state",
            "The line's error-proofing verification as the API answers it: 1 verified, 0 due, -1 failed "
            "(NaN: not known)",
            ["line"],
            registry=r,
        )
        self.roll_score = Gauge(
            f"{p}roll_points_per_100yd2", "Running four-point score of the current roll", ["line"], registry=r
        )
        self.latencies = LatencyWindow()
        self._lock = threading.Lock()
        self._tally: dict[str, Tally[tuple[str, ...]]] = {}

    def _count(self, name: str, *key: str, n: int = 1) -> None:
        with self._lock:
            self._tally.setdefault(name, Tally())[key] += n

    def watch_queue(self, name: str, depth: Callable[[], int]) -> None:
        """Report ``depth()`` as the queue-depth gauge of ``name`` at every scrape."""
        self.queue_depth.labels(name).set_function(lambda: float(depth()))

    def watch_outbox(
        self, counts: Callable[[], dict[str, int]], image_backlog: Callable[[], int] | None = None
    ) -> None:
        """Report the outbox backlog per state (pending, rejected) and its image backlog at every scrape."""
        for state in ("pending", "rejected"):
            self.outbox_backlog.labels(state).set_function(_count_of(counts, state))
        if image_backlog is not None:
            self.image_backlog.set_function(lambda: float(image_backlog()))

    # -- events -----------------------------------------------------------------------------
    def frame_in(self, line: str, station: str) -> None:
        """A source produced a frame."""
        self.frames_in.labels(line, station).inc()
        self._count("frames_in", line)

    def inferred(self, model: str, batch: int, seconds: float) -> None:
        """An inference call for ``batch`` frames succeeded in ``seconds``."""
        self.frames_inferred.labels(model).inc(batch)
        self.latency.labels(model).observe(seconds)
        self.batch_size.labels(model).observe(batch)
        self.latencies.add(seconds * 1000.0)
        self._count("frames_inferred", model, n=batch)

    def frame_not_inspected(self, line: str, cause: str) -> None:
        """A frame could not be inferred (``cause``: queue_full, deadline, timeout, error, unavailable)."""
        self.not_inspected.labels(line, cause).inc()
        self._count("not_inspected", line, cause)

    def frame_quality(self, line: str, station: str, measures: Mapping[str, float]) -> None:
        """The measures of a camera's last frame."""
        for name, value in measures.items():
            if name != "frozen":
                self.frame_level.labels(line, station, name).set(value)

    def frame_drifts(self, line: str, station: str, drifts: Iterable[Drift]) -> None:
        """A camera's running levels against its baseline (the drift watch)."""
        for drift in drifts:
            self.frame_drift.labels(line, station, drift.measure).set(drift.change)
            self.frame_drifting.labels(line, station, drift.measure).set(1 if drift.drifting else 0)

    def frame_check_failed(self, line: str, station: str, checks: Iterable[str]) -> None:
        """A frame of ``station`` failed ``checks`` (it will be not_inspected, cause frame_check)."""
        for check in checks:
            self.frame_check_failures.labels(line, station, check).inc()
            self._count("frame_checks", line, station, check)

    def shadow_compared(self, line: str, shadow: str, outcome: str) -> None:
        """A shadow model judged a frame of ``line``; ``outcome`` compares it with production."""
        self.shadow_frames.labels(line, shadow, outcome).inc()

    def shadow_skipped(self, line: str, shadow: str, cause: str, frames: int = 1) -> None:
        """``frames`` of ``line`` were not judged by the shadow model (``cause``)."""
        self.shadow_skip.labels(line, shadow, cause).inc(frames)

    def frames_unrecorded(self) -> dict[str, int]:
        """Per line: frames read from sources that have no recorded verdict (yet)."""
        left = {line: n - self.total("verdicts", line) for line, n in self.by_key("frames_in").items()}
        return {line: n for line, n in left.items() if n > 0}

    def abandoned(self, line: str, frames: int) -> None:
        """``frames`` of ``line`` were read but the stop came before they were recorded."""
        self.frames_abandoned.labels(line).inc(frames)
        self._count("frames_abandoned", line, n=frames)

    def waited(self, queue: str, seconds: float) -> None:
        """A producer waited ``seconds`` on the full queue ``queue``."""
        if seconds > 0:
            self.backpressure.labels(queue).inc(seconds)

    def verdict(self, line: str, verdict: str, defect_classes: list[str], code_status: str) -> None:
        """One inspection result was recorded."""
        self.verdicts.labels(line, verdict).inc()
        self.codes.labels(line, code_status).inc()
        self._count("verdicts", line, verdict)
        self._count("codes", line, code_status)
        for name in defect_classes:
            self.defects.labels(line, name).inc()
            self._count("defects", line, name)

    def unit(self, line: str, verdict: str | None = None) -> None:
        """A new unit (roll, part, module) started on ``line``; ``verdict`` when known at once."""
        self.units.labels(line).inc()
        self._count("units", line)
        if verdict is not None:
            self._count("unit_verdicts", line, verdict)

    def geometry_fallback(self, line: str) -> None:
        """A frame of ``line`` (``geometry_mode: auto``) showed no product: the YAML's geometry was used."""
        self.geometry_fallbacks.labels(line).inc()
        self._count("geometry_fallbacks", line)

    def audit_kept(self, line: str, reason: str) -> None:
        """A passed frame of ``line`` was kept for audit (``sample`` or ``borderline``)."""
        self.audit_samples.labels(line, reason).inc()
        self._count("audit_samples", line, reason)

    def reject_signal(self, line: str, reject: bool) -> None:
        """A reject-signal event was emitted for a frame of ``line``."""
        self.reject_signals.labels(line, "true" if reject else "false").inc()
        self._count("reject_signals", line, "true" if reject else "false")

    def trigger_repeated(self, line: str) -> None:
        """A job of ``line`` arrived again (same trigger id within the repeat window)."""
        self.trigger_repeats.labels(line).inc()
        self._count("trigger_repeats", line)

    def sent(self, n: int) -> None:
        """``n`` inspections were acknowledged by the API."""
        self.outbox_sent.inc(n)
        self._count("sent", "all", n=n)

    def rejected(self, n: int) -> None:
        """``n`` inspections were refused by the API (kept as rejected)."""
        self.outbox_rejected.inc(n)
        self._count("rejected", "all", n=n)

    def parked(self, reason: str) -> None:
        """An outbox row was parked as rejected (``reason``: server_error or unsendable)."""
        self.outbox_parked.labels(reason).inc()
        self._count("parked", reason)
        self.rejected(1)

    def deferred_images(self, n: int) -> None:
        """``n`` inspections were posted while their images wait for room in the API's image store."""
        self.images_deferred.inc(n)
        self._count("images_deferred", "all", n=n)

    def unreadable_file(self, line: str, station: str) -> None:
        """A source skipped a file it could not decode."""
        self.source_unreadable.labels(line, station).inc()
        self._count("source_unreadable", line, station)

    def send_failed(self, cause: str) -> None:
        """A send attempt failed (connection, server, auth, ...)."""
        self.send_failures.labels(cause).inc()
        self._count("send_failures", cause)

    # -- reading back -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[tuple[str, ...], int]]:
        """A copy of the tallies: ``{name: {key tuple: count}}``."""
        with self._lock:
            return {name: dict(tally) for name, tally in self._tally.items()}

    def total(self, name: str, *prefix: str) -> int:
        """Sum of tally ``name`` over keys starting with ``prefix``."""
        with self._lock:
            tally = self._tally.get(name, Tally())
            return sum(v for k, v in tally.items() if k[: len(prefix)] == prefix)

    def by_key(self, name: str, *prefix: str) -> dict[str, Any]:
        """Tally ``name`` restricted to ``prefix``, keyed by the next key element."""
        out: dict[str, int] = {}
        with self._lock:
            for key, value in self._tally.get(name, Tally()).items():
                if key[: len(prefix)] == prefix and len(key) > len(prefix):
                    out[key[len(prefix)]] = out.get(key[len(prefix)], 0) + value
        return out
