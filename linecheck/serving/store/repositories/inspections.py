"""Units, inspections and their defects: the bulk ingest statements and the read queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, bindparam, func, select, update
from sqlalchemy.orm import Session

from linecheck.kinds.base import LOCATION_COLUMNS
from linecheck.serving.store.models import Defect, Inspection, Unit
from linecheck.serving.store.repositories.base import (
    count_capped,
    insert_for,
    newest_inspections_first,
    table_of,
)

#: SQLite allows 32766 bound parameters per statement; stay well under it for ``IN (...)`` lists.
_IN_CHUNK = 900
_SelectT = TypeVar("_SelectT", bound=Select[*tuple[Any, ...]])


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


_EXISTING_HASHES = select(Inspection.id, Inspection.content_hash).where(
    Inspection.id.in_(bindparam("ids", expanding=True))
)


def existing_hashes(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Content hash of each of ``ids`` already stored."""
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        rows = session.execute(_EXISTING_HASHES, {"ids": list(chunk)})
        found.update({row.id: row.content_hash for row in rows})
    return found


def insert_units(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Create the units that do not exist yet (``code``, ``kind``, ``line_id``, ``created_at``)."""
    if rows:
        session.execute(insert_for(session, table_of(Unit)).on_conflict_do_nothing(), list(rows))


def insert_inspections(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert inspections, skipping ids that exist; return the ids this call inserted."""
    if not rows:
        return set()
    table = table_of(Inspection)
    stmt = insert_for(session, table).on_conflict_do_nothing().returning(table.c.id)
    return set(session.execute(stmt, list(rows)).scalars())


def insert_defects(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert defect rows in one executemany."""
    if rows:
        session.execute(table_of(Defect).insert(), list(rows))


# Read statements of the trace path, built once (expanding IN parameters).
_UNIT = select(Unit).where(Unit.code == bindparam("code"))
_INSPECTIONS_FOR_CODES = select(Inspection).where(Inspection.code.in_(bindparam("ids", expanding=True)))
_DEFECT_ROWS = select(table_of(Defect)).where(
    table_of(Defect).c.inspection_id.in_(bindparam("ids", expanding=True))
)


def get_unit(session: Session, code: str) -> Unit | None:
    """The unit with ``code``, or None."""
    return session.scalars(_UNIT, {"code": code}).first()


def get_inspection(session: Session, inspection_id: str) -> Inspection | None:
    """One inspection, or None."""
    return session.get(Inspection, inspection_id)


def inspections_for_codes(session: Session, codes: Sequence[str]) -> list[Inspection]:
    """Inspections of these codes, in capture order."""
    found: list[Inspection] = []
    for chunk in _chunks(list(codes)):
        found.extend(session.scalars(_INSPECTIONS_FOR_CODES, {"ids": list(chunk)}))
    return sorted(found, key=lambda i: (i.captured_at, i.id))


def product_run(
    session: Session, line_id: str, products: Sequence[str]
) -> tuple[str | None, datetime | None]:
    """The product of the line's newest inspection and when that product's run began.

    The run began with the first inspection of the product after the newest one of any other (of
    ``products``, or none); None when the line never judged another. A few index look-ups on
    ``(line_id, product, captured_at)``, whatever the number of inspections.
    """

    def of(product: str | None) -> Any:
        return Inspection.product.is_(None) if product is None else Inspection.product == product

    newest = session.execute(
        select(Inspection.product)
        .where(Inspection.line_id == line_id)
        .order_by(Inspection.captured_at.desc(), Inspection.id.desc())
        .limit(1)
    ).first()
    if newest is None:
        return None, None
    current = newest.product
    others = [p for p in [None, *products] if p != current]
    ends = [
        session.scalar(select(func.max(Inspection.captured_at)).where(Inspection.line_id == line_id, of(p)))
        for p in others
    ]
    last_other = max((end for end in ends if end is not None), default=None)
    if last_other is None:
        return current, None
    began = session.scalar(
        select(func.min(Inspection.captured_at)).where(
            Inspection.line_id == line_id, of(current), Inspection.captured_at > last_other
        )
    )
    return current, began


def defects_for_inspections(session: Session, inspection_ids: Sequence[str]) -> list[Defect]:
    """Defects of these inspections, by id."""
    found: list[Defect] = []
    for chunk in _chunks(list(inspection_ids)):
        found.extend(session.scalars(select(Defect).where(Defect.inspection_id.in_(chunk))))
    return sorted(found, key=lambda d: d.id)


def defect_rows_for_inspections(session: Session, inspection_ids: Sequence[str]) -> list[Row[Any]]:
    """The same as plain rows (no ORM bookkeeping: the read path of a trace)."""
    found: list[Row[Any]] = []
    for chunk in _chunks(list(inspection_ids)):
        found.extend(session.execute(_DEFECT_ROWS, {"ids": list(chunk)}))
    return sorted(found, key=lambda d: d.id)


@dataclass(frozen=True, kw_only=True, slots=True)
class InspectionFilter:
    """Filters of the inspection listing (None: no filter)."""

    line_id: str | None = None
    code: str | None = None
    code_status: str | None = None
    verdict: str | None = None
    trigger_id: str | None = None
    product: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: _SelectT, flt: InspectionFilter) -> _SelectT:
    if flt.line_id is not None:
        query = query.where(Inspection.line_id == flt.line_id)
    if flt.code is not None:
        query = query.where(Inspection.code == flt.code)
    if flt.code_status == "code_unread":
        # Unread frames keep code_status 'code_unread' even after a code is assigned by hand.
        query = query.where(Inspection.code_status == "code_unread", Inspection.code.is_(None))
    elif flt.code_status is not None:
        query = query.where(Inspection.code_status == flt.code_status)
    if flt.verdict is not None:
        query = query.where(Inspection.verdict == flt.verdict)
    if flt.trigger_id is not None:
        query = query.where(Inspection.trigger_id == flt.trigger_id)
    if flt.product is not None:
        query = query.where(Inspection.product == flt.product)
    if flt.since is not None:
        query = query.where(Inspection.captured_at >= flt.since)
    if flt.until is not None:
        query = query.where(Inspection.captured_at < flt.until)
    return query


def list_inspections(session: Session, flt: InspectionFilter, *, limit: int, offset: int) -> list[Inspection]:
    """A page of inspections, newest first."""
    return newest_inspections_first(session, _filtered(select(Inspection), flt), limit=limit, offset=offset)


def count_inspections(session: Session, flt: InspectionFilter, *, cap: int) -> int:
    """How many inspections match ``flt``, counting no further than ``cap + 1``."""
    return count_capped(session, _filtered(select(Inspection.id), flt), cap=cap)


def add_reviewer_defect(
    session: Session,
    inspection: Inspection,
    *,
    class_name: str,
    box: tuple[float, float, float, float],
    location: Mapping[str, Any] | None,
    columns: Mapping[str, Any],
    actor: str,
) -> Defect:
    """Insert a defect a reviewer drew on ``inspection`` (confidence 1: a person saw it)."""
    x1, y1, x2, y2 = box
    defect = Defect(
        inspection_id=inspection.id,
        line_id=inspection.line_id,
        captured_at=inspection.captured_at,
        class_name=class_name,
        final_class=class_name,
        confidence=1.0,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        location=dict(location) if location is not None else None,
        review_state="confirmed",
        source="reviewer",
        created_by=actor,
        **{name: columns.get(name) for name in LOCATION_COLUMNS},
    )
    session.add(defect)
    session.execute(
        update(Inspection)
        .where(Inspection.id == inspection.id)
        .values(defect_count=Inspection.defect_count + 1)
    )
    session.flush()
    return defect


def assign_code(session: Session, inspection_id: str, code: str, *, actor: str, at: datetime) -> bool:
    """Set the code of an unread inspection; False when it already has one."""
    result = session.execute(
        update(Inspection)
        .where(Inspection.id == inspection_id, Inspection.code.is_(None))
        .values(code=code, code_assigned_by=actor, code_assigned_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
