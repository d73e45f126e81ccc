"""What every kind's logic provides: defect locations, a grading note per frame, unit accounting."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from linecheck.config import LineConfig
from linecheck.inspect.messages import CodedFrame, DefectRecord, InspectionResult, Location
from linecheck.kinds import Kind
from linecheck.messages import Verdict

#: ``x1, y1, x2, y2`` in frame pixels.
Box = Sequence[float]

#: Grading notes listed in a frame's reason before the rest is counted ("+3 more").
NOTES_SHOWN = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitGrade:
    """A unit's grade under the shared grading rules (bearing part outcome, PV module grade).

    Attributes:
        label: the grade counted in summaries (``scrap``, ``B``, ...).
        head: how a reason starts (``part scrap``, ``module grade B``).
        notes: one note per defect that counts against the unit.

    """

    label: str
    head: str
    notes: tuple[str, ...] = ()


def join_notes(head: str, notes: Sequence[str]) -> str:
    """``head: note1; note2; ... (+N more)`` with at most :data:`NOTES_SHOWN` notes spelled out."""
    shown = "; ".join(notes[:NOTES_SHOWN])
    more = f" (+{len(notes) - NOTES_SHOWN} more)" if len(notes) > NOTES_SHOWN else ""
    return f"{head}: {shown}{more}" if notes else head


class KindLogic(ABC):
    """Per-line, per-kind logic used by the judge stage (one instance per line, one thread).

    The default unit accounting treats every frame as one unit (a bearing ring, a PV module),
    whose verdict is the frame's; textile overrides it with rolls of many frames.
    """

    kind: ClassVar[Kind]

    def __init__(self, line: LineConfig) -> None:
        self.line = line
        self._lock = threading.Lock()
        self.units = 0
        self.unit_verdicts: Counter[str] = Counter()
        self.grades: Counter[str] = Counter()

    @abstractmethod
    def locate(self, box: Box, coded: CodedFrame) -> Location:
        """Where on the product the defect in ``box`` is."""

    def roll_offset_m(self, coded: CodedFrame) -> float | None:
        """Textile: where along the roll the frame starts; None for other kinds."""
        return None

    def grade(self, defects: Sequence[DefectRecord]) -> UnitGrade | None:
        """The unit's grade from a frame's defects (None: this kind grades units elsewhere)."""
        return None

    def reason(self, defects: Sequence[DefectRecord]) -> str | None:
        """A short grading note for a frame's defects (None when there is nothing to say)."""
        grade = self.grade(defects) if defects else None
        return join_notes(grade.head, grade.notes) if grade else None

    def observe(self, result: InspectionResult) -> bool:
        """Account ``result`` to its unit; True when it starts a new unit."""
        grade = self.grade(result.defects) if result.verdict is not Verdict.NOT_INSPECTED else None
        with self._lock:
            self.units += 1
            self.unit_verdicts[result.verdict.value] += 1
            if grade is not None:
                self.grades[grade.label] += 1
        return True

    def finish(self) -> None:  # noqa: B027 - optional hook, nothing to close for one-frame units
        """The line stopped: close the unit in progress (textile roll)."""

    def status(self) -> dict[str, Any]:
        """Unit counts for status displays and summaries."""
        with self._lock:
            out: dict[str, Any] = {"units": self.units, "unit_verdicts": dict(self.unit_verdicts)}
            if self.grades:
                out["grades"] = dict(sorted(self.grades.items()))
            return out
