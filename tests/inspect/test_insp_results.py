"""Hop messages, thresholds and verdicts, and the per-kind location logic."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from linecheck.config import LineConfig
from linecheck.datasets.synth.bearing import BearingGenerator
from linecheck.errors import InvalidFieldError
from linecheck.grading import TextileDefect, textile_grade
from linecheck.inspect.kinds import logic_for
from linecheck.inspect.messages import CodedFrame, DefectRecord, InferredFrame, InspectionResult
from linecheck.inspect.verdict import above_threshold, judge
from linecheck.kinds import Kind, get_kind
from linecheck.messages import CodeStatus, Detections, Frame, Verdict


def make_frame(
    line: LineConfig, *, seq: int = 0, w: int = 640, h: int = 640, meta: dict | None = None
) -> Frame:
    return Frame(
        line_id=line.id,
        station=line.cameras[0].station,
        seq=seq,
        captured_at=datetime.now(UTC),
        image=np.zeros((h, w, 3), np.uint8),
        meta=meta or {},
    )


def coded(line: LineConfig, code: str | None = "X", **kw: object) -> CodedFrame:
    frame = make_frame(line, **kw)  # type: ignore[arg-type]
    status = CodeStatus.UNREAD if code is None else CodeStatus.READ
    return CodedFrame(frame=frame, line=line, code=code, code_status=status, received_at=time.monotonic())


def detections(kind: Kind, rows: list[tuple[str, float, tuple[float, float, float, float]]]) -> Detections:
    names = get_kind(kind).classes
    return Detections(
        xyxy=np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
        confidence=np.array([r[1] for r in rows], np.float32),
        class_id=np.array([names.index(r[0]) for r in rows], np.int64),
        class_names=names,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "short"}, "id"),
        ({"id": "has space in it"}, "id"),
        ({"code": None}, "code"),
        ({"code_status": CodeStatus.UNREAD}, "code"),
        ({"model_name": None}, "model_name"),
        (
            {"defects": (DefectRecord(class_name="hole", confidence=0.5, bbox=(0, 0, 1, 1), location={}),)},
            "verdict",
        ),
    ],
)
def test_inspection_result_rejects_inconsistent_fields(changes: dict, field: str) -> None:
    base = dict(
        line_id="l1",
        station="cam1",
        code="RL0000000001",
        code_status=CodeStatus.TRIGGER,
        captured_at=datetime.now(UTC),
        model_name="textile",
        model_version="1",
        verdict=Verdict.PASS,
        frame_seq=0,
        image_width=640,
        image_height=640,
    )
    base.update(changes)
    with pytest.raises(InvalidFieldError) as info:
        InspectionResult(**base)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("conf", "bbox"), [(1.2, (0, 0, 1, 1)), (-0.1, (0, 0, 1, 1)), (0.5, (5, 0, 1, 1)), (0.5, (0, 5, 1, 1))]
)
def test_defect_record_validates(conf: float, bbox: tuple[float, float, float, float]) -> None:
    with pytest.raises(InvalidFieldError):
        DefectRecord(class_name="hole", confidence=conf, bbox=bbox, location={})


def test_payload_has_exactly_the_contract_keys() -> None:
    result = InspectionResult(
        line_id="l1",
        station="cam1",
        code=None,
        code_status=CodeStatus.UNREAD,
        captured_at=datetime.now(UTC),
        model_name=None,
        model_version=None,
        verdict=Verdict.NOT_INSPECTED,
        reason="inference timeout",
        frame_seq=3,
        image_width=640,
        image_height=480,
    )
    payload = result.to_payload()
    assert set(payload) == {
        "id",
        "line_id",
        "station",
        "code",
        "code_status",
        "captured_at",
        "model_name",
        "model_version",
        "verdict",
        "reason",
        "latency_ms",
        "frame_seq",
        "image_width",
        "image_height",
        "image_ref",
        "roll_offset_m",
        "defects",
    }
    assert payload["code_status"] == "code_unread" and payload["verdict"] == "not_inspected"
    assert datetime.fromisoformat(payload["captured_at"]).tzinfo is not None
    assert len(payload["id"]) == 32 and result.keep_image


def test_inferred_frame_needs_exactly_one_of_detections_or_failure(lines: dict[str, LineConfig]) -> None:
    c = coded(lines["pv-01"])
    with pytest.raises(InvalidFieldError):
        InferredFrame(coded=c, detections=None, model_name="pv", model_version=None, latency_ms=None)
    with pytest.raises(InvalidFieldError):
        InferredFrame(
            coded=c,
            detections=Detections.empty(get_kind(Kind.PV).classes),
            model_name="pv",
            model_version="1",
            latency_ms=1.0,
            failure="both",
        )


@pytest.mark.parametrize(
    ("rows", "expected_mask"),
    [
        # bearing-01: default 0.35, crack 0.25
        ([("crack", 0.26, (0, 0, 5, 5))], [True]),
        ([("crack", 0.24, (0, 0, 5, 5))], [False]),
        ([("dent", 0.34, (0, 0, 5, 5)), ("rust", 0.35, (0, 0, 5, 5))], [False, True]),
        ([], []),
    ],
)
def test_per_class_thresholds(lines: dict[str, LineConfig], rows: list, expected_mask: list[bool]) -> None:
    mask = above_threshold(lines["bearing-01"], detections(Kind.BEARING, rows))
    assert mask.tolist() == expected_mask


@pytest.mark.parametrize(
    ("rows", "verdict", "n_defects"),
    [
        ([], Verdict.PASS, 0),
        ([("dent", 0.2, (10, 10, 20, 20))], Verdict.PASS, 0),
        ([("dent", 0.2, (10, 10, 20, 20)), ("crack", 0.3, (300, 300, 310, 340))], Verdict.FAIL, 1),
    ],
)
def test_judge_verdict_from_thresholds(
    lines: dict[str, LineConfig], rows: list, verdict: Verdict, n_defects: int
) -> None:
    line = lines["bearing-01"]
    inferred = InferredFrame(
        coded=coded(line, code="BR0000000001"),
        detections=detections(Kind.BEARING, rows),
        model_name="bearing",
        model_version="3",
        latency_ms=12.0,
    )
    result = judge(inferred, logic_for(line))
    assert result.verdict is verdict
    assert len(result.defects) == n_defects
    assert result.model_version == "3" and result.code == "BR0000000001"
    if n_defects:
        assert result.reason and "scrap" in result.reason  # crack scraps a ring (shared grading rules)


def test_failed_inference_is_not_inspected_never_pass(lines: dict[str, LineConfig]) -> None:
    line = lines["pv-01"]
    inferred = InferredFrame(
        coded=coded(line, code=None),
        detections=None,
        model_name="pv",
        model_version=None,
        latency_ms=None,
        failure="inference timed out after 10s",
    )
    result = judge(inferred, logic_for(line))
    assert result.verdict is Verdict.NOT_INSPECTED
    assert result.reason is not None and "timed out" in result.reason and "code unread" in result.reason
    assert result.keep_image


def _zone_point(geo: object, zone: str) -> tuple[float, float]:
    g = geo  # BearingGeometry
    radius = {
        "bore": g.r_inner * 0.5,  # type: ignore[attr-defined]
        "inner_race": (g.r_inner + g.r_split) / 2,  # type: ignore[attr-defined]
        "outer_race": (g.r_split + g.r_outer) / 2,  # type: ignore[attr-defined]
        "face": g.r_outer * 1.03,  # type: ignore[attr-defined]
    }[zone]
    return g.cx + radius * math.cos(1.0), g.cy + radius * math.sin(1.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize("zone", ["bore", "inner_race", "outer_race", "face"])
@pytest.mark.parametrize("size", [(640, 640), (800, 600)])
def test_bearing_zone_matches_rendered_geometry(lines: dict[str, LineConfig], zone: str, size: tuple) -> None:
    line = lines["bearing-01"]
    w, h = size
    logic = logic_for(line)
    geo = line.options.geometry(w, h)
    if size == (640, 640):
        ref = BearingGenerator(seed=0, imgsz=640, config=line.options).geometry  # what synth renders
        assert (geo.cx, geo.cy, geo.r_outer, geo.r_split, geo.r_inner) == (
            ref.cx,
            ref.cy,
            ref.r_outer,
            ref.r_split,
            ref.r_inner,
        )
    x, y = _zone_point(geo, zone)
    loc = logic.locate((x - 3, y - 3, x + 3, y + 3), coded(line, w=w, h=h))
    assert loc == {"zone": zone}


@pytest.mark.parametrize(("row", "col"), [(0, 0), (5, 9), (2, 7), (4, 1)])
def test_pv_cell_matches_rendered_grid(lines: dict[str, LineConfig], row: int, col: int) -> None:
    line = lines["pv-01"]
    grid = line.options.grid(640, 640)
    x1, y1, x2, y2 = grid.cell_box(row, col)
    box = (x1 + 2, y1 + 2, x1 + (x2 - x1) * 0.4, y1 + (y2 - y1) * 0.4)  # small defect in the cell's corner
    assert logic_for(line).locate(box, coded(line)) == {"row": row, "col": col}


def test_pv_box_off_grid_snaps_to_nearest_cell(lines: dict[str, LineConfig]) -> None:
    line = lines["pv-01"]
    assert logic_for(line).locate((0, 0, 4, 4), coded(line)) == {"row": 0, "col": 0}
    assert logic_for(line).locate((636, 500, 640, 520), coded(line)) == {"row": 5, "col": 9}


@pytest.mark.parametrize(
    ("offset", "box", "expected"),
    [
        # frame 640 px = 0.5 m along and 0.5 m across (textile-01)
        (0.0, (0, 0, 640, 640), {"along_m": 0.25, "across_m": 0.25, "length_m": 0.5, "width_m": 0.5}),
        (6.0, (64, 320, 128, 384), {"along_m": 6.275, "across_m": 0.075, "length_m": 0.05, "width_m": 0.05}),
        (
            2.5,
            (600, 0, 640, 32),
            {"along_m": 2.5125, "across_m": 0.4844, "length_m": 0.025, "width_m": 0.0312},
        ),
    ],
)
def test_textile_location_in_metres(
    lines: dict[str, LineConfig], offset: float, box: tuple, expected: dict
) -> None:
    line = lines["textile-01"]
    c = coded(line, code="RL0000000001", meta={"roll_offset_m": offset})
    assert logic_for(line).locate(box, c) == pytest.approx(expected, abs=1e-3)


def test_textile_offset_from_frame_count_and_speed(lines: dict[str, LineConfig]) -> None:
    line = lines["textile-01"]  # 30 m/min at 4 fps: 0.125 m per frame
    logic = logic_for(line)
    offsets = [logic.roll_offset_m(coded(line, code="RL0000000009", seq=s)) for s in (40, 41, 48)]
    assert offsets == pytest.approx([0.0, 0.125, 1.0])
    assert logic.roll_offset_m(coded(line, code="RL0000000010", seq=49)) == 0.0  # next roll starts at 0


def test_textile_running_score_is_the_shared_four_point_grade(lines: dict[str, LineConfig]) -> None:
    line = lines["textile-01"]
    logic = logic_for(line)
    rows = {
        0: [("hole", 0.9, (10, 10, 60, 60))],
        3: [("stain", 0.8, (100, 100, 300, 200)), ("knot", 0.2, (0, 0, 5, 5))],
        7: [("broken_yarn", 0.9, (0, 0, 640, 20))],
    }
    expected: list[TextileDefect] = []
    for i in range(10):
        c = coded(line, code="RL0000000001", seq=i, meta={"roll_offset_m": i * 0.5})
        inferred = InferredFrame(
            coded=c,
            detections=detections(Kind.TEXTILE, rows.get(i, [])),
            model_name="textile",
            model_version="1",
            latency_ms=5.0,
        )
        result = judge(inferred, logic)
        started = logic.observe(result)
        assert started == (i == 0)
        for d in result.defects:
            size = max(d.location["length_m"], d.location["width_m"])
            expected.append(
                TextileDefect(class_name=d.class_name, along_m=d.location["along_m"], size_m=size)
            )
    grade = textile_grade(expected, inspected_length_m=5.0, cuttable_width_m=1.6, acceptance=40)
    current = logic.status()["current_roll"]
    assert current["defects"] == 3  # the 0.2 knot is under the 0.35 threshold
    assert current["points"] == grade.total_points
    assert current["points_per_100yd2"] == pytest.approx(grade.points_per_100yd2, abs=0.01)
    assert current["inspected_m"] == pytest.approx(5.0)
    # a new code closes the roll with its verdict
    c = coded(line, code="RL0000000002", seq=10, meta={"roll_offset_m": 0.0})
    logic.observe(
        judge(
            InferredFrame(
                coded=c,
                detections=detections(Kind.TEXTILE, []),
                model_name="textile",
                model_version="1",
                latency_ms=1.0,
            ),
            logic,
        )
    )
    status = logic.status()
    assert status["units"] == 2
    assert status["rolls"][0]["code"] == "RL0000000001"
    assert status["unit_verdicts"] == {"pass" if grade.accepted else "fail": 1}


@pytest.mark.parametrize(
    ("line_id", "kind", "rows", "grades"),
    [
        ("bearing-01", Kind.BEARING, [("crack", 0.9, (300, 300, 310, 340))], {"scrap": 1}),
        ("bearing-01", Kind.BEARING, [], {"pass": 1}),
        ("pv-01", Kind.PV, [("dark_cell", 0.9, (100, 100, 120, 120))], {"C": 1}),
        ("pv-01", Kind.PV, [("crack", 0.9, (100, 100, 120, 120))], {"B": 1}),
    ],
)
def test_unit_grades_use_the_shared_rules(
    lines: dict[str, LineConfig], line_id: str, kind: Kind, rows: list, grades: dict
) -> None:
    line = lines[line_id]
    logic = logic_for(line)
    inferred = InferredFrame(
        coded=coded(line),
        detections=detections(kind, rows),
        model_name=kind.value,
        model_version="1",
        latency_ms=1.0,
    )
    logic.observe(judge(inferred, logic))
    failed = InferredFrame(
        coded=coded(line),
        detections=None,
        model_name=kind.value,
        model_version=None,
        latency_ms=None,
        failure="down",
    )
    logic.observe(judge(failed, logic))  # not inspected: no grade
    status = logic.status()
    assert status["grades"] == grades and status["units"] == 2
