"""Demo-like data for the numbers the pages show: three lines as ``make demo`` fills them, then reviews.

Posted over HTTP into a running API (see :mod:`review_seed`), with generated frames:

* textile-01: 8 rolls of 20 frames (10 m, 0.5 m a frame) at 4 frames/s, one after the other. Rolls
  0-4 each have one 2-inch stain (1 point: the frame is judged fail, the roll is accepted at about
  5 points / 100 yd²); roll 5 has two holes (8 points: rejected as inspected, 42 / 100 yd²) and a
  reviewer rejects one of them (released by review); roll 6 has three holes (rejected, stays so);
  roll 7 is clean. Seven rolls have a frame judged fail, one roll fails its grade.
* pv-01: six modules 30 s apart: two clean, a crack (B: failed), a dark cell (C: failed), a crack
  a reviewer rejects (A: released by review), one frame not inspected (not_inspected).
* bearing-01: four rings: two clean, rust on the inner race (reject), a crack a reviewer rejects
  (pass: released by review).
* Two reviewers decide the same bearing defect, one agreeing and one not on another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
from review_seed import Stack, _upload

from linecheck.serving.api import testing as api_testing

ROLLS = 8
FRAMES_PER_ROLL = 20
FRAME_S = 0.25
STAIN_M = 0.05  # 1.97 in: 1 point
HOLE_M = 0.01  # every hole: 4 points


@dataclass
class DemoLike:
    """What was posted and decided, to compare the pages with."""

    start: datetime
    rolls: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    rings: list[str] = field(default_factory=list)
    released: dict[str, str] = field(default_factory=dict)  # line -> code released by review
    second_reviewer: str = ""


def _frame() -> np.ndarray:
    """A small grey frame with a dark patch (the pages scale stored frames to the inspected size)."""
    image = np.full((96, 96, 3), 190, np.uint8)
    cv2.rectangle(image, (20, 20), (24, 24), (40, 40, 40), -1)
    return image


def _inspection(line_id: str, station: str, code: str | None, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "line_id": line_id,
        "station": station,
        "code": code,
        "code_status": "trigger" if line_id == "textile-01" else "read",
        "captured_at": at.isoformat(),
        "model_name": line_id.split("-")[0],
        "model_version": "2",
        "verdict": "pass",
        "image_width": 640,
        "image_height": 640,
        "defects": [],
        **extra,
    }


def _defect(name: str, location: dict[str, Any], confidence: float = 0.8) -> dict[str, Any]:
    return {"class_name": name, "confidence": confidence, "bbox": [200, 200, 260, 240], "location": location}


def _post(stack: Stack, who: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 200):
        response = stack.post("/v1/inspections", who, json={"inspections": items[start : start + 200]})
        assert response.status_code == 200, response.text


def _review(stack: Stack, who: str, defect_id: int, **body: Any) -> None:
    response = stack.post(f"/v1/defects/{defect_id}/review", who, json=body)
    assert response.status_code == 201, response.text


def _defects_of(stack: Stack, code: str) -> list[dict[str, Any]]:
    return [d for i in stack.get(f"/v1/trace/{code}")["inspections"] for d in i["defects"]]


def seed_demo_like(stack: Stack) -> DemoLike:
    """Post the three lines' units, then the reviews (see the module docstring)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    demo = DemoLike(start=start)
    ref = _upload(stack, "textile", _frame())
    frames = []
    holes = {5: 2, 6: 3}
    for r in range(ROLLS):
        code = f"RL00000010{r:02d}"
        demo.rolls.append(code)
        for f in range(FRAMES_PER_ROLL):
            at = start + timedelta(seconds=(r * FRAMES_PER_ROLL + f) * FRAME_S)
            along = 0.5 * f + 0.25
            defects = []
            if r <= 4 and f == 7:
                defects = [
                    _defect(
                        "stain", {"along_m": along, "across_m": 0.6, "length_m": STAIN_M, "width_m": 0.02}
                    )
                ]
            if f % 2 == 0 and f // 2 < holes.get(r, 0):  # a hole every other frame: each in its own yard
                defects = [
                    _defect(
                        "hole", {"along_m": along, "across_m": 0.9, "length_m": HOLE_M, "width_m": HOLE_M}
                    )
                ]
            frames.append(
                _inspection(
                    "textile-01", "cam1", code, at, frame_seq=f, roll_offset_m=0.5 * f, image_ref=ref,
                    verdict="fail" if defects else "pass", defects=defects,
                )
            )  # fmt: skip
    _post(stack, "textile", frames)
    pv_cells: list[list[tuple[str, int, int]] | None] = [
        [], [], [("crack", 1, 1)], [("dark_cell", 2, 3)], [("crack", 4, 4)], None,
    ]  # fmt: skip
    modules = []
    for m, cells in enumerate(pv_cells):
        code = f"PV0000000010{m:02d}"
        demo.modules.append(code)
        at = start + timedelta(minutes=5, seconds=30 * m)
        if cells is None:
            missed = {"verdict": "not_inspected", "model_name": None, "model_version": None}
            modules.append(_inspection("pv-01", "el", code, at, reason="inference timed out", **missed))
            continue
        defects = [_defect(name, {"row": row, "col": col}) for name, row, col in cells]
        modules.append(
            _inspection(
                "pv-01", "el", code, at, image_ref=ref, verdict="fail" if defects else "pass", defects=defects
            )
        )
    _post(stack, "pv", modules)
    ring_defects: list[list[tuple[str, str]]] = [[], [], [("rust", "inner_race")], [("crack", "face")]]
    rings = []
    for n, found in enumerate(ring_defects):
        code = f"BR00000010{n:02d}"
        demo.rings.append(code)
        at = start + timedelta(minutes=10, seconds=20 * n)
        defects = [_defect(name, {"zone": zone}) for name, zone in found]
        rings.append(
            _inspection(
                "bearing-01",
                "face",
                code,
                at,
                image_ref=ref,
                verdict="fail" if defects else "pass",
                defects=defects,
            )
        )
    _post(stack, "bearing", rings)
    # reviews: one hole of roll 5, the crack of module 4 and of ring 3 are not defects
    _review(
        stack,
        "reviewer",
        _defects_of(stack, demo.rolls[5])[0]["id"],
        decision="reject",
        comment="lint, not a hole",
    )
    _review(stack, "reviewer", _defects_of(stack, demo.modules[4])[0]["id"], decision="reject")
    crack = _defects_of(stack, demo.rings[3])[0]["id"]
    _review(stack, "reviewer", crack, decision="reject", comment="reflection")
    _review(stack, "reviewer", _defects_of(stack, demo.rings[2])[0]["id"], decision="confirm")
    demo.released = {"textile-01": demo.rolls[5], "pv-01": demo.modules[4], "bearing-01": demo.rings[3]}
    # a second reviewer checks two bearing defects: agrees on the crack, not on the rust
    second = api_testing.create_key(stack.db_url, "reviewer", name="second shift")
    stack.keys["second"] = second
    demo.second_reviewer = second
    _review(stack, "second", crack, decision="reject")
    _review(
        stack, "second", _defects_of(stack, demo.rings[2])[0]["id"], decision="reclassify", new_class="dent"
    )
    return demo
