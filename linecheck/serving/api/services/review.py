"""QA review: the queue, decisions on defects (history kept), codes typed in for unread frames."""

from __future__ import annotations

from dataclasses import replace

from linecheck.errors import ConflictError, NotFoundError
from linecheck.kinds import check_code
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.responses import DefectOut, QueueItemOut, QueueOut
from linecheck.serving.api.schemas import ReviewIn
from linecheck.serving.api.services.corrections import Step, decide
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.queries import COUNT_CAP
from linecheck.serving.api.services.verification import challenge_units
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.repositories.actors import actor_names


def review_queue(
    db: Database,
    flt: review_repo.QueueFilter,
    *,
    limit: int,
    offset: int,
    sort: str = "newest",
    lines: LineRegistry | None = None,
) -> QueueOut:
    """A page of the queue (newest first, or lowest confidence first), its total and unread frames.

    With ``lines``, the lines' challenge parts (``verification:``) are left out unless ``flt.code``
    asks for one: their defects are known, and the verification judges them, not a reviewer.
    """
    if lines is not None and flt.code is None:
        flt = replace(flt, exclude_units=challenge_units(lines, flt.line_id))
    with db.reader() as session:
        rows = review_repo.review_queue(session, flt, limit=limit, offset=offset, sort=sort)
        total = review_repo.count_queue(session, flt, cap=COUNT_CAP)
        unread = inspection_repo.count_inspections(
            session,
            inspection_repo.InspectionFilter(line_id=flt.line_id, code_status="code_unread"),
            cap=COUNT_CAP,
        )
        history = review_repo.reviews_for_defects(session, [d.id for d, _ in rows])
        names = actor_names(session, {r.reviewer for found in history.values() for r in found})
        items = [
            QueueItemOut(
                defect=DefectOut.of(defect, history.get(defect.id), names),
                code=inspection.code,
                line_id=inspection.line_id,
                station=inspection.station,
                captured_at=inspection.captured_at,
                image_ref=inspection.image_ref,
                image_expired_at=inspection.image_expired_at,
                image_width=inspection.image_width,
                image_height=inspection.image_height,
                model_name=inspection.model_name,
                model_version=inspection.model_version,
                trigger_id=inspection.trigger_id,
                encoder_count=inspection.encoder_count,
                product=inspection.product,
            )
            for defect, inspection in rows
        ]
    return QueueOut(
        items=items,
        total=min(total, COUNT_CAP),
        total_exact=total <= COUNT_CAP,
        limit=limit,
        offset=offset,
        unread_inspections=min(unread, COUNT_CAP),
    )


def get_defect(db: Database, defect_id: int) -> DefectOut:
    """One defect with its review history."""
    with db.reader() as session:
        defect = review_repo.get_defect(session, defect_id)
        if defect is None:
            raise NotFoundError(f"defect id={defect_id} does not exist")
        history = review_repo.reviews_for_defects(session, [defect_id])
        names = actor_names(session, {r.reviewer for r in history.get(defect_id, [])})
        return DefectOut.of(defect, history.get(defect_id), names)


def review_defect(
    db: Database, lines: LineRegistry, defect_id: int, body: ReviewIn, key: KeyInfo
) -> DefectOut:
    """Append a decision to a defect's history; reclassify needs a class of the defect's line.

    A ``bbox`` (confirm / reclassify) moves or resizes the box: see
    :mod:`linecheck.serving.api.services.corrections`.
    """
    step = Step(decision=body.decision, new_class=body.new_class, bbox=body.bbox)
    return decide(db, lines, defect_id, step, comment=body.comment, key=key)


def assign_code(db: Database, lines: LineRegistry, inspection_id: str, code: str, key: KeyInfo) -> None:
    """Give a ``code_unread`` frame the code read by a person (its unit is created if new)."""
    with db.writer() as session:
        inspection = inspection_repo.get_inspection(session, inspection_id)
        if inspection is None:
            raise NotFoundError(f"inspection id={inspection_id!r} does not exist")
        if inspection.code is not None:
            raise ConflictError(f"inspection id={inspection_id!r} already has code {inspection.code!r}")
        require_line(key, inspection.line_id, field="inspection.line_id")
        line = lines.require(inspection.line_id)
        check_code(code, line.code_pattern)
        owner = inspection_repo.get_unit(session, code)
        if owner is not None:  # the frame joins an existing unit: its line must be in the key's scope too
            require_line(key, owner.line_id, field="code")
        now = utcnow()
        inspection_repo.insert_units(
            session, [{"code": code, "kind": line.kind, "line_id": line.id, "created_at": now}]
        )
        inspection_repo.assign_code(session, inspection_id, code, actor=key.actor, at=now)
        session.commit()
