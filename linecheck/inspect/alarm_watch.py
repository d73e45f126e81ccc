"""The line's run alarms, raised on the line PC the moment a frame makes one hold.

Every frame a line judges (challenge parts left out) goes through :func:`linecheck.alarms.evaluate` over
the line's newest frames. An alarm follows ISA-18.2's states, which a line's stack light and its operator
already know:

* **raised** (active, unacknowledged): its condition holds; the operator has not seen to it yet;
* **acknowledged** (active, acknowledged): an operator acknowledged it (``POST /alarms/ack`` on the
  inspector, OPC UA ``Alarm.Acknowledge``); it stays shown while its condition holds;
* **cleared** (not active, unacknowledged): the condition no longer holds, but nobody acknowledged it: a
  latched alarm (``alarms.latch``, the default) stays shown until acknowledged, so a fault that came and
  went between two glances is not missed; with ``latch: false`` it goes at once;
* gone: not active and acknowledged.

A line *is in alarm* (``Alarm.Active`` on OPC UA, ``Alarm/Active`` in Sparkplug, ``alarms.in_alarm`` in
``/status``: the stack light) while any alarm is shown; it has an alarm *to acknowledge*
(``Alarm.Unacknowledged`` above 0, the Modbus ``alarm_coil``: stop the line, sound the horn) from the moment
one is raised until an operator acknowledges it. Stop the line on the second, not the first: an acknowledged
alarm whose condition still holds (a fail rate over a window of frames) only clears once the line runs again.

A raised alarm is logged as an error and counted (``linecheck_inspector_alarms_total{line,rule}``); the
alarms shown are a gauge (``linecheck_inspector_alarms_shown{line}``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge

from linecheck.alarms import AlarmConfig, AlarmHit, JudgedFrame, evaluate, marks_of
from linecheck.config import LineConfig
from linecheck.errors import InvalidFieldError
from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.kinds import KindSpec, get_kind

log = logging.getLogger(__name__)

#: Longest name an acknowledgement may give for who acknowledged.
MAX_BY = 128


@dataclass(kw_only=True)
class ShownAlarm:
    """One alarm shown on a line: its newest evidence and its ISA-18.2 state."""

    hit: AlarmHit
    raised_at: datetime
    active: bool = True
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None

    @property
    def state(self) -> str:
        """``raised``, ``acknowledged`` or ``cleared`` (not active, not yet acknowledged)."""
        if not self.active:
            return "cleared"
        return "acknowledged" if self.acknowledged_at is not None else "raised"

    def as_json(self) -> dict[str, Any]:
        """The alarm as ``/status`` and the line outputs show it."""
        return {
            **self.hit.as_json(),
            "state": self.state,
            "raised_at": self.raised_at.isoformat(),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "cleared_at": _iso(self.cleared_at),
        }


class _LineAlarms:
    """One line's newest frames and the alarms shown on it."""

    def __init__(self, line: LineConfig, config: AlarmConfig) -> None:
        self.line = line
        self.config = config
        self.spec: KindSpec[Any] = get_kind(line.kind)
        self.frames: deque[JudgedFrame] = deque(maxlen=config.window)
        self.shown: dict[str, ShownAlarm] = {}
        self.raised_total = 0


class AlarmWatch:
    """Applies each line's ``alarms:`` rules to every frame it judges (an inspector observer)."""

    def __init__(self, lines: Sequence[LineConfig], metrics: InspectorMetrics) -> None:
        self._lines = {line.id: _LineAlarms(line, line.alarms) for line in lines if line.alarms is not None}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []
        r = metrics.registry
        self.raised = Counter(
            "linecheck_inspector_alarms",
            "Run alarms raised on a line, by rule (consecutive_fail, consecutive_not_inspected, fail_rate, "
            "repeat)",
            ["line", "rule"],
            registry=r,
        )
        self.shown_gauge = Gauge(
            "linecheck_inspector_alarms_shown",
            "Run alarms shown on a line now (raised, acknowledged and still active, or cleared and not yet "
            "acknowledged); above 0 the line is in alarm",
            ["line"],
            registry=r,
        )
        for lid in self._lines:
            self.shown_gauge.labels(lid).set(0)

    @property
    def line_ids(self) -> list[str]:
        """The lines with ``alarms:`` in their YAML."""
        return list(self._lines)

    def observe(self, result: InspectionResult, _inferred: InferredFrame | None = None) -> None:
        """Count one judged frame of its line and raise or clear the alarms it changes."""
        watched = self._lines.get(result.line_id)
        if watched is None or _challenge_part(watched.line, result.code):
            return
        frame = JudgedFrame(
            inspection_id=result.id,
            captured_at=result.captured_at,
            verdict=result.verdict.value,
            marks=marks_of((d.class_name, _location_key(watched.spec, d.location)) for d in result.defects),
        )
        now = datetime.now(UTC)
        with self._lock:
            watched.frames.append(frame)
            hits = {hit.key: hit for hit in evaluate(watched.config, list(watched.frames))}
            before = self._states(watched)
            raised = self._update(watched, hits, now)
            changed = self._states(watched) != before
            shown = len(watched.shown)
        self.shown_gauge.labels(result.line_id).set(shown)
        if changed:
            self._tell(result.line_id)
        for hit in raised:
            self.raised.labels(result.line_id, hit.rule).inc()
            log.error(
                "line %s: ALARM %s (since %s); stop and look at the line, then acknowledge it "
                "(POST /alarms/ack or OPC UA Alarm.Acknowledge)",
                result.line_id,
                hit.message,
                hit.since.isoformat(),
            )

    @staticmethod
    def _states(watched: _LineAlarms) -> dict[str, str]:
        return {key: alarm.state for key, alarm in watched.shown.items()}

    def listen(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(line_id)`` whenever a line's alarms change (raised, cleared, acknowledged).

        It runs on the judging thread: it must only note the change (set an event), never block.
        """
        self._listeners.append(callback)

    def _tell(self, line_id: str) -> None:
        for callback in self._listeners:
            try:
                callback(line_id)
            except Exception:  # a listener's bug must not stop the line
                log.exception("alarm listener %r failed", callback)

    def _update(self, watched: _LineAlarms, hits: dict[str, AlarmHit], now: datetime) -> list[AlarmHit]:
        """Apply the hits of the newest frame to the shown alarms (the caller holds the lock)."""
        raised: list[AlarmHit] = []
        for key, hit in hits.items():
            alarm = watched.shown.get(key)
            if alarm is None:
                watched.shown[key] = ShownAlarm(hit=hit, raised_at=now)
                watched.raised_total += 1
                raised.append(hit)
                continue
            alarm.hit = hit
            if not alarm.active:  # it came back before anyone acknowledged it: raised again
                alarm.active, alarm.cleared_at = True, None
                raised.append(hit)
        for key, alarm in list(watched.shown.items()):
            if key in hits or not alarm.active:
                continue
            alarm.active, alarm.cleared_at = False, now
            if alarm.acknowledged_at is not None or not watched.config.latch:
                del watched.shown[key]
            log.info("line %s: alarm cleared: %s", watched.line.id, alarm.hit.message)
        return raised

    def acknowledge(self, line_id: str, by: str = "") -> list[str]:
        """An operator acknowledged the line's alarms: the keys acknowledged (cleared ones go).

        Raises:
            InvalidFieldError: ``line_id`` has no ``alarms:`` section; ``by`` too long.

        """
        watched = self._lines.get(line_id)
        if watched is None:
            raise InvalidFieldError(
                "line_id", line_id, f"expected a line with alarms: in its YAML, one of {sorted(self._lines)}"
            )
        if len(by) > MAX_BY:
            raise InvalidFieldError("by", by[:32] + "...", f"expected at most {MAX_BY} characters")
        now = datetime.now(UTC)
        with self._lock:
            keys = [key for key, alarm in watched.shown.items() if alarm.acknowledged_at is None]
            for key in keys:
                alarm = watched.shown[key]
                alarm.acknowledged_at, alarm.acknowledged_by = now, by or None
                if not alarm.active:
                    del watched.shown[key]
            shown = len(watched.shown)
        self.shown_gauge.labels(line_id).set(shown)
        if keys:
            self._tell(line_id)
            log.info("line %s: %d alarm(s) acknowledged by %s", line_id, len(keys), by or "an operator")
        return keys

    def snapshot(self, line_id: str) -> dict[str, Any] | None:
        """The line's alarms for ``/status`` (None: the line has no ``alarms:``)."""
        watched = self._lines.get(line_id)
        if watched is None:
            return None
        with self._lock:
            shown = [alarm.as_json() for alarm in watched.shown.values()]
            frames = len(watched.frames)
            raised_total = watched.raised_total
        return {
            "in_alarm": bool(shown),
            "unacknowledged": sum(1 for a in shown if a["acknowledged_at"] is None),
            "alarms": shown,
            "frames": frames,
            "raised_total": raised_total,
        }


def _challenge_part(line: LineConfig, code: str | None) -> bool:
    return line.verification is not None and code is not None and line.verification.part(code) is not None


def _location_key(spec: KindSpec[Any], location: Any) -> str | None:
    """The kind's location key of a defect's location (None: not located, or not a place it knows)."""
    if not location:
        return None
    try:
        key = spec.location_columns(location).get("location_key")
    except (KeyError, TypeError, ValueError):
        return None
    return str(key) if key else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alarm_text(alarms: dict[str, Any] | None) -> str:
    """One line for an operator's screen: the newest alarm shown and how many more (empty: none)."""
    shown = (alarms or {}).get("alarms") or []
    if not shown:
        return ""
    newest = max(shown, key=lambda a: a["raised_at"])
    more = f" (+{len(shown) - 1} more)" if len(shown) > 1 else ""
    state = "" if newest["state"] == "raised" else f" [{newest['state']}]"
    return f"ALARM: {newest['message']}{state}{more}"
