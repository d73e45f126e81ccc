"""A PLC job over several cameras (outputs.job_stations): one frame of each, one decision for the unit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from insp_helpers import Decisions, TableDetector, truth_table, wait_until

from linecheck.config import LineConfig
from linecheck.inspect.gate import RejectGate, Trigger
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind
from linecheck.messages import CodeStatus, Frame, Verdict

CAMERAS = [
    {"station": "face-a", "source": "synth://bearing"},
    {"station": "face-b", "source": "synth://bearing"},
    {"station": "overview", "source": "synth://bearing"},
]
CODE = "BR0000000042"


def _line(lines: dict[str, LineConfig], deadline_ms: float | None, **outputs: Any) -> LineConfig:
    data = lines["bearing-01"].model_dump(mode="json")
    data["cameras"] = CAMERAS
    data["outputs"] = {"reject_deadline_ms": deadline_ms, "job_stations": ["face-a", "face-b"], **outputs}
    return LineConfig.model_validate(data)


def _frame(station: str, seq: int) -> Frame:
    return Frame(
        line_id="bearing-01",
        station=station,
        seq=seq,
        captured_at=datetime.now(UTC),
        image=np.zeros((64, 64, 3), np.uint8),
    )


def _result(frame: Frame, verdict: Verdict, *classes: str) -> InspectionResult:
    trigger = frame.meta["trigger"]
    defects = tuple(
        DefectRecord(class_name=c, confidence=0.9, bbox=(1, 1, 9, 9), location={"zone": "face"})
        for c in classes
    )
    return InspectionResult(
        id=trigger.inspection_id,
        trigger_id=trigger.trigger_id,
        encoder_count=trigger.encoder_count,
        line_id=frame.line_id,
        station=frame.station,
        code=CODE,
        code_status=CodeStatus.TRIGGER,
        captured_at=frame.captured_at,
        model_name="bearing",
        model_version="1",
        verdict=verdict,
        reason=f"{len(classes)} defect(s)" if classes else None,
        frame_seq=frame.seq,
        image_width=64,
        image_height=64,
        defects=defects,
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Verdict.PASS, Verdict.PASS, Verdict.PASS),
        (Verdict.PASS, Verdict.FAIL, Verdict.FAIL),
        (Verdict.NOT_INSPECTED, Verdict.PASS, Verdict.NOT_INSPECTED),
        (Verdict.NOT_INSPECTED, Verdict.FAIL, Verdict.FAIL),
    ],
)
def test_one_decision_waits_for_every_station_and_passes_only_if_all_passed(
    lines: dict[str, LineConfig], a: Verdict, b: Verdict, expected: Verdict
) -> None:
    line = _line(lines, 5000)
    sink = Decisions()
    gate = RejectGate([line], metrics=InspectorMetrics(), sinks=[sink])
    gate.start()
    try:
        job = gate.job(line.id, trigger_id="M-1", code=CODE, encoder_count=77)
        free = gate.admit(_frame("overview", 1))  # not one of the job's stations: runs free
        second = gate.admit(_frame("face-b", 2))
        first = gate.admit(_frame("face-a", 3))
        assert gate.pending_jobs(line.id) == 0 and gate.undecided(job.inspection_id)
        records = [gate.settle(_result(first, a, *(["scratch"] if a is Verdict.FAIL else [])))]
        assert [o.inspection_id for o in sink.items] == []  # face-b is still being judged
        records.append(gate.settle(_result(second, b, *(["dent"] if b is Verdict.FAIL else []))))
        gate.settle(_result(free, Verdict.PASS))
    finally:
        gate.close()
    assert free.meta["trigger"].trigger_id == "overview:1" and not free.meta["trigger"].job
    ids = [first.meta["trigger"].inspection_id, second.meta["trigger"].inspection_id]
    assert ids == [job.inspection_id, f"{job.inspection_id}-1"]  # the job's id is its first station's
    assert [r.trigger_id for r in records] == ["M-1", "M-1"] and [r.verdict for r in records] == [a, b]
    unit = next(o for o in sink.items if o.inspection_id == job.inspection_id)
    assert len([o for o in sink.items if o.trigger_id == "M-1"]) == 1  # one decision for the unit
    assert unit.verdict is expected and unit.reject is (expected is not Verdict.PASS)
    assert unit.station == "face-a+face-b" and unit.encoder_count == 77 and unit.job
    assert not gate.undecided(job.inspection_id)


def test_a_station_that_sends_no_frame_rejects_the_unit_at_the_deadline_and_is_recorded(
    lines: dict[str, LineConfig],
) -> None:
    line = _line(lines, 40)
    sink = Decisions()
    records: list[InspectionResult] = []
    gate = RejectGate([line], metrics=InspectorMetrics(), sinks=[sink], record=records.append)
    gate.start()
    try:
        job = gate.job(line.id, trigger_id="M-2", code=CODE)
        framed = gate.admit(_frame("face-a", 1))  # face-b never sends its frame
        assert wait_until(lambda: len(sink.items) == 1 and len(records) == 1)
        late = gate.settle(_result(framed, Verdict.PASS))  # face-a judged after the deadline
        nxt = gate.admit(_frame("face-b", 2))  # the expired job no longer takes a frame
    finally:
        gate.close()
    [outcome] = sink.items
    assert outcome.inspection_id == job.inspection_id and outcome.fail_safe and outcome.reject
    assert "no frame of face-b" in (outcome.reason or "")
    [missing] = records
    assert (missing.station, missing.id) == ("face-b", f"{job.inspection_id}-1")
    assert missing.verdict is Verdict.NOT_INSPECTED and missing.trigger_id == "M-2"
    assert late.verdict is Verdict.NOT_INSPECTED and "past reject_deadline_ms=40" in (late.reason or "")
    assert nxt.meta["trigger"].trigger_id == "face-b:2"


def test_jobs_take_their_stations_frames_in_order(lines: dict[str, LineConfig]) -> None:
    line = _line(lines, None)
    gate = RejectGate([line], metrics=InspectorMetrics())
    one = gate.job(line.id, trigger_id="J-1")
    two = gate.job(line.id, trigger_id="J-2")
    frames = [gate.admit(_frame(s, i)) for i, s in enumerate(["face-a", "face-a", "face-b", "face-b"])]
    assert [f.meta["trigger"].trigger_id for f in frames] == ["J-1", "J-2", "J-1", "J-2"]
    assert [f.meta["trigger"].inspection_id for f in frames] == [
        one.inspection_id,
        two.inspection_id,
        f"{one.inspection_id}-1",
        f"{two.inspection_id}-1",
    ]
    assert gate.pending_jobs(line.id) == 0


def test_job_stations_must_be_the_lines_cameras(lines: dict[str, LineConfig]) -> None:
    with pytest.raises(ValueError, match=r"outputs.job_stations names \['od'\]"):
        _line(lines, None, job_stations=["face-a", "od"])
    with pytest.raises(ValueError, match="a station twice"):
        _line(lines, None, job_stations=["face-a", "face-a"])
    data = _line(lines, 100).model_dump(mode="json")
    assert data["outputs"]["job_stations"] == ["face-a", "face-b"]
    assert "job_stations" not in lines["bearing-01"].model_dump(mode="json")["outputs"]
    assert LineConfig.model_validate(data).outputs.job_stations == ["face-a", "face-b"]


def test_the_inspector_decides_each_job_once_over_both_cameras(
    lines: dict[str, LineConfig], settings: InspectorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs: list[Trigger] = []

    class JobsFirst(RejectGate):  # the PLC's three jobs are waiting before the cameras' first frames
        def start(self) -> None:
            super().start()
            jobs.extend(self.job("bearing-01", trigger_id=f"J-{i}") for i in range(3))

    monkeypatch.setattr("linecheck.inspect.service.RejectGate", JobsFirst)
    data = lines["bearing-01"].model_dump(mode="json")
    data["cameras"] = CAMERAS[:2]
    data["outputs"] = {"reject_deadline_ms": 20_000, "job_stations": ["face-a", "face-b"]}
    line = LineConfig.model_validate(data)
    sink = Decisions()
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: TableDetector(Kind.BEARING, truth_table(line, seed=3, units=3))},
        settings=settings,
        client=None,
        sinks=[sink],
        sources=[
            SourceSpec(line_id=line.id, station=s, uri="synth://bearing?seed=3&units=3&rate=0")
            for s in ("face-a", "face-b")
        ],
    )
    svc.start()
    try:
        assert len(jobs) == 3
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        rows = [r.payload for r in svc.outbox.rows()]
    finally:
        svc.stop()
    assert sorted(r["trigger_id"] for r in rows) == ["J-0", "J-0", "J-1", "J-1", "J-2", "J-2"]
    assert {r["station"] for r in rows if r["trigger_id"] == "J-1"} == {"face-a", "face-b"}
    decided = [o for o in sink.items if o.job]
    assert sorted(o.inspection_id for o in decided) == sorted(j.inspection_id for j in jobs)
    for outcome in decided:
        frames = [r for r in rows if r["trigger_id"] == outcome.trigger_id]
        any_fail = any(r["verdict"] != "pass" for r in frames)
        assert outcome.reject is any_fail and outcome.station == "face-a+face-b"
