"""Reviews of defects (append-only) and the review queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, bindparam, select, update
from sqlalchemy.orm import Session

from linecheck.serving.store import audit
from linecheck.serving.store.models import Defect, Inspection, Review
from linecheck.serving.store.repositories.base import count_capped, of_units, table_of

_IN_CHUNK = 900
_SelectT = TypeVar("_SelectT", bound=Select[*tuple[Any, ...]])


def get_defect(session: Session, defect_id: int) -> Defect | None:
    """One defect, or None."""
    return session.get(Defect, defect_id)


_REVIEW_ROWS = (
    select(table_of(Review))
    .where(table_of(Review).c.defect_id.in_(bindparam("ids", expanding=True)))
    .order_by(table_of(Review).c.id)
)


def reviews_for_defects(session: Session, defect_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    """Review history of each defect, oldest first (plain rows)."""
    history: dict[int, list[Row[Any]]] = {}
    ids = list(defect_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(_REVIEW_ROWS, {"ids": ids[start : start + _IN_CHUNK]})
        for row in rows:
            history.setdefault(row.defect_id, []).append(row)
    return history


def predecessor_hashes(session: Session, review_ids: Sequence[int]) -> dict[int, str | None]:
    """For each review, the ``hash`` of the review stored right before it (None for the first)."""
    reviews = table_of(Review)
    before = reviews.alias("before")
    previous = (
        select(before.c.hash).where(before.c.id < reviews.c.id).order_by(before.c.id.desc()).limit(1)
    ).scalar_subquery()
    query = select(reviews.c.id, previous).where(reviews.c.id.in_(bindparam("ids", expanding=True)))
    found: dict[int, str | None] = {}
    ids = list(review_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        found.update(
            (row[0], row[1]) for row in session.execute(query, {"ids": ids[start : start + _IN_CHUNK]})
        )
    return found


_DEFECT_STATE = select(
    Defect.id, Defect.class_name, Defect.source, Defect.review_state, Defect.final_class, Defect.final_bbox
).order_by(Defect.id)


def defect_states(session: Session, *, after_id: int, limit: int) -> list[Row[Any]]:
    """A page of defects (id order, after ``after_id``) with the state their rows carry."""
    return list(session.execute(_DEFECT_STATE.where(Defect.id > after_id).limit(limit)))


@dataclass(frozen=True, kw_only=True, slots=True)
class DefectOutcome:
    """A defect's current state after a review: what the defect row is moved to."""

    state: str
    final_class: str
    final_bbox: list[float] | None = None
    final_location: dict[str, Any] | None = None


def add_review(
    session: Session,
    defect: Defect,
    *,
    decision: str,
    new_class: str | None,
    reviewer: str,
    at: datetime,
    comment: str | None,
    bbox: Sequence[float] | None = None,
    outcome: DefectOutcome | None = None,
) -> Review:
    """Append a review and move the defect's current state (the history itself is never changed).

    ``outcome`` is the state the review leads to when the caller worked it out from the history
    (an undo, a corrected box); without it confirm / reject / reclassify map to their state.
    """
    review = Review(
        defect_id=defect.id,
        decision=decision,
        new_class=new_class,
        reviewer=reviewer,
        at=at,
        comment=comment,
        bbox=list(bbox) if bbox is not None else None,
    )
    audit.seal(session, review)
    session.add(review)
    values: dict[str, Any] = {"reviewed_at": at}
    if outcome is not None:
        values.update(
            review_state=outcome.state,
            final_class=outcome.final_class,
            final_bbox=outcome.final_bbox,
            final_location=outcome.final_location,
        )
    else:
        values["review_state"] = {"confirm": "confirmed", "reject": "rejected", "reclassify": "reclassified"}[
            decision
        ]
        if decision == "reclassify" and new_class is not None:
            values["final_class"] = new_class
    session.execute(update(Defect).where(Defect.id == defect.id).values(**values))
    session.flush()
    return review


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueFilter:
    """Filters of the review queue (None: no filter); ``code``: defects of that unit's frames."""

    state: str | None = "pending"
    line_id: str | None = None
    class_name: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    code: str | None = None
    #: (line id, code) of units left out: the lines' challenge parts, whose defects are known.
    exclude_units: tuple[tuple[str, str], ...] = ()


def _queue_query(query: _SelectT, flt: QueueFilter) -> _SelectT:
    if flt.code is not None:
        frames = select(Inspection.id).where(Inspection.code == flt.code)
        query = query.where(Defect.inspection_id.in_(frames))
    if flt.exclude_units:
        known = select(Inspection.id).where(of_units(flt.exclude_units))
        query = query.where(Defect.inspection_id.not_in(known))
    if flt.state is not None:
        query = query.where(Defect.review_state == flt.state)
    if flt.line_id is not None:
        query = query.where(Defect.line_id == flt.line_id)
    if flt.class_name is not None:
        query = query.where(Defect.final_class == flt.class_name)
    if flt.min_confidence is not None:
        query = query.where(Defect.confidence >= flt.min_confidence)
    if flt.max_confidence is not None:
        query = query.where(Defect.confidence <= flt.max_confidence)
    if flt.since is not None:
        query = query.where(Defect.captured_at >= flt.since)
    if flt.until is not None:
        query = query.where(Defect.captured_at < flt.until)
    return query


def review_queue(
    session: Session, flt: QueueFilter, *, limit: int, offset: int, sort: str = "newest"
) -> list[tuple[Defect, Inspection]]:
    """A page of defects with their inspection: newest first, or ``sort="confidence"`` lowest first."""
    query = _queue_query(
        select(Defect, Inspection).join(Inspection, Inspection.id == Defect.inspection_id), flt
    )
    order = (Defect.confidence.asc(), Defect.id.desc()) if sort == "confidence" else (Defect.id.desc(),)
    query = query.order_by(*order).limit(limit).offset(offset)
    return [(row[0], row[1]) for row in session.execute(query)]


def count_queue(session: Session, flt: QueueFilter, *, cap: int) -> int:
    """How many defects match ``flt``, counting no further than ``cap + 1`` (a bounded index scan)."""
    return count_capped(session, _queue_query(select(Defect.id), flt), cap=cap)
