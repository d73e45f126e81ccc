"""Fail-safe reject timing: one decision per triggered unit; late units rejected, recorded not_inspected."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from insp_helpers import Decisions, TableDetector, truth_table, wait_until

from linecheck.config import LineConfig
from linecheck.errors import InvalidFieldError
from linecheck.inspect.gate import LATE_CAUSE, REPEAT_WINDOW_S, RejectGate
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind
from linecheck.messages import CodeStatus, Frame, Verdict


def _with_deadline(line: LineConfig, ms: float | None) -> LineConfig:
    data = line.model_dump(mode="json")
    data["outputs"] = {"reject_deadline_ms": ms}
    return LineConfig.model_validate(data)


def _frame(line_id: str, seq: int) -> Frame:
    return Frame(
        line_id=line_id,
        station="el",
        seq=seq,
        captured_at=datetime.now(UTC),
        image=np.zeros((64, 64, 3), np.uint8),
        meta={"encoder_count": 1000 + seq},
    )


def _result(frame: Frame, verdict: Verdict, defects: tuple[DefectRecord, ...] = ()) -> InspectionResult:
    trigger = frame.meta["trigger"]
    return InspectionResult(
        id=trigger.inspection_id,
        trigger_id=trigger.trigger_id,
        encoder_count=trigger.encoder_count,
        line_id=frame.line_id,
        station=frame.station,
        code="PV000000000001",
        code_status=CodeStatus.READ,
        captured_at=frame.captured_at,
        model_name="pv",
        model_version="1",
        verdict=verdict,
        frame_seq=frame.seq,
        image_width=64,
        image_height=64,
        defects=defects,
    )


def test_judged_in_time_is_decided_once_with_trigger_and_encoder(lines: dict[str, LineConfig]) -> None:
    line = _with_deadline(lines["pv-01"], 2000)
    sink = Decisions()
    gate = RejectGate([line], metrics=InspectorMetrics(), sinks=[sink])
    gate.start()
    try:
        frame = gate.admit(_frame(line.id, 7))
        recorded = gate.settle(_result(frame, Verdict.PASS))
    finally:
        gate.close()
    assert (
        recorded.verdict is Verdict.PASS and recorded.trigger_id == "el:7" and recorded.encoder_count == 1007
    )
    [outcome] = sink.items
    assert (outcome.inspection_id, outcome.reject, outcome.fail_safe) == (recorded.id, False, False)
    assert outcome.trigger_id == "el:7" and outcome.encoder_count == 1007 and outcome.latency_ms < 2000


def test_late_unit_is_rejected_at_the_deadline_and_recorded_not_inspected(
    lines: dict[str, LineConfig],
) -> None:
    line = _with_deadline(lines["pv-01"], 30)
    sink = Decisions()
    metrics = InspectorMetrics()
    gate = RejectGate([line], metrics=metrics, sinks=[sink])
    gate.start()
    try:
        frame = gate.admit(_frame(line.id, 1))
        assert wait_until(lambda: len(sink.items) == 1)
        defect = DefectRecord(
            class_name="crack", confidence=0.9, bbox=(1, 1, 9, 9), location={"row": 0, "col": 0}
        )
        recorded = gate.settle(_result(frame, Verdict.FAIL, (defect,)))
        passed_late = gate.settle(_result(gate.admit(_frame(line.id, 2)), Verdict.PASS))
        assert wait_until(lambda: len(sink.items) == 2)
    finally:
        gate.close()
    first = sink.items[0]
    assert first.reject and first.fail_safe and first.verdict is Verdict.NOT_INSPECTED
    assert 30 <= first.latency_ms < 1000
    assert recorded.verdict is Verdict.NOT_INSPECTED and recorded.defects == ()
    assert "judged fail with 1 defect(s) (crack)" in (recorded.reason or "")
    # the second unit was settled before its 30 ms ran out, so it passed in time
    assert passed_late.verdict is Verdict.PASS and sink.items[1].reject is False
    assert len(sink.items) == 2  # never a second decision for the late unit
    assert metrics.by_key("not_inspected", line.id) == {LATE_CAUSE: 1}


def test_job_without_a_frame_fires_the_reject_and_is_recorded(lines: dict[str, LineConfig]) -> None:
    line = _with_deadline(lines["pv-01"], 20)
    sink = Decisions()
    records: list[InspectionResult] = []
    gate = RejectGate([line], metrics=InspectorMetrics(), sinks=[sink], record=records.append)
    gate.start()
    try:
        job = gate.job(line.id, trigger_id="M-77", code="PV000000000042", encoder_count=5)
        assert wait_until(lambda: len(records) == 1)
        later = gate.admit(_frame(line.id, 3))  # the next frame does not take the expired job
    finally:
        gate.close()
    [outcome] = sink.items
    assert (
        outcome.fail_safe
        and outcome.trigger_id == "M-77"
        and outcome.job
        and outcome.code == "PV000000000042"
    )
    [record] = records
    assert record.id == job.inspection_id and record.verdict is Verdict.NOT_INSPECTED
    assert record.code == "PV000000000042" and record.code_status is CodeStatus.TRIGGER
    assert (record.trigger_id, record.encoder_count) == ("M-77", 5) and "no frame" in (record.reason or "")
    assert later.meta["trigger"].trigger_id == "el:3" and gate.pending_jobs(line.id) == 0


def test_the_next_frame_takes_the_oldest_job_with_its_code(lines: dict[str, LineConfig]) -> None:
    line = _with_deadline(lines["pv-01"], None)
    gate = RejectGate([line], metrics=InspectorMetrics())
    first = gate.job(line.id, trigger_id="A", code="PV000000000001")
    gate.job(line.id, trigger_id="B")
    frame = gate.admit(_frame(line.id, 0))
    assert frame.meta["trigger"] == first and frame.trigger_code == "PV000000000001"
    assert gate.admit(_frame(line.id, 1)).meta["trigger"].trigger_id == "B"
    assert gate.admit(_frame(line.id, 2)).meta["trigger"].trigger_id == "el:2"
    with pytest.raises(InvalidFieldError, match="line_id"):
        gate.job("no-such-line")
    with pytest.raises(InvalidFieldError) as refused:  # the MeasId of StartSingleJob goes through here too
        gate.job(line.id, trigger_id="M" * 129)
    assert (refused.value.field, refused.value.value) == ("trigger_id", "M" * 129)
    assert gate.pending_jobs(line.id) == 0


def test_a_repeated_trigger_is_the_same_job_and_takes_no_frame(lines: dict[str, LineConfig]) -> None:
    line = _with_deadline(lines["pv-01"], None)
    now = [1000.0]
    metrics = InspectorMetrics()
    gate = RejectGate([line], metrics=metrics, clock=lambda: now[0])
    first = gate.job(line.id, trigger_id="M-500", code="PV000000000500", encoder_count=9)
    now[0] += 5.0  # an MQTT redelivery, an HTTP call retried after its timeout
    again = gate.job(line.id, trigger_id="M-500", code="PV000000000500", encoder_count=9)
    assert again is first and gate.pending_jobs(line.id) == 1
    assert metrics.by_key("trigger_repeats") == {line.id: 1}
    with pytest.raises(InvalidFieldError) as clash:  # the same id for another unit: refused, not merged
        gate.job(line.id, trigger_id="M-500", code="PV000000000501", encoder_count=10)
    assert clash.value.field == "trigger_id" and "a repeat must match it" in clash.value.reason
    assert gate.job(line.id, trigger_id="M-501").inspection_id != first.inspection_id  # another id: a job
    assert gate.admit(_frame(line.id, 0)).meta["trigger"] == first  # each job takes one frame
    assert gate.admit(_frame(line.id, 1)).meta["trigger"].trigger_id == "M-501"
    now[0] += REPEAT_WINDOW_S + 1  # a minute on, the PLC's counter may come round again: a new unit
    later = gate.job(line.id, trigger_id="M-500", code="PV000000000502")
    assert later.inspection_id != first.inspection_id and gate.pending_jobs(line.id) == 1
    other_line = _with_deadline(lines["bearing-01"], None)
    both = RejectGate([line, other_line], metrics=InspectorMetrics())
    assert both.job(line.id, trigger_id="M-7") != both.job(other_line.id, trigger_id="M-7")  # per line


@pytest.mark.parametrize(
    ("deadline_ms", "delay_s", "fail_safe"),
    [(60, 0.25, True), (20_000, 0.0, False)],
    ids=["slow-model-rejected-by-deadline", "in-time-verdicts"],
)
def test_service_decides_every_unit_once_and_never_passes_a_late_one(
    lines: dict[str, LineConfig],
    settings: InspectorSettings,
    deadline_ms: float,
    delay_s: float,
    fail_safe: bool,
) -> None:
    line = _with_deadline(lines["pv-01"], deadline_ms)
    table = truth_table(line, seed=3, units=5)
    sink = Decisions()
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, table, delay_s=delay_s)},
        settings=settings.model_copy(update={"max_batch": 1}),
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=3&units=5&rate=0")],
        sinks=[sink],
    )
    svc.start()
    try:
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        rows = {r.id: r.payload for r in svc.outbox.rows()}
    finally:
        svc.stop()
    assert len(sink.items) == len(rows) == 5
    assert {o.inspection_id for o in sink.items} == set(rows)
    assert all(o.fail_safe is fail_safe for o in sink.items)
    if fail_safe:
        assert all(o.reject and o.verdict is Verdict.NOT_INSPECTED for o in sink.items)
        assert all(
            p["verdict"] == "not_inspected" and "reject_deadline_ms" in p["reason"] for p in rows.values()
        )
    else:
        assert {o.inspection_id: o.verdict.value for o in sink.items} == {
            i: p["verdict"] for i, p in rows.items()
        }
    assert sorted(o.trigger_id for o in sink.items) == [f"el:{i}" for i in range(5)]


def test_outbox_extension_rows_commit_once_with_the_inspection(tmp_path) -> None:
    class Extra:
        schema = "CREATE TABLE IF NOT EXISTS extra (id TEXT PRIMARY KEY)"

        def on_add(self, db, result) -> None:
            db.execute("INSERT INTO extra (id) VALUES (?)", (result.id,))

    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.extend(Extra())
    result = _result(_admitted(_frame("pv-01", 0)), Verdict.PASS)
    outbox.add(result)
    outbox.add(result)  # the same id again: neither row is added twice
    rows = outbox._db.execute("SELECT id FROM extra").fetchall()
    outbox.close()
    assert rows == [(result.id,)]


def _admitted(frame: Frame) -> Frame:
    from dataclasses import replace

    from linecheck.inspect.gate import Trigger

    trigger = Trigger(inspection_id="a" * 32, trigger_id="el:0", line_id=frame.line_id, triggered_at=0.0)
    return replace(frame, meta={**frame.meta, "trigger": trigger})


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"line_id": "pv-01", "trigger_id": "M-9", "encoder_count": 1200}, 200, None),
        ({"trigger_id": "M-10", "code": "PV000000000077"}, 200, None),  # one line: line_id may be left out
        ({"job": True}, 200, None),
        ({"trigger_id": "M-11", "code": "RL0000000001"}, 422, "code"),  # not this line's pattern
        ({"trigger_id": "M-12", "encoder_count": "12"}, 422, "encoder_count"),
        ({"line_id": "nope", "trigger_id": "M-13"}, 422, "line_id"),
        # what the API could not store is refused here, before the PLC counts on a job
        ({"trigger_id": "M" * 129}, 422, "trigger_id"),
        ({"trigger_id": "M-14\x00"}, 422, "trigger_id"),
        ({"trigger_id": 14}, 422, "trigger_id"),
        ({"trigger_id": "M-15", "encoder_count": 2**63}, 422, "encoder_count"),
        ({"trigger_id": "M-16", "encoder_count": -(2**31)}, 200, None),  # a signed counter wrapped
    ],
)
def test_http_trigger_hook_starts_a_job_like_start_single_job(
    lines: dict[str, LineConfig], body: dict, status: int, field: str | None
) -> None:
    import json
    import urllib.error
    import urllib.request

    from linecheck.inspect.metrics_server import MetricsServer
    from linecheck.inspect.triggers import TriggerBoard

    line = _with_deadline(lines["pv-01"], None)
    gate = RejectGate([line], metrics=InspectorMetrics())
    board = TriggerBoard()
    board.expect(line.id, line.code_pattern)
    server = MetricsServer(InspectorMetrics().registry, status=dict, board=board, jobs=gate.job)
    server.start()
    try:
        request = urllib.request.Request(
            server.url + "/trigger",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                got, answer = resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            got, answer = exc.code, json.loads(exc.read())
    finally:
        server.stop()
    assert got == status, answer
    if status != 200:
        assert answer["error"]["field"] == field and gate.pending_jobs(line.id) == 0
        return
    trigger = gate.admit(_frame(line.id, 0)).meta["trigger"]
    assert trigger.inspection_id == answer["inspection_id"] and trigger.job
    assert (trigger.trigger_id, trigger.encoder_count) == (answer["trigger_id"], body.get("encoder_count"))
