"""``/v1/units/{code}``: the unit and its grade."""

from __future__ import annotations

from fastapi import APIRouter

from linecheck.errors import NotFoundError
from linecheck.serving.api.deps import ContextDep, ReaderKeyDep
from linecheck.serving.api.responses import GradeOut, UnitOut
from linecheck.serving.api.schemas import CodePath
from linecheck.serving.api.services.grades import grade_unit
from linecheck.serving.store.repositories.inspections import get_unit

router = APIRouter(prefix="/v1/units", tags=["units"])


@router.get("/{code}", response_model=UnitOut)
def get_unit_route(code: CodePath, _key: ReaderKeyDep, context: ContextDep) -> UnitOut:
    """The unit with this code."""
    with context.db.reader() as session:
        unit = get_unit(session, code)
        if unit is None:
            raise NotFoundError(f"code={code!r} has no unit (it was never inspected)")
        return UnitOut.model_validate(unit)


@router.get("/{code}/grade", response_model=GradeOut)
def get_grade(code: CodePath, _key: ReaderKeyDep, context: ContextDep) -> GradeOut:
    """Textile four-point grade, PV module grade or bearing verdict, from reviewed defects."""
    return grade_unit(context.db, context.lines, code)
