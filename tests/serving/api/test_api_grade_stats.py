"""GET /v1/units/{code}/grade (hand-computed) and GET /v1/lines/{id}/stats per shift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from api_harness import Api, make_settings
from api_payloads import T0, bearing, later, pv, textile
from fastapi.testclient import TestClient

from linecheck.serving.api.app import create_app
from linecheck.serving.api.services.stats import shift_name, shift_windows
from linecheck.serving.store.keys import create_key

INCH = 0.0254
YARD = 0.9144
LINES = {
    # 1 frame = 1 yard, cuttable width 60 in: points per 100 yd^2 = points x 3600 / (yards x 60)
    "textile-g.yaml": "id: textile-g\nkind: textile\ntextile: {roll_width_m: 1.524, frame_length_m: 0.9144, "
    "acceptance_points_per_100yd2: 40}\n",
    "pv-g.yaml": "id: pv-g\nkind: pv\npv: {rows: 2, cols: 3}\n",
    "bearing-g.yaml": "id: bearing-g\nkind: bearing\n",
}


@pytest.fixture
def graded(db_url: str, tmp_path: Path) -> Iterator[Api]:
    lines_dir = tmp_path / "lines"
    lines_dir.mkdir()
    for name, text in LINES.items():
        (lines_dir / name).write_text(text)
    app = create_app(make_settings(db_url, tmp_path, lines_dir=lines_dir))
    with TestClient(app) as client:
        db = app.state.context.db
        keys = {
            "line": create_key(db, "line", ["textile-g", "pv-g", "bearing-g"]),
            "reviewer": create_key(db, "reviewer"),
            "viewer": create_key(db, "viewer"),
        }
        yield Api(client=client, context=app.state.context, keys=keys)


def _frame(offset_yd: int, defects: list[tuple[str, float, float, float]], **extra: Any) -> dict[str, Any]:
    """A textile-g frame at ``offset_yd`` yards with (class, along_m, length_m, width_m) defects."""
    return textile(
        line_id="textile-g",
        roll_offset_m=offset_yd * YARD,
        verdict="fail" if defects else "pass",
        defects=[
            {
                "class_name": c,
                "confidence": 0.9,
                "bbox": [1, 1, 9, 9],
                "location": {"along_m": a, "across_m": 0.5, "length_m": ln, "width_m": w},
            }
            for c, a, ln, w in defects
        ],
        **extra,
    )


def _review(api: Api, inspection: dict[str, Any], index: int, **decision: Any) -> None:
    defect = api.get(f"/v1/inspections/{inspection['id']}").json()["defects"][index]["id"]
    assert api.post(f"/v1/defects/{defect}/review", "reviewer", json=decision).status_code == 201


def test_textile_four_point_grade(graded: Api) -> None:
    frames = {n: _frame(n, []) for n in range(10)}  # 10 frames of 1 yd: 10 yd inspected
    frames[0] = _frame(
        0, [("stain", 0.1, 2 * INCH, 0.01), ("knot", 0.5, 4 * INCH, 0.0), ("hole", 0.8, 0.01, 0.01)]
    )
    frames[1] = _frame(1, [("broken_yarn", 1.0, 10 * INCH, 0.0)])
    frames[5] = _frame(5, [("stain", 5.0, 0.01, 7 * INCH)])  # largest dimension is the width: 7 in
    frames[7] = _frame(7, [("hole", 7.0, 0.02, 0.02)])  # rejected by the reviewer below
    frames[8] = _frame(8, [("hole", 8.0, 0.02, 0.01)])  # reclassified to stain below: 0.79 in -> 1 pt
    skipped = textile(
        line_id="textile-g", roll_offset_m=12 * YARD, verdict="not_inspected", model_name=None, defects=[]
    )
    batch = {"inspections": [*frames.values(), skipped]}
    assert graded.post("/v1/inspections", "line", json=batch).status_code == 200
    _review(graded, frames[7], 0, decision="reject")
    _review(graded, frames[8], 0, decision="reclassify", new_class="stain")
    grade = graded.get("/v1/units/RL0000000042/grade").json()
    # yard 0: 1 + 2 + 4 = 7 -> capped 4; yard 1: 4; yard 5: 3; yard 8: 1  => 12 points (raw 15)
    # 12 x 3600 / (10 yd x 60 in) = 72.0 > 40 -> rejected
    assert grade["detail"]["raw_points"] == 15
    assert grade["detail"]["total_points"] == 12
    assert grade["detail"]["points_per_100yd2"] == pytest.approx(72.0)
    assert grade["detail"]["inspected_yards"] == pytest.approx(10.0)
    assert grade["detail"]["capped_yards"] == [0]
    assert (grade["grade"], grade["accepted"]) == ("rejected", False)
    assert (grade["defects_counted"], grade["defects_excluded"]) == (6, 1)
    assert (grade["inspections"], grade["not_inspected"]) == (11, 1)
    assert grade["detail"]["options"]["acceptance_points_per_100yd2"] == 40


def test_pv_grade_follows_reviews(graded: Api) -> None:
    module = pv(
        "PV000000000005",
        [("crack", 0, 1), ("finger_interruption", 1, 2), ("dark_cell", 1, 0)],
        line_id="pv-g",
    )
    graded.post("/v1/inspections", "line", json=module)
    grades = [graded.get("/v1/units/PV000000000005/grade").json()["grade"]]  # dark_cell -> C
    _review(graded, module, 2, decision="reject")
    grades.append(graded.get("/v1/units/PV000000000005/grade").json()["grade"])  # crack + finger -> B
    _review(graded, module, 0, decision="reject")
    _review(graded, module, 1, decision="reject")
    grades.append(graded.get("/v1/units/PV000000000005/grade").json()["grade"])  # nothing left -> A
    assert grades == ["C", "B", "A"]
    final = graded.get("/v1/units/PV000000000005/grade").json()
    assert final["accepted"] is True and final["defects_excluded"] == 3


def test_bearing_verdict(graded: Api) -> None:
    part = bearing("BR0000000123", [("scratch", "face"), ("rust", "inner_race")], line_id="bearing-g")
    part["defects"][0]["location"]["length_m"] = 0.002
    graded.post("/v1/inspections", "line", json=part)
    assert graded.get("/v1/units/BR0000000123/grade").json()["grade"] == "reject"
    _review(graded, part, 1, decision="reject")
    result = graded.get("/v1/units/BR0000000123/grade").json()
    assert (result["grade"], result["accepted"]) == ("pass", True)  # a 2 mm face scratch is cosmetic


def test_grade_of_unknown_code_is_404(graded: Api) -> None:
    assert graded.get("/v1/units/RL0000000000/grade").status_code == 404


def test_stats_per_shift(api: Api) -> None:
    # shifts start 06:00, 14:00, 22:00 UTC; T0 is 10:00 (morning shift)
    bodies = [
        pv("PV000000000001", [("crack", 1, 4), ("dark_cell", 0, 0)], captured_at=later(0).isoformat()),
        pv("PV000000000001", [("crack", 1, 4)], captured_at=later(1).isoformat()),  # same unit, 2nd frame
        pv("PV000000000002", [("crack", 1, 4)], captured_at=later(2).isoformat()),
        pv("PV000000000003", [], captured_at=later(3).isoformat()),
        pv("PV000000000004", [("broken_corner", 5, 9)], captured_at=later(300).isoformat()),  # 15:00
    ]
    for body in bodies:
        assert api.post("/v1/inspections", "pv", json=body).status_code == 201
    _review(api, bodies[2], 0, decision="reject")
    params = {"since": T0.replace(hour=6).isoformat(), "until": T0.replace(hour=22).isoformat()}
    stats = api.get("/v1/lines/pv-01/stats", params=params).json()
    morning, afternoon = stats["shifts"]
    assert (morning["shift"], afternoon["shift"]) == ("06:00", "14:00")
    # PV1 is graded C (dark_cell); PV2 failed as inspected but its only defect was rejected: it is
    # released by review (grade A), not failed; PV3 had nothing. Units count by their grade after review.
    assert (morning["inspections"], morning["units"], morning["failed_units"]) == (4, 3, 1)
    assert morning["units_by_status"] == {"accepted": 1, "released": 1, "failed": 1, "not_inspected": 0}
    assert morning["fail_rate"] == pytest.approx(1 / 3)
    assert stats["totals"]["units"] == 4 and stats["totals"]["failed_units"] == 2
    assert morning["defects_by_class"] == {"crack": 2, "dark_cell": 1}  # the rejected crack is not counted
    assert morning["top_locations"][0] == {"location": "cell:r1c4", "defects": 2}
    assert (afternoon["units"], afternoon["defects_by_class"]) == (1, {"broken_corner": 1})
    assert api.get("/v1/lines/nope-01/stats").status_code == 404
    bad = api.get("/v1/lines/pv-01/stats", params={"since": params["until"], "until": params["since"]})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "since")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "zone", "cuts"),
    [
        (_utc(2026, 11, 23, 0), _utc(2026, 11, 23, 12), "UTC", [0, 6, 12]),
        (_utc(2026, 11, 23, 7), _utc(2026, 11, 23, 9), "UTC", [7, 9]),
        # Berlin is UTC+1 in November: 06:00 local = 05:00Z, 14:00 local = 13:00Z
        (_utc(2026, 11, 23, 0), _utc(2026, 11, 23, 14), "Europe/Berlin", [0, 5, 13, 14]),
        # DST starts 29 March 2026: 06:00 local is 05:00Z on the 28th and 04:00Z on the 29th
        (_utc(2026, 3, 28, 4), _utc(2026, 3, 29, 5), "Europe/Berlin", [4, 5, 13, 21, 4, 5]),
    ],
)
def test_shift_windows(since: datetime, until: datetime, zone: str, cuts: list[int]) -> None:
    windows = shift_windows(since, until, [time(6), time(14), time(22)], zone)
    hours = [windows[0][0].hour] + [end.hour for _, end in windows]
    assert hours == cuts
    assert windows[0][0] == since and windows[-1][1] == until


def test_shift_name() -> None:
    starts = [time(6), time(14), time(22)]
    assert shift_name(_utc(2026, 11, 23, 3), starts, "UTC") == "22:00"
    assert shift_name(_utc(2026, 11, 23, 13, 30), starts, "Europe/Berlin") == "14:00"
