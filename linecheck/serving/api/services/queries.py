"""Read-side services: inspections with their defects and review history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from linecheck.errors import NotFoundError
from linecheck.serving.api.responses import (
    AuditOut,
    DefectOut,
    InspectionOut,
    InspectionPageOut,
    PassAuditOut,
)
from linecheck.serving.api.services.audit import unit_audit
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.products import check_product_filter
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Inspection
from linecheck.serving.store.repositories import audits as audit_repo
from linecheck.serving.store.repositories import inspections as repo
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.repositories.actors import actor_names

#: Listings count matches up to this many (then report the cap and ``total_exact: false``).
COUNT_CAP = 10_000


def latest_audits_out(session: Session, inspections: Sequence[Inspection]) -> dict[str, PassAuditOut]:
    """The newest audit of each frame kept for audit among ``inspections`` (no query when none was kept)."""
    kept = [i.id for i in inspections if i.kept_for_audit]
    if not kept:
        return {}
    rows = audit_repo.latest_audits(session, kept)
    names = actor_names(session, {r.actor for r in rows.values()})
    return {inspection_id: PassAuditOut.of(row, names) for inspection_id, row in rows.items()}


def inspections_out(
    session: Session, rows: Sequence[Inspection], *, with_defects: bool
) -> list[InspectionOut]:
    """Inspections as responses (a frame kept for audit with its audit), with defects and reviews if asked."""
    if not with_defects:
        audits = latest_audits_out(session, rows)
        return [InspectionOut.of(row, latest_audit=audits.get(row.id)) for row in rows]
    return _with_defects(session, rows)[0]


def audited_inspections(session: Session, rows: Sequence[Inspection]) -> tuple[list[InspectionOut], AuditOut]:
    """Inspections with defects and reviews, and the audit of those reviews (one query more)."""
    out, defects, history = _with_defects(session, rows)
    return out, unit_audit(session, defects, history)


def _with_defects(
    session: Session, rows: Sequence[Inspection]
) -> tuple[list[InspectionOut], list[Row[Any]], dict[int, list[Row[Any]]]]:
    defects = repo.defect_rows_for_inspections(session, [row.id for row in rows])
    history = review_repo.reviews_for_defects(session, [d.id for d in defects])
    names = actor_names(session, {r.reviewer for rows in history.values() for r in rows})
    by_inspection: dict[str, list[DefectOut]] = {}
    for defect in defects:
        by_inspection.setdefault(defect.inspection_id, []).append(
            DefectOut.of(defect, history.get(defect.id), names)
        )
    audits = latest_audits_out(session, rows)
    out = [InspectionOut.of(row, by_inspection.get(row.id), audits.get(row.id)) for row in rows]
    return out, list(defects), history


def list_inspections(
    db: Database, lines: LineRegistry, flt: repo.InspectionFilter, *, limit: int, offset: int
) -> InspectionPageOut:
    """A page of inspections (without defects) and the total count; a product filter must be a product."""
    check_product_filter(lines, flt.product, flt.line_id)
    with db.reader() as session:
        rows = repo.list_inspections(session, flt, limit=limit, offset=offset)
        total = repo.count_inspections(session, flt, cap=COUNT_CAP)
        return InspectionPageOut(
            items=inspections_out(session, rows, with_defects=False),
            total=min(total, COUNT_CAP),
            total_exact=total <= COUNT_CAP,
            limit=limit,
            offset=offset,
        )


def get_inspection(db: Database, inspection_id: str) -> InspectionOut:
    """One inspection with defects and reviews, or :class:`NotFoundError`."""
    with db.reader() as session:
        row = repo.get_inspection(session, inspection_id)
        if row is None:
            raise NotFoundError(f"inspection id={inspection_id!r} does not exist")
        return inspections_out(session, [row], with_defects=True)[0]
