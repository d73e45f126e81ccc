"""The inspector's per-line unit logic: defect locations and grades from the kind's spec, unit accounting."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linecheck.config import LineConfig
from linecheck.inspect.messages import CodedFrame, DefectRecord, InspectionResult, Location
from linecheck.kinds import FrameView, Grade, get_kind
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


class KindLogic:
    """Per-line logic used by the judge stage (one instance per line, one thread).

    Every frame is one unit (a bearing ring, a PV module), whose verdict is the frame's and whose
    grade is the kind's grade of the frame's defects; :class:`~linecheck.inspect.kinds.web.WebLogic`
    accounts web kinds (a roll of many frames).
    """

    def __init__(self, line: LineConfig) -> None:
        self.line = line
        self.spec = get_kind(line.kind)
        self.options = line.options
        self._camera_index = {c.station: i for i, c in enumerate(line.cameras)}
        self._lock = threading.Lock()
        self.units = 0
        self.unit_verdicts: Counter[str] = Counter()
        self.grades: Counter[str] = Counter()

    def view(self, coded: CodedFrame) -> FrameView:
        """What the kind needs of the frame to place boxes on the product."""
        frame = coded.frame
        return FrameView(
            width=frame.width,
            height=frame.height,
            camera_index=self._camera_index.get(frame.station, 0),
            along_m=self.roll_offset_m(coded),
            geometry=coded.geometry.value if coded.geometry else None,
        )

    def locate(self, box: Box, coded: CodedFrame) -> Location:
        """Where on the product the defect in ``box`` is (auto-geometry lines: and with which geometry).

        The frame's config (``coded.line``: its product's, on a line with products) places it.
        """
        location = self.spec.locate(box, self.view(coded), coded.line.options)
        return location if coded.geometry is None else {**location, "geometry": coded.geometry.source}

    def geometry_json(self, coded: CodedFrame) -> dict[str, Any] | None:
        """The geometry found in the frame as sent with its inspection.

        None when the line YAML's was used, or when the kind (a plug-in) finds a geometry but
        cannot write it as JSON: the API then places corrected boxes with the YAML's.
        """
        found = coded.geometry
        if found is None or found.source != "found":
            return None
        try:
            return self.spec.geometry_to_json(found.value)
        except NotImplementedError:
            return None

    def roll_offset_m(self, coded: CodedFrame) -> float | None:
        """Web kinds: where along the web the frame starts; None for frame kinds."""
        return None

    def kind_grade(self, defects: Sequence[DefectRecord], line: LineConfig | None = None) -> Grade:
        """The kind's grade of ``defects`` under ``line`` (a product's config; default the line's own)."""
        return self.spec.grade(defects, (line or self.line).options)

    def grade(self, defects: Sequence[DefectRecord], line: LineConfig | None = None) -> UnitGrade | None:
        """The unit's grade from a frame's defects (None: this kind grades units elsewhere)."""
        grade = self.kind_grade(defects, line)
        return UnitGrade(label=grade.label, head=grade.head, notes=grade.notes)

    def reason(self, defects: Sequence[DefectRecord], line: LineConfig | None = None) -> str | None:
        """A short grading note for a frame's defects (None when there is nothing to say)."""
        grade = self.grade(defects, line) if defects else None
        return join_notes(grade.head, grade.notes) if grade else None

    def observe(self, result: InspectionResult) -> bool:
        """Account ``result`` to its unit; True when it starts a new unit."""
        line = self.line.for_product(result.product)
        grade = self.grade(result.defects, line) if result.verdict is not Verdict.NOT_INSPECTED else None
        with self._lock:
            self.units += 1
            self.unit_verdicts[result.verdict.value] += 1
            if grade is not None:
                self.grades[grade.label] += 1
        return True

    def finish(self) -> None:
        """The line stopped: close the unit in progress (textile roll)."""

    def status(self) -> dict[str, Any]:
        """Unit counts for status displays and summaries."""
        with self._lock:
            out: dict[str, Any] = {"units": self.units, "unit_verdicts": dict(self.unit_verdicts)}
            if self.grades:
                out["grades"] = dict(sorted(self.grades.items()))
            return out
