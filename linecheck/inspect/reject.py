"""The reject signal: one event per inspected frame telling the line whether to divert the unit.

``reject`` is true for ``fail`` and for ``not_inspected`` (fail-safe: a unit the model did not
judge goes to manual QA, never down the line as good). Every frame produces an event, so a
gate controller can also treat a unit with no event in time as rejected. Events go to sinks:

* :class:`JsonLinesSignal` — appends one JSON object per line to a file (a PLC gateway or a
  script tails it);
* :class:`HttpSignal` — POSTs the JSON to a URL (a reject-gate controller, a MES webhook) from
  a background thread, so a slow receiver never stalls inspection.

:class:`SignalOutput` sends the reject gate's decisions (:mod:`linecheck.inspect.gate`: one per
triggered unit, the fail-safe reject included) to these sinks; that is what ``linecheck inspect
--signal-file / --signal-url`` use. The fieldbus outputs (OPC UA, MQTT, Modbus) live in
:mod:`linecheck.inspect.outputs`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from linecheck.inspect.gate import UnitOutcome
from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.messages import Verdict

log = logging.getLogger(__name__)


class RejectSink(Protocol):
    """Where reject events go."""

    def send(self, event: dict[str, Any]) -> None:
        """Deliver one event (must not block for long)."""
        ...

    def close(self) -> None:
        """Flush and release."""
        ...


def reject_event(result: InspectionResult) -> dict[str, Any]:
    """The event for one result (JSON-friendly)."""
    return {
        "inspection_id": result.id,
        "line_id": result.line_id,
        "station": result.station,
        "code": result.code,
        "frame_seq": result.frame_seq,
        "captured_at": result.captured_at.isoformat(timespec="milliseconds"),
        "verdict": result.verdict.value,
        "reject": result.verdict is not Verdict.PASS,
        "reason": result.reason,
        "roll_offset_m": result.roll_offset_m,
        "defects": [d.class_name for d in result.defects],
    }


class JsonLinesSignal:
    """Appends each event as one JSON line to ``path`` (flushed at once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> None:
        """Write the event."""
        with self._lock:
            self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


class HttpSignal:
    """POSTs each event to ``url`` from a background thread (bounded queue, short timeout)."""

    def __init__(self, url: str, *, timeout_s: float = 1.0, capacity: int = 1000) -> None:
        self.url = url
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(capacity)
        self._http = httpx.Client(timeout=timeout_s)
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="reject-http", daemon=True)
        self._thread.start()

    def send(self, event: dict[str, Any]) -> None:
        """Queue the event; when the receiver is far behind it is dropped and counted."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            log.error("reject signal to %s: queue full, event for %s dropped", self.url, event.get("code"))

    def _loop(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._http.post(self.url, json=event).raise_for_status()
            except httpx.HTTPError as exc:
                self.failed += 1
                log.error("reject signal to %s failed for %s: %s", self.url, event.get("code"), exc)

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=10.0)
        self._http.close()


class RejectSignals:
    """Service observer: one reject event per result to every sink, counted in the metrics."""

    def __init__(self, sinks: Sequence[RejectSink], metrics: InspectorMetrics) -> None:
        self.sinks = list(sinks)
        self.metrics = metrics

    def __call__(self, result: InspectionResult, inferred: InferredFrame) -> None:
        """Emit the event of ``result``."""
        event = reject_event(result)
        self.metrics.reject_signal(result.line_id, event["reject"])
        for sink in self.sinks:
            sink.send(event)

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            sink.close()


class SignalOutput:
    """Gate decisions to reject-signal sinks: one event per unit (the outcome's JSON), counted."""

    def __init__(self, sinks: Sequence[RejectSink], metrics: InspectorMetrics) -> None:
        self.sinks = list(sinks)
        self.metrics = metrics

    def decide(self, outcome: UnitOutcome) -> None:
        """Emit the event of ``outcome``."""
        self.metrics.reject_signal(outcome.line_id, outcome.reject)
        event = outcome.to_json()
        for sink in self.sinks:
            sink.send(event)

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            sink.close()
