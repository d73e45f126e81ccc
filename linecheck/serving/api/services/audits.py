"""Pass audits: a person checks the passed frames kept for audit, and the escape rate is measured.

The inspector keeps the frame of a passed unit in the line's ``audit.pass_sample`` and marks the
inspection ``audit_sample``; it keeps a passed frame whose best detection came within the line's
``audit.borderline`` of its threshold as a near miss, ``audit_borderline`` (:mod:`linecheck.audit`;
a frame may be both). A reviewer audits each such frame alike:

* ``ok``: nothing was missed; refused while a reviewer-drawn defect (not rejected) is on the frame;
* ``escape``: the model missed a defect; the reviewer first draws it on the frame
  (``POST /v1/inspections/{id}/defects``: it counts in the unit's grade and as a label), so an
  escape is refused while no drawn defect (not rejected) is on the frame.

Audits are only ever added; an inspection's newest audit is its audit (a re-audit replaces the
outcome, the earlier rows stay). A line's escape rate (:func:`line_escape_rate`) is escapes / audited
over the samples of a period, with its 95 % Wilson interval (:func:`linecheck.audit.escape_rate`).
Near misses are chosen by the model's own scores, so they never enter it: they are counted apart
(a frame with both flags counts in the rate as a sample, and among the near misses too).
The lines' challenge parts (``verification:``) are left out everywhere: they are not production.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from linecheck.audit import escape_rate
from linecheck.errors import NotFoundError, StateConflictError
from linecheck.serving.api.audit_responses import (
    AuditQueueItemOut,
    AuditQueueOut,
    EscapeRateOut,
    LastEscapeOut,
    NearMissCountsOut,
)
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.responses import DefectOut, PassAuditOut
from linecheck.serving.api.schemas import AuditIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.products import check_product_filter
from linecheck.serving.api.services.queries import COUNT_CAP, latest_audits_out
from linecheck.serving.api.services.stats import check_period
from linecheck.serving.api.services.verification import challenge_units
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import Inspection, utcnow
from linecheck.serving.store.repositories import audits as repo
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.repositories.actors import actor_names

DRAW_FIRST = "POST /v1/inspections/{id}/defects"


def drawn_defects(session: Session, inspection_ids: list[str]) -> dict[str, list[DefectOut]]:
    """The reviewer-drawn defects of each inspection, with their review history (as replayed)."""
    defects = [
        d
        for d in inspection_repo.defect_rows_for_inspections(session, inspection_ids)
        if d.source == "reviewer"
    ]
    history = review_repo.reviews_for_defects(session, [d.id for d in defects])
    names = actor_names(session, {r.reviewer for rows in history.values() for r in rows})
    found: dict[str, list[DefectOut]] = {}
    for defect in defects:
        found.setdefault(defect.inspection_id, []).append(DefectOut.of(defect, history.get(defect.id), names))
    return found


def audit_queue(
    db: Database, lines: LineRegistry, flt: repo.AuditFilter, *, limit: int, offset: int
) -> AuditQueueOut:
    """A page of the frames kept for audit (default: not audited yet), newest first, challenge parts out."""
    check_product_filter(lines, flt.product, flt.line_id)
    flt = replace(flt, exclude_units=challenge_units(lines, flt.line_id))
    with db.reader() as session:
        rows = repo.audit_queue(session, flt, limit=limit, offset=offset)
        total = repo.count_audit_queue(session, flt, cap=COUNT_CAP)
        drawn = drawn_defects(session, [row.id for row in rows])
        audits = latest_audits_out(session, rows)
        items = [
            AuditQueueItemOut(
                inspection_id=row.id,
                line_id=row.line_id,
                station=row.station,
                code=row.code,
                product=row.product,
                audit_sample=row.audit_sample,
                audit_borderline=row.audit_borderline,
                captured_at=row.captured_at,
                image_ref=row.image_ref,
                image_expired_at=row.image_expired_at,
                image_width=row.image_width,
                image_height=row.image_height,
                model_name=row.model_name,
                model_version=row.model_version,
                drawn_defects=drawn.get(row.id, []),
                audit=audits.get(row.id),
            )
            for row in rows
        ]
    return AuditQueueOut(
        items=items, total=min(total, COUNT_CAP), total_exact=total <= COUNT_CAP, limit=limit, offset=offset
    )


def _check_outcome(inspection: Inspection, outcome: str, drawn: list[DefectOut]) -> None:
    """Refuse an outcome the frame contradicts, naming the field and value and what to do first."""
    if not inspection.kept_for_audit:
        raise StateConflictError(
            "audit_sample",
            False,
            f"inspection {inspection.id} was not kept for audit (audit_sample and audit_borderline are "
            "false): only passed frames the inspector kept for audit (the line's audit.pass_sample, or a "
            "near miss within its audit.borderline) are audited",
        )
    kept = [d for d in drawn if d.review_state != "rejected"]
    if outcome == "escape" and not kept:
        raise StateConflictError(
            "outcome",
            outcome,
            f"no defect is drawn on inspection {inspection.id}: draw the missed defect first "
            f"({DRAW_FIRST.format(id=inspection.id)}), then record the escape",
        )
    if outcome == "ok" and kept:
        found = ", ".join(f"#{d.id} {d.final_class}" for d in kept)
        raise StateConflictError(
            "outcome",
            outcome,
            f"a reviewer drew a missed defect on inspection {inspection.id} ({found}): record an escape, "
            "or reject the drawn defect first",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedAudit:
    """An audit just stored, and the line of its frame (what the metrics count it by)."""

    audit: PassAuditOut
    line_id: str


def record_audit(db: Database, inspection_id: str, body: AuditIn, key: KeyInfo) -> RecordedAudit:
    """Append an audit of a frame kept for audit (the module's rules); the frame's line must be the key's."""
    with db.writer() as session:
        inspection = inspection_repo.get_inspection(session, inspection_id)
        if inspection is None:
            raise NotFoundError(f"inspection id={inspection_id!r} does not exist")
        require_line(key, inspection.line_id, field="inspection.line_id")
        _check_outcome(
            inspection, body.outcome, drawn_defects(session, [inspection.id]).get(inspection.id, [])
        )
        audit = repo.add_audit(
            session,
            inspection_id=inspection.id,
            outcome=body.outcome,
            actor=key.actor,
            comment=body.comment,
            at=utcnow(),
        )
        session.commit()
        out = PassAuditOut.of(audit, actor_names(session, [audit.actor]))
        return RecordedAudit(audit=out, line_id=inspection.line_id)


def line_escape_rate(
    db: Database,
    lines: LineRegistry,
    line_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    product: str | None = None,
) -> EscapeRateOut:
    """The pass audits of ``line_id`` over a period (default: the last 24 h, at most 31 days).

    The rate counts the samples only; the near misses are counted apart. With ``product`` (one of the
    line's, else :class:`InvalidFieldError` naming ``product``), only its frames count.
    """
    line = lines.require(line_id)
    line.for_product(product)  # a product the line does not make: 422 naming `product`
    since, until = check_period(since, until)
    flt = repo.AuditFilter(
        state=None,
        reason="sample",
        line_id=line_id,
        product=product,
        since=since,
        until=until,
        exclude_units=challenge_units(lines, line_id),
    )
    with db.reader() as session:
        counts = repo.audit_counts(session, flt)
        by_class = repo.escape_classes(session, flt)
        near = repo.audit_counts(session, replace(flt, reason="borderline"))
        last = _last_escape(session, replace(flt, reason=None))
    rate = escape_rate(counts.escapes, counts.audited)
    return EscapeRateOut(
        line_id=line_id,
        product=product,
        since=since,
        until=until,
        sampled=counts.kept,
        audited=counts.audited,
        escapes=counts.escapes,
        pending=counts.kept - counts.audited,
        escape_rate=rate.rate,
        low=rate.low,
        high=rate.high,
        escapes_by_class=dict(sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0]))),
        last_escape=last,
        borderline=NearMissCountsOut(
            kept=near.kept, audited=near.audited, escapes=near.escapes, pending=near.kept - near.audited
        ),
    )


#: The longest period a hold covers (:data:`.holds.MAX_HOLD_PERIOD`): an older clean audit suggests none.
_SUSPECT_WINDOW = timedelta(days=31)


def _last_escape(session: Session, flt: repo.AuditFilter) -> LastEscapeOut | None:
    """The newest escape ``flt`` selects, and the newest clean audit of its line and product before it."""
    escape = repo.newest_by_outcome(session, flt, "escape")
    if escape is None:
        return None
    around = replace(flt, product=escape.product, since=escape.captured_at - _SUSPECT_WINDOW, until=None)
    clean = repo.newest_by_outcome(session, around, "ok", before=escape.captured_at)
    return LastEscapeOut(
        inspection_id=escape.id,
        code=escape.code,
        product=escape.product,
        captured_at=escape.captured_at,
        suspect_since=clean.captured_at if clean is not None else None,
    )
