"""Textile: metres along the roll, the roll defect map and the running four-point score.

Fabric runs down the image (image rows are the roll's length). A frame covers
``frame_length_m`` along by ``frame_width_m`` across; camera number ``i`` of the line sees the
strip ``[i * frame_width_m, (i + 1) * frame_width_m)`` across the roll. A frame's position
along the roll is the source's ``roll_offset_m`` when it knows it (synthetic line, encoder),
otherwise it is derived from the frame number since the roll started and the line speed:
``(seq - first_seq) * speed_m_per_min / 60 / fps``. The running score uses the shared
grading rules (:func:`linecheck.grading.textile_grade`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from linecheck.config import LineConfig
from linecheck.grading import TextileDefect, TextileGrade, textile_grade
from linecheck.inspect.kinds.base import Box, KindLogic
from linecheck.inspect.messages import CodedFrame, DefectRecord, InspectionResult, Location
from linecheck.kinds import Kind
from linecheck.messages import Verdict

#: Finished rolls remembered for status and summaries.
ROLL_HISTORY = 200


@dataclass(kw_only=True)
class RollState:
    """The roll being inspected (or a finished one)."""

    code: str
    first_seq: int
    frames: int = 0
    not_inspected: int = 0
    inspected_m: float = 0.0
    defects: list[TextileDefect] = field(default_factory=list)
    grade: TextileGrade | None = None

    @property
    def verdict(self) -> str:
        """Roll verdict: fail above the acceptance limit, not_inspected if any frame was, else pass."""
        if self.grade is not None and not self.grade.accepted:
            return Verdict.FAIL.value
        if self.not_inspected:
            return Verdict.NOT_INSPECTED.value
        return Verdict.PASS.value

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view of the roll."""
        return {
            "code": self.code,
            "frames": self.frames,
            "not_inspected_frames": self.not_inspected,
            "inspected_m": round(self.inspected_m, 3),
            "defects": len(self.defects),
            "points": self.grade.total_points if self.grade else 0,
            "points_per_100yd2": round(self.grade.points_per_100yd2, 2) if self.grade else 0.0,
            "accepted": self.grade.accepted if self.grade else True,
            "verdict": self.verdict,
        }


class TextileLogic(KindLogic):
    """Roll-level logic of one textile line."""

    kind = Kind.TEXTILE

    def __init__(self, line: LineConfig) -> None:
        super().__init__(line)
        self.cfg = line.textile
        fps = {c.station: c.fps for c in line.cameras}
        self._advance_m = {station: line.speed_m_per_min / 60.0 / f for station, f in fps.items()}
        self._across_origin = {c.station: i * self.cfg.frame_width_m for i, c in enumerate(line.cameras)}
        self._first_seq: dict[tuple[str, str], int] = {}
        self.roll: RollState | None = None
        self.finished: deque[RollState] = deque(maxlen=ROLL_HISTORY)

    def roll_offset_m(self, coded: CodedFrame) -> float | None:
        """Where along the roll the frame starts (source-given, else from the frame count)."""
        frame = coded.frame
        given = frame.meta.get("roll_offset_m")
        if given is not None:
            return float(given)
        if coded.code is None:
            return None
        key = (coded.code, frame.station)
        first = self._first_seq.setdefault(key, frame.seq)
        if len(self._first_seq) > 64:  # forget rolls long gone
            self._first_seq.pop(next(iter(self._first_seq)))
        advance = self._advance_m.get(frame.station, self.cfg.frame_length_m)
        return max(0, frame.seq - first) * advance

    def locate(self, box: Box, coded: CodedFrame) -> Location:
        """Metres along / across the roll and the defect's size."""
        frame = coded.frame
        h, w = frame.height, frame.width
        x1, y1, x2, y2 = (float(v) for v in box)
        offset = self.roll_offset_m(coded) or 0.0
        across0 = self._across_origin.get(frame.station, 0.0)
        return {
            "along_m": round(offset + (y1 + y2) / 2 / h * self.cfg.frame_length_m, 4),
            "across_m": round(across0 + (x1 + x2) / 2 / w * self.cfg.frame_width_m, 4),
            "length_m": round((y2 - y1) / h * self.cfg.frame_length_m, 4),
            "width_m": round((x2 - x1) / w * self.cfg.frame_width_m, 4),
        }

    def observe(self, result: InspectionResult) -> bool:
        """Add the frame to its roll; a new code starts a new roll (the previous one is graded)."""
        if result.code is None:  # no trigger code: cannot be placed on a roll (kept as code_unread)
            return False
        with self._lock:
            started = self.roll is None or self.roll.code != result.code
            if started:
                self._close_roll()
                self.roll = RollState(code=result.code, first_seq=result.frame_seq)
                self.units += 1
            roll = self.roll
            assert roll is not None
            roll.frames += 1
            if result.verdict is Verdict.NOT_INSPECTED:
                roll.not_inspected += 1
            else:
                start = result.roll_offset_m or 0.0
                roll.inspected_m = max(roll.inspected_m, start + self.cfg.frame_length_m)
                roll.defects.extend(_textile_defects(result.defects))
            roll.grade = self._grade(roll)
        return started

    def _grade(self, roll: RollState) -> TextileGrade | None:
        if roll.inspected_m <= 0:
            return None
        return textile_grade(
            roll.defects,
            inspected_length_m=roll.inspected_m,
            cuttable_width_m=self.cfg.roll_width_m,
            acceptance=self.cfg.acceptance_points_per_100yd2,
        )

    def _close_roll(self) -> None:
        if self.roll is not None:
            self.unit_verdicts[self.roll.verdict] += 1
            self.finished.append(self.roll)
            self.roll = None

    def finish(self) -> None:
        """Grade and close the roll in progress."""
        with self._lock:
            self._close_roll()

    def status(self) -> dict[str, Any]:
        """Units, roll verdicts, the current roll's running score and the last finished rolls."""
        with self._lock:
            current = self.roll.summary() if self.roll else None
            return {
                "units": self.units,
                "unit_verdicts": dict(self.unit_verdicts),
                "current_roll": current,
                "rolls": [r.summary() for r in self.finished],
                "acceptance_points_per_100yd2": self.cfg.acceptance_points_per_100yd2,
            }


def _textile_defects(defects: Sequence[DefectRecord]) -> list[TextileDefect]:
    out = []
    for d in defects:
        loc = d.location
        size = max(float(loc["length_m"]), float(loc["width_m"]))
        out.append(TextileDefect(class_name=d.class_name, along_m=float(loc["along_m"]), size_m=size))
    return out
