"""What every line output shares: its context, its interface, the queued worker and its metrics.

A line output is built once per inspector process for the lines whose YAML names its section
(``outputs.opcua``, ``outputs.mqtt``, ``outputs.modbus``; see :mod:`linecheck.line_outputs`). It gets
the gate's decisions (:meth:`LineOutput.decide`, one :class:`~linecheck.inspect.gate.UnitOutcome`
per unit) and may also trigger jobs (OPC UA) or ride on the outbox (MQTT).

:class:`QueuedOutput` is the usual shape (STYLE habit 2): ``decide`` puts the outcome on a bounded
channel, a worker thread delivers it. Nothing is dropped silently: when the channel is full the gate
waits (counted in ``linecheck_inspector_backpressure_seconds_total``); a delivery that fails is
logged and counted in ``linecheck_inspector_output_failures_total`` — and a reject gate that hears
nothing in time rejects the unit (the PLC side of the fail-safe, see README "Wiring to a line").
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Counter, Gauge, Histogram

from linecheck.config import LineConfig
from linecheck.inspect.alarm_watch import AlarmWatch
from linecheck.inspect.gate import RejectGate, UnitOutcome
from linecheck.inspect.metrics import InspectorMetrics, LatencyWindow
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.triggers import TriggerBoard
from linecheck.inspect.workers import Channel, ChannelClosed, RateLimitedLog, Worker

log = logging.getLogger(__name__)

#: Trigger-to-output latency buckets (seconds): the 8-15 ms PLC budget sits in the middle.
OUTPUT_BUCKETS = (0.002, 0.005, 0.008, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class OutputMetrics:
    """Delivery counts, failures and trigger-to-output latency per output (one per inspector)."""

    def __init__(self, metrics: InspectorMetrics) -> None:
        r = metrics.registry
        p = "linecheck_inspector_output_"
        self.delivered = Counter(f"{p}delivered", "Unit outcomes delivered", ["output", "line"], registry=r)
        self.failures = Counter(
            f"{p}failures", "Failed deliveries, by output", ["output", "line"], registry=r
        )
        self.latency = Histogram(
            f"{p}latency_seconds",
            "Trigger to output delivered",
            ["output"],
            buckets=OUTPUT_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(f"{p}queue_depth", "Outcomes waiting per output", ["output"], registry=r)
        self.windows: dict[str, LatencyWindow] = {}
        self._lock = threading.Lock()

    def window(self, output: str) -> LatencyWindow:
        """The in-memory latency samples of ``output`` (milliseconds)."""
        with self._lock:
            return self.windows.setdefault(output, LatencyWindow())

    def ok(self, output: str, line: str, triggered_at: float | None) -> None:
        """One outcome reached ``output``'s peer (``triggered_at``: monotonic trigger time, if known)."""
        self.delivered.labels(output, line).inc()
        if triggered_at is not None:
            seconds = max(0.0, time.monotonic() - triggered_at)
            self.latency.labels(output).observe(seconds)
            self.window(output).add(seconds * 1000.0)

    def failed(self, output: str, line: str) -> None:
        """One outcome could not be delivered by ``output``."""
        self.failures.labels(output, line).inc()


@dataclass(kw_only=True)
class OutputContext:
    """What an output is built from.

    Attributes:
        lines: the lines that name this output in their ``outputs:`` section.
        settings: the inspector's settings (process-wide endpoints, users, broker).
        metrics: the inspector's metrics.
        output_metrics: delivery metrics shared by every output.
        gate: triggers jobs and decides units.
        outbox: the durable outbox (the MQTT output publishes from it).
        status: the inspector's status snapshot (line status messages, state machines).
        board: the current code of each trigger-coded line (MQTT trigger topics set it).
        alarms: the lines' run alarms (None: no line has ``alarms:``).

    """

    lines: Sequence[LineConfig]
    settings: InspectorSettings
    metrics: InspectorMetrics
    output_metrics: OutputMetrics
    gate: RejectGate
    outbox: Outbox
    status: Callable[[], dict[str, Any]]
    board: TriggerBoard | None = None
    alarms: AlarmWatch | None = None


class LineOutput(ABC):
    """One line output for the lines of its context."""

    #: The output's name (its YAML section and entry point name).
    name: ClassVar[str]

    def __init__(self, context: OutputContext) -> None:
        self.context = context
        self.line_ids = {line.id for line in context.lines}

    @abstractmethod
    def start(self) -> None:
        """Connect / listen (a peer that is down must not fail the start: reconnect later)."""

    def decide(self, outcome: UnitOutcome) -> None:  # noqa: B027 - optional: not every output acts on decisions
        """Act on one unit's decision (called by the gate; must not block for long)."""

    @abstractmethod
    def close(self) -> None:
        """Deliver what is accepted (bounded wait), then disconnect."""

    def status(self) -> dict[str, Any]:
        """A JSON-friendly snapshot for ``/status`` and the demo."""
        return {}


class QueuedOutput(LineOutput):
    """A :class:`LineOutput` whose decisions are delivered by a worker over a bounded channel."""

    #: Capacity of the channel between the gate and the worker.
    capacity: ClassVar[int] = 256

    def __init__(self, context: OutputContext) -> None:
        super().__init__(context)
        self.channel: Channel[UnitOutcome] = Channel(f"output-{self.name}", self.capacity)
        self._stop = threading.Event()
        self._worker = _DeliveryWorker(self, self._stop)
        self.delivered = 0
        self.failed = 0
        self._warn = RateLimitedLog(log)
        context.output_metrics.queue_depth.labels(self.name).set_function(lambda: float(self.channel.qsize()))

    def start(self) -> None:
        """Connect, then start delivering."""
        self.connect()
        self._worker.start()

    def connect(self) -> None:
        """Open the connection to the peer (failures are retried by :meth:`deliver`)."""

    @abstractmethod
    def deliver(self, outcome: UnitOutcome) -> None:
        """Send one outcome to the peer (on the worker thread); raise when it cannot."""

    def disconnect(self) -> None:
        """Close the connection to the peer."""

    def decide(self, outcome: UnitOutcome) -> None:
        """Queue the outcome; when the channel is full, wait for room (counted), never drop it."""
        if outcome.line_id not in self.line_ids:
            return
        started = time.monotonic()
        if not self.channel.put(outcome, timeout=0.05):
            self._warn.warning(self.name, "output %s: queue full, the gate waits for it", self.name)
            self.channel.put_until(outcome, self._stop)
        self.context.metrics.waited(self.channel.name, time.monotonic() - started)

    def _handle(self, outcome: UnitOutcome) -> None:
        try:
            self.deliver(outcome)
        except Exception as exc:  # per-outcome boundary: count, log, keep delivering the next ones
            self.failed += 1
            self.context.output_metrics.failed(self.name, outcome.line_id)
            self._warn.warning(
                f"{self.name}-fail",
                "output %s: unit %s (%s) not delivered: %s",
                self.name,
                outcome.inspection_id,
                "reject" if outcome.reject else "pass",
                exc,
            )
            return
        self.delivered += 1
        self.context.output_metrics.ok(self.name, outcome.line_id, outcome.triggered_at)

    def close(self) -> None:
        """Deliver what is queued (at most 10 s), then disconnect."""
        self.channel.close()
        if not self._worker.join(10.0):
            log.error("output %s: %d outcome(s) still queued at close", self.name, self.channel.qsize())
        self._stop.set()
        self.disconnect()

    def status(self) -> dict[str, Any]:
        """Delivered / failed / queued counts."""
        return {"delivered": self.delivered, "failed": self.failed, "queued": self.channel.qsize()}


class _DeliveryWorker(Worker):
    def __init__(self, output: QueuedOutput, stop: threading.Event) -> None:
        super().__init__(f"output-{output.name}", stop)
        self.output = output

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                outcome = self.output.channel.get(timeout=0.1)
            except ChannelClosed:
                return
            if outcome is not None:
                self.output._handle(outcome)
