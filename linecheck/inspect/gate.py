"""Fail-safe reject timing: one decision per triggered unit, in time, or a reject anyway.

Every unit the line triggers gets a :class:`Trigger` — from a PLC job (OPC UA ``StartSingleJob``,
``POST /trigger`` with a ``trigger_id``) that the next frame of the line takes, or, when the camera
runs free, from the frame itself (``<station>:<seq>``). The trigger carries the inspection id the
result will have, the PLC's measurement id and the encoder count, so a PLC shift register can match
the answer to the unit at the gate.

:class:`RejectGate` sends exactly one :class:`UnitOutcome` per trigger to the line outputs
(:class:`DecisionSink`): the judged verdict when it is ready before the line's
``outputs.reject_deadline_ms``, otherwise — at the deadline — ``reject`` with verdict
``not_inspected`` (default-to-reject, as reject controllers do). A result that arrives after its
deadline is recorded ``not_inspected`` (its defects noted in the reason), never ``pass``; a job whose
frame never came is recorded ``not_inspected`` without an image. Both are counted
(``linecheck_inspector_frames_not_inspected{cause="reject_deadline"}``).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from linecheck.config import LineConfig
from linecheck.contract import TriggerPayload, build
from linecheck.errors import InvalidFieldError
from linecheck.inspect.messages import InspectionResult, new_inspection_id
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.products import product_of
from linecheck.inspect.triggers import TriggerBoard
from linecheck.inspect.verdict import shorten
from linecheck.inspect.workers import RateLimitedLog
from linecheck.kinds import check_code
from linecheck.messages import CodeStatus, Frame, Verdict

log = logging.getLogger(__name__)

#: Key of the :class:`Trigger` in ``Frame.meta``.
TRIGGER_META = "trigger"
#: ``not_inspected`` cause of units the deadline decided.
LATE_CAUSE = "reject_deadline"
#: A job naming the trigger id of a job its line got this recently is that job sent again (an MQTT QoS 1
#: redelivery, an HTTP or OPC UA call repeated after a timeout): it gets the first one's answer and takes
#: no frame of its own. A PLC numbers its measurements (OPC 40100 ``MeasId``): one reused within a minute
#: is a repeat, not a new unit.
REPEAT_WINDOW_S = 60.0
#: What a PLC reads as a unit's result: OPC 40100-1 ``ResultEvaluationEnum`` (1 OK, 2 NotOK, 3 NotDecidable),
#: written by the OPC UA server and into the Modbus result registers alike.
RESULT_EVALUATION = {Verdict.PASS: 1, Verdict.FAIL: 2, Verdict.NOT_INSPECTED: 3}


@dataclass(frozen=True, kw_only=True, slots=True)
class Trigger:
    """The identity a unit is triggered with.

    Attributes:
        inspection_id: id its inspection result (and outbox row, and API record) will have.
        trigger_id: the PLC's measurement / job id, or ``<station>:<seq>`` for a free-running camera.
        line_id: the line.
        encoder_count: the line encoder at the trigger, when the PLC or the source gave it.
        code: the unit code the PLC gave with the job (trigger-coded lines), if any.
        product: the product the PLC named for the unit (one of the line's ``products:``), if any.
        triggered_at: ``time.monotonic()`` of the trigger (the deadline counts from here).
        job: True for a PLC job, False for a free-running frame.

    """

    inspection_id: str
    trigger_id: str
    line_id: str
    encoder_count: int | None = None
    code: str | None = None
    product: str | None = None
    triggered_at: float
    job: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitOutcome:
    """What the line outputs get for one unit: the decision at the gate and what it rests on.

    ``fail_safe`` is True when the deadline decided (``verdict`` is then ``not_inspected``).
    Times are ``time.monotonic()``; ``latency_ms`` is trigger to decision.
    """

    inspection_id: str
    line_id: str
    station: str
    trigger_id: str
    encoder_count: int | None
    code: str | None
    verdict: Verdict
    reject: bool
    reason: str | None
    defect_classes: tuple[str, ...] = ()
    product: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    captured_at: datetime | None = None
    triggered_at: float
    decided_at: float
    fail_safe: bool = False
    job: bool = False

    def __post_init__(self) -> None:
        if self.verdict is Verdict.PASS and self.reject:
            raise InvalidFieldError("reject", self.reject, "a pass is never rejected")
        if self.verdict is not Verdict.PASS and not self.reject:
            raise InvalidFieldError("reject", self.reject, f"verdict {self.verdict} must be rejected")

    @property
    def latency_ms(self) -> float:
        """Trigger to decision, in milliseconds."""
        return (self.decided_at - self.triggered_at) * 1000.0

    def to_json(self) -> dict[str, Any]:
        """The outcome as a JSON object (MQTT, HTTP and file outputs, OPC UA ResultContent)."""
        return {
            "inspection_id": self.inspection_id,
            "line_id": self.line_id,
            "station": self.station,
            "trigger_id": self.trigger_id,
            "encoder_count": self.encoder_count,
            "code": self.code,
            "product": self.product,
            "verdict": self.verdict.value,
            "reject": self.reject,
            "fail_safe": self.fail_safe,
            "reason": self.reason,
            "defect_count": len(self.defect_classes),
            "defects": list(self.defect_classes),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "captured_at": None
            if self.captured_at is None
            else self.captured_at.isoformat(timespec="milliseconds"),
        }


def outcome_of(result: InspectionResult, trigger: Trigger | None, *, now: float) -> UnitOutcome:
    """The outcome of a judged result (``trigger`` None: a result that was never admitted)."""
    return UnitOutcome(
        inspection_id=result.id,
        line_id=result.line_id,
        station=result.station,
        trigger_id=result.trigger_id
        or (trigger.trigger_id if trigger else f"{result.station}:{result.frame_seq}"),
        encoder_count=result.encoder_count,
        code=result.code,
        product=result.product,
        verdict=result.verdict,
        reject=result.verdict is not Verdict.PASS,
        reason=result.reason,
        defect_classes=tuple(d.class_name for d in result.defects),
        model_name=result.model_name,
        model_version=result.model_version,
        captured_at=result.captured_at,
        triggered_at=trigger.triggered_at if trigger else now,
        decided_at=now,
        job=bool(trigger and trigger.job),
    )


class DecisionSink(Protocol):
    """A line output that acts on decisions (must not block for long)."""

    def decide(self, outcome: UnitOutcome) -> None:
        """Act on one unit's outcome."""
        ...


@dataclass(kw_only=True)
class _Armed:
    """A unit waiting for its decision: its trigger, deadline and, for a job, the frames it takes.

    A job over several stations (``outputs.job_stations``) takes one frame of each: ``ids`` is each
    station's inspection id (the first station's is the job's own), ``waiting`` the stations whose frame
    has not come, ``judged`` the results so far; its decision waits for all of them.
    """

    trigger: Trigger
    station: str
    deadline: float | None
    framed: bool = False
    fired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    stations: tuple[str, ...] = ()
    ids: dict[str, str] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    judged: list[InspectionResult] = field(default_factory=list)

    def frame_ids(self) -> list[str]:
        """The inspection ids of the unit's frames (one, or one per station of the job)."""
        return list(self.ids.values()) if self.stations else [self.trigger.inspection_id]


class RejectGate:
    """Triggers, deadlines and the one decision per unit (thread-safe; a timer thread fires deadlines).

    Args:
        lines: the lines the inspector runs (their ``outputs.reject_deadline_ms``).
        metrics: counts late units (``frames_not_inspected{cause="reject_deadline"}``).
        record: stores a result the gate made itself (a job whose frame never came).
        sinks: the outputs decisions go to (more with :meth:`add_sink`).
        board: the lines' current products, for the record of a job whose frame never came.

    """

    def __init__(
        self,
        lines: Mapping[str, LineConfig] | Sequence[LineConfig],
        *,
        metrics: InspectorMetrics,
        record: Callable[[InspectionResult], None] | None = None,
        sinks: Sequence[DecisionSink] = (),
        clock: Callable[[], float] = time.monotonic,
        board: TriggerBoard | None = None,
    ) -> None:
        items = lines.values() if isinstance(lines, Mapping) else lines
        self.board = board
        self.lines = {line.id: line for line in items}
        self.metrics = metrics
        self.record = record
        self.sinks: list[DecisionSink] = list(sinks)
        self.clock = clock
        self._lock = threading.Condition()
        self._armed: dict[str, _Armed] = {}  # by the inspection id of each frame not settled yet
        self._units: dict[str, _Armed] = {}  # by the unit's (job's) inspection id, until decided
        self._jobs: dict[str, deque[_Armed]] = {lid: deque() for lid in self.lines}
        self._recent: dict[str, OrderedDict[str, Trigger]] = {lid: OrderedDict() for lid in self.lines}
        self._heap: list[tuple[float, str]] = []
        self._stop = False
        self._thread: threading.Thread | None = None
        self.fired = 0
        self._warn = RateLimitedLog(log)

    # -- set-up -------------------------------------------------------------------------------
    def add_sink(self, sink: DecisionSink) -> None:
        """Send decisions to ``sink`` too."""
        self.sinks.append(sink)

    def deadline_s(self, line_id: str) -> float | None:
        """The line's reject deadline in seconds (None: none)."""
        ms = self.lines[line_id].outputs.reject_deadline_ms
        return None if ms is None else ms / 1000.0

    def start(self) -> None:
        """Start the deadline timer."""
        self._thread = threading.Thread(target=self._timer, name="reject-gate", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the timer (units still armed are left to the caller's drain)."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    # -- triggers -----------------------------------------------------------------------------
    def job(
        self,
        line_id: str,
        *,
        trigger_id: str | None = None,
        code: str | None = None,
        encoder_count: int | None = None,
        product: str | None = None,
    ) -> Trigger:
        """A PLC triggered a unit on ``line_id``: the next frame of the line is its frame.

        The same ``trigger_id`` again within :data:`REPEAT_WINDOW_S` (a redelivery, a retried call) is
        answered with the first job's trigger and starts nothing.

        Raises:
            InvalidFieldError: unknown line, a trigger id or encoder count the contract refuses (the
                API stores both with the inspection), a code that does not match the line's code pattern,
                a product the line does not list, or a repeated trigger id with another code or encoder count.

        """
        if line_id not in self.lines:
            raise InvalidFieldError("line_id", line_id, f"expected one of {sorted(self.lines)}")
        build(TriggerPayload, {"trigger_id": trigger_id, "encoder_count": encoder_count})
        if code:
            check_code(code, self.lines[line_id].code_pattern)
        line = self.lines[line_id]
        if product is not None:
            line.for_product(product)  # an unknown one is refused, naming the field
        with self._lock:  # the repeat check and the new job at once: two deliveries at a time make one job
            now = self.clock()
            earlier = None
            if trigger_id:
                earlier = self._repeat_of(
                    line_id, trigger_id, code=code or None, encoder_count=encoder_count, now=now
                )
            if earlier is not None:
                self.metrics.trigger_repeated(line_id)
                log.info(
                    "trigger %s of %s repeated: answered with its job %s",
                    trigger_id,
                    line_id,
                    earlier.inspection_id,
                )
                return earlier
            inspection_id = new_inspection_id()
            trigger = Trigger(
                inspection_id=inspection_id,
                trigger_id=trigger_id or f"job:{inspection_id[:12]}",
                line_id=line_id,
                encoder_count=encoder_count,
                code=code or None,
                product=product,
                triggered_at=now,
                job=True,
            )
            if trigger_id:
                self._recent[line_id][trigger_id] = trigger
            stations = tuple(line.outputs.job_stations)
            self._arm(
                _Armed(
                    trigger=trigger,
                    station=stations[0] if stations else line.cameras[0].station,
                    deadline=self._due(line_id, now),
                    stations=stations,
                    ids={
                        st: inspection_id if i == 0 else f"{inspection_id}-{i}"
                        for i, st in enumerate(stations)
                    },
                    waiting=set(stations),
                )
            )
        return trigger

    def _repeat_of(
        self, line_id: str, trigger_id: str, *, code: str | None, encoder_count: int | None, now: float
    ) -> Trigger | None:
        """The job ``trigger_id`` started on ``line_id`` within :data:`REPEAT_WINDOW_S`, if any.

        The caller holds the lock: the check and the new job it may start are one step.

        Raises:
            InvalidFieldError: it did, with another code or encoder count (not a repeat: a clash).

        """
        recent = self._recent[line_id]
        while recent and now - next(iter(recent.values())).triggered_at > REPEAT_WINDOW_S:
            recent.popitem(last=False)
        earlier = recent.get(trigger_id)
        if earlier is None:
            return None
        if (earlier.code, earlier.encoder_count) != (code, encoder_count):
            raise InvalidFieldError(
                "trigger_id",
                trigger_id,
                f"started a job {now - earlier.triggered_at:.0f} s ago with code {earlier.code!r} and "
                f"encoder_count {earlier.encoder_count}: a repeat must match it (a new unit needs a new id)",
            )
        return earlier

    def undecided(self, inspection_id: str) -> bool:
        """Whether the unit ``inspection_id`` is still waiting for its decision (a repeat may not be)."""
        with self._lock:
            return inspection_id in self._units

    def pending_jobs(self, line_id: str) -> int:
        """Jobs of ``line_id`` waiting for their frame."""
        with self._lock:
            return len(self._jobs.get(line_id, ()))

    def admit(self, frame: Frame) -> Frame:
        """Give ``frame`` its trigger: the oldest waiting job of its line, or its own (free-running).

        On a line with ``outputs.job_stations`` a job takes one frame of each of those stations (the
        oldest job still waiting for the frame's station); frames of other stations run free.
        """
        if frame.line_id not in self.lines:
            return frame
        with self._lock:
            armed = self._job_for(frame)
        if armed is not None:
            trigger = armed.trigger
            if armed.stations:  # this station's frame of the unit: its own inspection id
                trigger = replace(trigger, inspection_id=armed.ids[frame.station])
            meta = {**frame.meta, TRIGGER_META: trigger}
            return replace(frame, meta=meta, trigger_code=trigger.code or frame.trigger_code)
        age = max(0.0, (datetime.now(UTC) - frame.captured_at).total_seconds())
        started = self.clock() - age
        encoder = frame.meta.get("encoder_count")
        trigger = Trigger(
            inspection_id=new_inspection_id(),
            trigger_id=f"{frame.station}:{frame.seq}",
            line_id=frame.line_id,
            encoder_count=int(encoder) if encoder is not None else None,
            triggered_at=started,
        )
        self._arm(
            _Armed(
                trigger=trigger,
                station=frame.station,
                deadline=self._due(frame.line_id, started),
                framed=True,
            )
        )
        return replace(frame, meta={**frame.meta, TRIGGER_META: trigger})

    def _job_for(self, frame: Frame) -> _Armed | None:
        """The job ``frame`` belongs to (the caller holds the lock), off the waiting list once complete."""
        queue = self._jobs[frame.line_id]
        stations = self.lines[frame.line_id].outputs.job_stations
        if not stations:
            armed = queue.popleft() if queue else None
            if armed is not None:
                armed.framed = True
                armed.station = frame.station
            return armed
        if frame.station not in stations:
            return None
        armed = next((a for a in queue if frame.station in a.waiting), None)
        if armed is not None:
            armed.waiting.discard(frame.station)
            armed.framed = True
            if not armed.waiting:
                queue.remove(armed)
        return armed

    def _due(self, line_id: str, at: float) -> float | None:
        deadline = self.deadline_s(line_id)
        return None if deadline is None else at + deadline

    def _arm(self, armed: _Armed) -> None:
        with self._lock:
            for inspection_id in armed.frame_ids():
                self._armed[inspection_id] = armed
            self._units[armed.trigger.inspection_id] = armed
            if not armed.framed:
                self._jobs[armed.trigger.line_id].append(armed)
            if armed.deadline is not None:
                heapq.heappush(self._heap, (armed.deadline, armed.trigger.inspection_id))
                self._lock.notify_all()

    # -- decisions ----------------------------------------------------------------------------
    def settle(self, result: InspectionResult) -> InspectionResult:
        """Decide the unit of ``result`` (past its deadline: ``not_inspected``); returns what to record.

        A frame of a job over several stations decides its unit when it is the last of them: one
        outcome for the unit, rejected when any station's frame is not a pass.
        """
        now = self.clock()
        with self._lock:
            armed = self._armed.pop(result.id, None)
            complete: list[InspectionResult] | None = None
            if armed is not None and not armed.fired:
                armed.judged.append(result)
                if len(armed.judged) >= max(1, len(armed.stations)):
                    self._units.pop(armed.trigger.inspection_id, None)
                    complete = armed.judged
        if armed is not None and armed.fired:
            self.metrics.frame_not_inspected(result.line_id, LATE_CAUSE)
            return late_result(result, (now - armed.trigger.triggered_at) * 1000.0, self._deadline_ms(result))
        if armed is None:
            self._dispatch(outcome_of(result, None, now=now))
        elif complete is not None:
            order = {station: i for i, station in enumerate(armed.stations)}
            judged = sorted(complete, key=lambda r: order.get(r.station, 0))
            self._dispatch(unit_outcome_of(judged, armed.trigger, now=now))
        return result

    def _deadline_ms(self, result: InspectionResult) -> float:
        return self.lines[result.line_id].outputs.reject_deadline_ms or 0.0

    def _dispatch(self, outcome: UnitOutcome) -> None:
        for sink in self.sinks:
            try:
                sink.decide(outcome)
            except Exception:  # one broken output must not keep the others from their decision
                log.exception("output %r failed to take the decision for %s", sink, outcome.inspection_id)

    def _timer(self) -> None:
        while True:
            with self._lock:
                while not self._stop and (not self._heap or self._heap[0][0] > self.clock()):
                    wait = None if not self._heap else max(0.0, self._heap[0][0] - self.clock())
                    self._lock.wait(timeout=wait)
                if self._stop:
                    return
                _at, inspection_id = heapq.heappop(self._heap)
                armed = self._units.pop(inspection_id, None)
                if armed is None or armed.fired:
                    continue
                armed.fired = True
                missing = self._frameless(armed)
                for frame_id in missing.values():  # frames that never came: recorded here, not awaited
                    self._armed.pop(frame_id, None)
                if armed in self._jobs[armed.trigger.line_id]:
                    self._jobs[armed.trigger.line_id].remove(armed)
            self._expire(armed, missing)

    @staticmethod
    def _frameless(armed: _Armed) -> dict[str, str]:
        """Station -> inspection id of each frame the unit still waits for (none came)."""
        if armed.stations:
            return {station: armed.ids[station] for station in armed.stations if station in armed.waiting}
        return {} if armed.framed else {armed.station: armed.trigger.inspection_id}

    def _expire(self, armed: _Armed, missing: Mapping[str, str]) -> None:
        trigger = armed.trigger
        line = self.lines[trigger.line_id]
        now = self.clock()
        ms = line.outputs.reject_deadline_ms
        why = "no frame" if missing else "not judged"
        if missing and armed.stations:
            why = f"no frame of {', '.join(missing)}"
        reason = f"{why} within reject_deadline_ms={ms:g}: rejected by the fail-safe"
        self.fired += 1
        self._warn.warning(
            f"deadline-{trigger.line_id}",
            "line %s unit %s (trigger %s): %s",
            trigger.line_id,
            trigger.inspection_id,
            trigger.trigger_id,
            reason,
        )
        self._dispatch(
            UnitOutcome(
                inspection_id=trigger.inspection_id,
                line_id=trigger.line_id,
                station="+".join(armed.stations) if armed.stations else armed.station,
                trigger_id=trigger.trigger_id,
                encoder_count=trigger.encoder_count,
                code=trigger.code,
                verdict=Verdict.NOT_INSPECTED,
                reject=True,
                reason=reason,
                model_name=line.model.name if line.model else line.kind,
                triggered_at=trigger.triggered_at,
                decided_at=now,
                fail_safe=True,
                job=trigger.job,
            )
        )
        for station, frame_id in missing.items():
            self.metrics.frame_not_inspected(trigger.line_id, LATE_CAUSE)
            if self.record is not None:
                product = product_of(line, code=trigger.code, trigger=trigger, board=self.board)
                frame_trigger = replace(trigger, inspection_id=frame_id)
                self.record(frameless_result(line, station, frame_trigger, reason, product=product))


def unit_outcome_of(results: Sequence[InspectionResult], trigger: Trigger, *, now: float) -> UnitOutcome:
    """The one outcome of a job over several stations, from each station's result (in station order).

    Rejected unless every frame passed: any fail makes the unit fail, else any not inspected makes it
    not inspected (fail-safe: a station that could not judge its view never lets the unit pass).
    """
    verdicts = {r.verdict for r in results}
    verdict = (
        Verdict.FAIL
        if Verdict.FAIL in verdicts
        else Verdict.NOT_INSPECTED
        if Verdict.NOT_INSPECTED in verdicts
        else Verdict.PASS
    )
    first = results[0]
    reasons = [f"{r.station}: {r.reason}" for r in results if r.reason]
    return UnitOutcome(
        inspection_id=trigger.inspection_id,
        line_id=first.line_id,
        station="+".join(r.station for r in results),
        trigger_id=trigger.trigger_id,
        encoder_count=trigger.encoder_count,
        code=next((r.code for r in results if r.code), trigger.code),
        product=first.product,
        verdict=verdict,
        reject=verdict is not Verdict.PASS,
        reason=shorten("; ".join(reasons)) if reasons else None,
        defect_classes=tuple(d.class_name for r in results for d in r.defects),
        model_name=first.model_name,
        model_version=first.model_version,
        captured_at=min(r.captured_at for r in results),
        triggered_at=trigger.triggered_at,
        decided_at=now,
        job=trigger.job,
    )


def late_result(result: InspectionResult, waited_ms: float, deadline_ms: float) -> InspectionResult:
    """``result`` judged after its deadline: ``not_inspected`` (rejected at the gate), defects noted."""
    found = f"judged {result.verdict.value}"
    if result.defects:
        classes = ", ".join(sorted({d.class_name for d in result.defects}))
        found += f" with {len(result.defects)} defect(s) ({classes})"
    note = (
        f"{found} {waited_ms:.0f} ms after its trigger, past reject_deadline_ms={deadline_ms:g}: "
        "rejected by the fail-safe"
    )
    reason = f"{note}; {result.reason}" if result.reason else note
    return replace(result, verdict=Verdict.NOT_INSPECTED, defects=(), reason=shorten(reason))


def frameless_result(
    line: LineConfig, station: str, trigger: Trigger, reason: str, *, product: str | None = None
) -> InspectionResult:
    """The record of a job whose frame never came (no image; the camera's configured size)."""
    camera = line.camera(station) or line.cameras[0]
    return InspectionResult(
        id=trigger.inspection_id,
        trigger_id=trigger.trigger_id,
        encoder_count=trigger.encoder_count,
        line_id=line.id,
        station=station,
        code=trigger.code,
        product=product,
        code_status=CodeStatus.TRIGGER if trigger.code else CodeStatus.UNREAD,
        captured_at=datetime.now(UTC),
        model_name=line.model.name if line.model else line.kind,
        model_version=None,
        verdict=Verdict.NOT_INSPECTED,
        reason=shorten(f"trigger {trigger.trigger_id}: {reason}"),
        frame_seq=0,
        image_width=camera.width,
        image_height=camera.height,
    )
