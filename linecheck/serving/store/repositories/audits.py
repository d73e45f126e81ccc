"""Pass audits (append-only), the audit queue of the frames kept for audit, and a line's audit counts.

A frame is kept for audit as a pass-audit sample (``audit_sample``), a near miss
(``audit_borderline``), or both. An inspection's audit is its newest ``audits`` row (by id). Every
query here carries the predicate text of the queue's partial index (``models.AUDIT_KEPT``), so that
SQLite and PostgreSQL both use it, and narrows it to one reason when asked: the escape rate reads
the samples only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Row, Select, bindparam, case, exists, func, not_, select, text
from sqlalchemy.orm import Session

from linecheck.serving.store.models import AUDIT_KEPT, Audit, Defect, Inspection
from linecheck.serving.store.repositories.base import (
    count_capped,
    newest_inspections_first,
    of_units,
    table_of,
)

_IN_CHUNK = 900
_SelectT = TypeVar("_SelectT", bound=Select[*tuple[Any, ...]])

#: Why a frame was kept for audit (``_REASON_FLAG``: the column that marks it).
AuditReason = Literal["sample", "borderline"]
_REASON_FLAG: dict[str, str] = {"sample": "audit_sample", "borderline": "audit_borderline"}


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditFilter:
    """Which frames kept for audit (None: no filter); ``state``: ``pending`` (no audit yet), ``audited``.

    ``reason``: ``sample`` (the pass-audit samples), ``borderline`` (the near misses) or None (either);
    a frame with both flags is found by each.
    """

    state: str | None = "pending"
    reason: AuditReason | None = None
    line_id: str | None = None
    product: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: (line id, code) of units left out: the lines' challenge parts.
    exclude_units: tuple[tuple[str, str], ...] = ()


def _kept(query: _SelectT, flt: AuditFilter) -> _SelectT:
    """``query`` narrowed to the frames kept for audit ``flt`` asks for (the audit state apart)."""
    query = query.where(text(f"({AUDIT_KEPT})"))
    if flt.reason is not None:
        query = query.where(text(_REASON_FLAG[flt.reason]))
    if flt.line_id is not None:
        query = query.where(Inspection.line_id == flt.line_id)
    if flt.product is not None:
        query = query.where(Inspection.product == flt.product)
    if flt.since is not None:
        query = query.where(Inspection.captured_at >= flt.since)
    if flt.until is not None:
        query = query.where(Inspection.captured_at < flt.until)
    if flt.exclude_units:
        query = query.where(not_(of_units(flt.exclude_units)))  # a frame kept for audit always has a code
    return query


def _filtered(query: _SelectT, flt: AuditFilter) -> _SelectT:
    query = _kept(query, flt)
    audited = exists().where(Audit.inspection_id == Inspection.id)
    if flt.state == "pending":
        query = query.where(~audited)
    elif flt.state == "audited":
        query = query.where(audited)
    return query


def audit_queue(session: Session, flt: AuditFilter, *, limit: int, offset: int) -> list[Inspection]:
    """A page of the frames kept for audit, newest first."""
    return newest_inspections_first(session, _filtered(select(Inspection), flt), limit=limit, offset=offset)


def count_audit_queue(session: Session, flt: AuditFilter, *, cap: int) -> int:
    """How many frames kept for audit match ``flt``, counting no further than ``cap + 1``."""
    return count_capped(session, _filtered(select(Inspection.id), flt), cap=cap)


def add_audit(
    session: Session, *, inspection_id: str, outcome: str, actor: str, comment: str | None, at: datetime
) -> Audit:
    """Append an audit of an inspection (earlier ones stay; the newest is the inspection's audit)."""
    audit = Audit(inspection_id=inspection_id, outcome=outcome, actor=actor, comment=comment, created_at=at)
    session.add(audit)
    session.flush()
    return audit


_AUDITS = table_of(Audit)
_LATEST_ROWS = select(_AUDITS).where(
    _AUDITS.c.id.in_(
        select(func.max(_AUDITS.c.id))
        .where(_AUDITS.c.inspection_id.in_(bindparam("ids", expanding=True)))
        .group_by(_AUDITS.c.inspection_id)
    )
)


def latest_audits(session: Session, inspection_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """The newest audit of each of these inspections that has one (plain rows)."""
    found: dict[str, Row[Any]] = {}
    ids = list(dict.fromkeys(inspection_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        for row in session.execute(_LATEST_ROWS, {"ids": ids[start : start + _IN_CHUNK]}):
            found[row.inspection_id] = row
    return found


def audits_of(session: Session, inspection_ids: Sequence[str]) -> list[Row[Any]]:
    """Every audit of these inspections, oldest first (plain rows)."""
    found: list[Row[Any]] = []
    ids = list(dict.fromkeys(inspection_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        query = select(_AUDITS).where(_AUDITS.c.inspection_id.in_(ids[start : start + _IN_CHUNK]))
        found += session.execute(query).all()
    return sorted(found, key=lambda row: row.id)


def _latest_id() -> Any:
    """The id of the newest audit of the inspection of the enclosing query."""
    newest = select(func.max(Audit.id)).where(Audit.inspection_id == Inspection.id)
    return newest.correlate(Inspection).scalar_subquery()


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditCounts:
    """Frames kept for audit in a period, how many of them have an audit, how many audits found an escape."""

    kept: int
    audited: int
    escapes: int


def audit_counts(session: Session, flt: AuditFilter) -> AuditCounts:
    """Counts of the frames kept for audit ``flt`` selects (not its ``state``), by their newest audit."""
    query = _kept(
        select(
            func.count(Inspection.id),
            func.count(Audit.id),
            func.coalesce(func.sum(case((Audit.outcome == "escape", 1), else_=0)), 0),
        )
        .select_from(Inspection)
        .outerjoin(Audit, Audit.id == _latest_id()),
        flt,
    )
    kept, audited, escapes = session.execute(query).one()
    return AuditCounts(kept=int(kept), audited=int(audited), escapes=int(escapes))


def newest_by_outcome(
    session: Session, flt: AuditFilter, outcome: str, *, before: datetime | None = None
) -> Inspection | None:
    """The newest frame ``flt`` selects whose newest audit is ``outcome`` (captured before ``before``)."""
    query = _kept(
        select(Inspection).join(Audit, Audit.id == _latest_id()).where(Audit.outcome == outcome), flt
    )
    if before is not None:
        query = query.where(Inspection.captured_at < before)
    return session.scalars(query.order_by(Inspection.captured_at.desc()).limit(1)).first()


def escape_classes(session: Session, flt: AuditFilter) -> dict[str, int]:
    """Classes of the reviewer-drawn defects (not rejected) on the escapes among the frames of ``flt``."""
    query = _kept(
        select(Defect.final_class, func.count(Defect.id))
        .select_from(Inspection)
        .join(Audit, Audit.id == _latest_id())
        .join(Defect, Defect.inspection_id == Inspection.id)
        .where(Audit.outcome == "escape", Defect.source == "reviewer", Defect.review_state != "rejected")
        .group_by(Defect.final_class),
        flt,
    )
    return {str(name): int(n) for name, n in session.execute(query)}
