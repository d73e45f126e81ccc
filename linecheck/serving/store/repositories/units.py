"""What a unit's verdict is computed from: its inspections and defects, for many codes at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import Defect, Inspection, ProcessEvent, Unit
from linecheck.serving.store.repositories.base import table_of

_IN_CHUNK = 900

_INSPECTIONS = select(
    Inspection.id,
    Inspection.code,
    Inspection.line_id,
    Inspection.verdict,
    Inspection.roll_offset_m,
    Inspection.captured_at,
    Inspection.product,
).where(Inspection.code.in_(bindparam("codes", expanding=True)))
_DEFECTS = select(
    table_of(Defect).c.id,
    table_of(Defect).c.inspection_id,
    table_of(Defect).c.class_name,
    table_of(Defect).c.final_class,
    table_of(Defect).c.review_state,
    table_of(Defect).c.location,
    table_of(Defect).c.final_location,
    table_of(Defect).c.final_bbox,
    table_of(Defect).c.source,
).where(table_of(Defect).c.inspection_id.in_(bindparam("ids", expanding=True)))


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitFacts:
    """Stored inspections and defects of some units (plain rows, no ORM bookkeeping)."""

    units: dict[str, str]
    """code -> line id, for the codes that are units."""
    inspections: list[Row[Any]]
    defects: list[Row[Any]]
    reworked: dict[str, datetime]
    """code -> when it was last reworked (its newest ``reworked`` process event), for codes that were."""


_REWORKED = (
    select(ProcessEvent.code, func.max(ProcessEvent.at))
    .where(ProcessEvent.code.in_(bindparam("codes", expanding=True)), ProcessEvent.type == "reworked")
    .group_by(ProcessEvent.code)
)


def unit_facts(session: Session, codes: Sequence[str]) -> UnitFacts:
    """Units, inspections, defects and reworks of ``codes`` (four chunked, indexed queries)."""
    unique = sorted(set(codes))
    units: dict[str, str] = {}
    inspections: list[Row[Any]] = []
    reworked: dict[str, datetime] = {}
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start : start + _IN_CHUNK]
        rows = session.execute(select(Unit.code, Unit.line_id).where(Unit.code.in_(chunk)))
        units.update((row.code, row.line_id) for row in rows)
        inspections.extend(session.execute(_INSPECTIONS, {"codes": chunk}))
        reworked.update((code, at) for code, at in session.execute(_REWORKED, {"codes": chunk}))
    ids = [row.id for row in inspections]
    defects: list[Row[Any]] = []
    for start in range(0, len(ids), _IN_CHUNK):
        defects.extend(session.execute(_DEFECTS, {"ids": ids[start : start + _IN_CHUNK]}))
    return UnitFacts(units=units, inspections=inspections, defects=defects, reworked=reworked)


def codes_in_window(
    session: Session,
    line_id: str,
    start: datetime,
    end: datetime,
    *,
    exclude: Sequence[str] = (),
    product: str | None = None,
) -> list[str]:
    """Codes of ``line_id`` with an inspection captured in [start, end), but those in ``exclude``.

    ``product``: only codes with an inspection judged as that product in the window.
    """
    query = (
        select(Inspection.code)
        .where(
            Inspection.line_id == line_id,
            Inspection.captured_at >= start,
            Inspection.captured_at < end,
            Inspection.code.is_not(None),
            *((Inspection.code.not_in(list(exclude)),) if exclude else ()),
            *((Inspection.product == product,) if product is not None else ()),
        )
        .distinct()
    )
    return [str(code) for code in session.scalars(query)]


def recent_units(session: Session, line_id: str, *, limit: int) -> list[tuple[str, datetime]]:
    """The ``limit`` codes of ``line_id`` inspected last, newest first, with their last capture time.

    Only the line's newest ``limit x 50`` frames are looked at (an index range, whatever the table
    size); a roll of more frames than that still shows, with fewer rolls before it.
    """
    newest = (
        select(Inspection.code, Inspection.captured_at)
        .where(Inspection.line_id == line_id, Inspection.code.is_not(None))
        .order_by(Inspection.captured_at.desc())
        .limit(limit * 50)
        .subquery()
    )
    last = func.max(newest.c.captured_at).label("last_at")
    query = (
        select(newest.c.code, last)
        .group_by(newest.c.code)
        .order_by(last.desc(), newest.c.code.desc())
        .limit(limit)
    )
    return [(str(row.code), row.last_at) for row in session.execute(query)]
