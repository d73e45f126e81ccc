"""The authoritative grade of a unit, from its stored inspections and the reviewed defects.

Defects rejected by a reviewer do not count; reclassified ones count as their new class, moved
boxes at their corrected place, missed defects a reviewer drew count too. The rules are the line
kind's (:meth:`linecheck.kinds.KindSpec.grade_unit`), shared with the line-side inspector: textile
rolls by the four-point system (``accepted`` / ``rejected``), PV modules ``A``/``B``/``C``
(accepted means A), bearing rings ``pass``/``rework``/``reject``/``scrap`` (accepted means pass);
plug-in kinds bring their own. The grade, the trace and the line statistics all come from
:func:`linecheck.serving.api.services.verdicts.unit_verdict`.
"""

from __future__ import annotations

from collections.abc import Sequence

from linecheck.errors import NotFoundError
from linecheck.serving.api.responses import GradeOut, GradeTableOut, UnitHoldOut
from linecheck.serving.api.services.holds import unit_holds
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.verdicts import STATUS_TEXT, UnitVerdict, verdicts_for_codes
from linecheck.serving.store.db import Database


def grade_out(verdict: UnitVerdict, holds: Sequence[UnitHoldOut] = ()) -> GradeOut:
    """The API's view of a unit verdict, with the holds the unit is in (:mod:`.holds`)."""
    grade = verdict.grade
    table = grade.table
    return GradeOut(
        code=verdict.code,
        kind=verdict.kind,
        line_id=verdict.line_id,
        product=verdict.product,
        grade=grade.label,
        accepted=verdict.accepted,
        status=verdict.status,
        status_text=STATUS_TEXT[verdict.status],
        inspected_grade=verdict.inspected_grade.label,
        inspected_accepted=verdict.inspected_grade.accepted,
        detail=dict(grade.detail),
        facts=list(grade.facts),
        table=(
            GradeTableOut(title=table.title, columns=list(table.columns), rows=[list(r) for r in table.rows])
            if table is not None
            else None
        ),
        defects_counted=verdict.defects_counted,
        defects_excluded=verdict.defects_excluded,
        defects_pending=verdict.defects_pending,
        defects_added=verdict.defects_added,
        inspections=verdict.frames,
        not_inspected=verdict.frames_not_inspected,
        frames_failed=verdict.frames_failed,
        reworked_at=verdict.reworked_at,
        frames_superseded=verdict.frames_superseded,
        holds=list(holds),
        may_ship=verdict.accepted and not any(h.state == "held" for h in holds),
    )


def grade_unit(db: Database, lines: LineRegistry, code: str) -> GradeOut:
    """Grade the unit ``code`` from everything stored about it."""
    with db.reader() as session:
        verdict = verdicts_for_codes(session, lines, [code]).get(code)
        if verdict is None:
            raise NotFoundError(f"code={code!r} has no unit (it was never inspected)")
        return grade_out(verdict, unit_holds(session, lines, code))
