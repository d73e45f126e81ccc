"""The authoritative grade of a unit, from its stored inspections and the reviewed defects.

Defects rejected by a reviewer do not count; reclassified ones count as their new class. The rules
are the line kind's (:meth:`linecheck.kinds.KindSpec.grade_unit`), shared with the line-side
inspector: textile rolls by the four-point system (``accepted`` / ``rejected``), PV modules
``A``/``B``/``C`` (accepted means A), bearing rings ``pass``/``rework``/``reject``/``scrap``
(accepted means pass); plug-in kinds bring their own.
"""

from __future__ import annotations

from linecheck.errors import NotFoundError
from linecheck.kinds import StoredDefect, StoredInspection, get_kind
from linecheck.serving.api.responses import GradeOut
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories import inspections as repo


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
    grade = get_kind(line.kind).grade_unit(
        [StoredInspection(id=i.id, verdict=i.verdict, roll_offset_m=i.roll_offset_m) for i in inspections],
        [
            StoredDefect(class_name=d.final_class, location=d.location, inspection_id=d.inspection_id)
            for d in counted
        ],
        line.options,
    )
    return GradeOut(
        code=code,
        kind=line.kind,
        line_id=line.id,
        grade=grade.label,
        accepted=grade.accepted,
        detail=dict(grade.detail),
        facts=list(grade.facts),
        defects_counted=len(counted),
        defects_excluded=len(defects) - len(counted),
        inspections=len(inspections),
        not_inspected=sum(i.verdict == "not_inspected" for i in inspections),
    )
