"""The authoritative grade of a unit, from its stored inspections and the reviewed defects.

Defects rejected by a reviewer do not count; reclassified ones count as their new class. The
rules are those of :mod:`linecheck.grading` (shared with the line-side inspector):

* textile: length inspected = max(``roll_offset_m`` + ``textile.frame_length_m``) over inspected
  frames, or (frames without offsets) their number x ``frame_length_m``; width =
  ``textile.roll_width_m``; limit = ``textile.acceptance_points_per_100yd2``. Grade ``accepted``
  or ``rejected``.
* pv: grade ``A``/``B``/``C`` from the line's ``pv`` class lists; ``accepted`` means A.
* bearing: ``pass``/``rework``/``reject``/``scrap``; ``accepted`` means pass.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from linecheck.config import LineConfig
from linecheck.errors import NotFoundError
from linecheck.grading import (
    BearingDefect,
    CellDefect,
    PVRules,
    TextileDefect,
    bearing_verdict,
    pv_grade,
    textile_grade,
)
from linecheck.kinds import Kind
from linecheck.serving.api.responses import GradeOut
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Defect, Inspection
from linecheck.serving.store.repositories import inspections as repo


def _textile(
    line: LineConfig, inspections: list[Inspection], defects: list[Defect]
) -> tuple[str, bool, dict[str, Any]]:
    frame = line.textile.frame_length_m
    inspected = [i for i in inspections if i.verdict != "not_inspected"]
    offsets = [i.roll_offset_m for i in inspected if i.roll_offset_m is not None]
    length = max(o + frame for o in offsets) if offsets else len(inspected) * frame
    if length <= 0:
        return "not_graded", False, {"reason": "no inspected frames"}
    offset_of = {i.id: i.roll_offset_m for i in inspections}
    placed: list[TextileDefect] = []
    unlocated = 0
    for d in defects:
        along = d.along_m if d.along_m is not None else offset_of.get(d.inspection_id)
        if along is None:
            unlocated += 1
            continue
        placed.append(TextileDefect(class_name=d.final_class, along_m=along, size_m=d.size_m or 0.0))
    grade = textile_grade(
        placed,
        inspected_length_m=length,
        cuttable_width_m=line.textile.roll_width_m,
        acceptance=line.textile.acceptance_points_per_100yd2,
    )
    detail = asdict(grade) | {
        "inspected_length_m": length,
        "length_rule": "max(roll_offset_m + frame_length_m)" if offsets else "frames x frame_length_m",
        "defects_unlocated": unlocated,
    }
    return ("accepted" if grade.accepted else "rejected"), grade.accepted, detail


def _pv(line: LineConfig, defects: list[Defect]) -> tuple[str, bool, dict[str, Any]]:
    cells = [
        CellDefect(class_name=d.final_class, row=d.cell_row, col=d.cell_col)
        for d in defects
        if d.cell_row is not None and d.cell_col is not None
    ]
    rules = PVRules(
        b_classes=frozenset(line.pv.b_grade_classes), c_classes=frozenset(line.pv.c_grade_classes)
    )
    grade = pv_grade(cells, rows=line.pv.rows, cols=line.pv.cols, rules=rules)
    detail = asdict(grade) | {
        "rules": {"b_classes": sorted(rules.b_classes), "c_classes": sorted(rules.c_classes)},
        "defects_unlocated": len(defects) - len(cells),
    }
    return grade.grade, grade.grade == "A", detail


def _bearing(defects: list[Defect]) -> tuple[str, bool, dict[str, Any]]:
    zoned = [
        BearingDefect(class_name=d.final_class, zone=d.zone, length_m=d.size_m)  # type: ignore[arg-type]
        for d in defects
        if d.zone is not None
    ]
    verdict = bearing_verdict(zoned)
    return (
        verdict.verdict,
        verdict.verdict == "pass",
        asdict(verdict) | {"defects_unlocated": len(defects) - len(zoned)},
    )


def grade_unit(db: Database, lines: LineRegistry, code: str) -> GradeOut:
    """Grade the unit ``code`` from everything stored about it."""
    with db.reader() as session:
        unit = repo.get_unit(session, code)
        if unit is None:
            raise NotFoundError(f"code={code!r} has no unit (it was never inspected)")
        inspections = repo.inspections_for_codes(session, [code])
        defects = repo.defects_for_inspections(session, [i.id for i in inspections])
    line = lines.require(unit.line_id)
    counted = [d for d in defects if d.review_state != "rejected"]
    if line.kind is Kind.TEXTILE:
        grade, accepted, detail = _textile(line, inspections, counted)
    elif line.kind is Kind.PV:
        grade, accepted, detail = _pv(line, counted)
    else:
        grade, accepted, detail = _bearing(counted)
    return GradeOut(
        code=code,
        kind=line.kind.value,
        line_id=line.id,
        grade=grade,
        accepted=accepted,
        detail=detail,
        defects_counted=len(counted),
        defects_excluded=len(defects) - len(counted),
        inspections=len(inspections),
        not_inspected=sum(i.verdict == "not_inspected" for i in inspections),
    )
