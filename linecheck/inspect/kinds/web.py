"""Web kinds (fabric rolls, steel coils, nonwoven rolls): units of many frames along a running web.

Consecutive frames with the same code make one unit (a roll). A frame's position along the roll is
the source's ``roll_offset_m`` when it knows it (synthetic line, encoder), otherwise it is derived
from the frame number since the roll started and the line speed:
``(seq - first_seq) * speed_m_per_min / 60 / fps``. The running grade is the kind's grade of the
roll's defects over the length inspected so far.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from linecheck.config import LineConfig
from linecheck.inspect.kinds.base import KindLogic
from linecheck.inspect.messages import CodedFrame, DefectRecord, InspectionResult
from linecheck.kinds import Grade, KindSpec
from linecheck.messages import Verdict

#: Finished rolls remembered for status and summaries.
ROLL_HISTORY = 200


@dataclass(kw_only=True)
class RollState:
    """The roll being inspected (or a finished one)."""

    code: str
    first_seq: int
    product: str | None = None
    frames: int = 0
    not_inspected: int = 0
    inspected_m: float = 0.0
    defects: list[DefectRecord] = field(default_factory=list)
    grade: Grade | None = None

    @property
    def verdict(self) -> str:
        """Roll verdict: fail above the acceptance limit, not_inspected if any frame was, else pass."""
        if self.grade is not None and not self.grade.accepted:
            return Verdict.FAIL.value
        if self.not_inspected:
            return Verdict.NOT_INSPECTED.value
        return Verdict.PASS.value

    def summary(self, spec: KindSpec[Any]) -> dict[str, Any]:
        """JSON-friendly view of the roll."""
        return {
            "code": self.code,
            **({"product": self.product} if self.product is not None else {}),
            "frames": self.frames,
            "not_inspected_frames": self.not_inspected,
            "inspected_m": round(self.inspected_m, 3),
            "defects": len(self.defects),
            **spec.unit_summary(self.grade),
            "grade": self.grade.label if self.grade else None,
            "accepted": self.grade.accepted if self.grade else True,
            "verdict": self.verdict,
        }


class WebLogic(KindLogic):
    """Roll-level logic of one web line."""

    def __init__(self, line: LineConfig) -> None:
        super().__init__(line)
        self.frame_length_m = self.spec.frame_length_m(self.options)
        self._fps = {c.station: c.fps for c in line.cameras}
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
        fps = self._fps.get(frame.station)  # the product's line speed (a style may run slower)
        advance = (
            coded.line.speed_m_per_min / 60.0 / fps if fps else self.spec.frame_length_m(coded.line.options)
        )
        return max(0, frame.seq - first) * advance

    def grade(self, defects: Sequence[DefectRecord], line: LineConfig | None = None) -> None:
        """Web units are graded per roll (see :meth:`observe`), not per frame."""
        return None

    def observe(self, result: InspectionResult) -> bool:
        """Add the frame to its roll; a new code starts a new roll (the previous one is graded)."""
        if result.code is None:  # no trigger code: cannot be placed on a roll (kept as code_unread)
            return False
        with self._lock:
            started = self.roll is None or self.roll.code != result.code
            if started:
                self._close_roll()
                self.roll = RollState(code=result.code, first_seq=result.frame_seq, product=result.product)
                self.units += 1
            roll = self.roll
            assert roll is not None
            options = self.line.for_product(roll.product).options  # a roll is one product: its first frame's
            roll.frames += 1
            if result.verdict is Verdict.NOT_INSPECTED:
                roll.not_inspected += 1
            else:
                start = result.roll_offset_m or 0.0
                roll.inspected_m = max(roll.inspected_m, start + self.spec.frame_length_m(options))
                roll.defects.extend(result.defects)
            if roll.inspected_m > 0:
                roll.grade = self.spec.grade(roll.defects, options, inspected_m=roll.inspected_m)
        return started

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
            current = self.roll.summary(self.spec) if self.roll else None
            return {
                "units": self.units,
                "unit_verdicts": dict(self.unit_verdicts),
                "current_roll": current,
                "rolls": [r.summary(self.spec) for r in self.finished],
                **self.spec.status_extras(self.options),
            }
