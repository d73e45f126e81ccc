"""Golden samples: the reference good image of a station, chosen by a reviewer or the newest good frame."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import GoldenSample, Inspection


def chosen_golden(session: Session, line_id: str, station: str) -> GoldenSample | None:
    """The newest golden sample chosen for ``station`` of ``line_id``, or None."""
    query = (
        select(GoldenSample)
        .where(GoldenSample.line_id == line_id, GoldenSample.station == station)
        .order_by(GoldenSample.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def add_golden(
    session: Session,
    *,
    line_id: str,
    station: str,
    image_ref: str,
    inspection_id: str | None,
    note: str | None,
    actor: str,
    at: datetime,
) -> GoldenSample:
    """Record a new golden sample for a station (earlier ones stay, the newest is in use)."""
    row = GoldenSample(
        line_id=line_id,
        station=station,
        image_ref=image_ref,
        inspection_id=inspection_id,
        note=note,
        created_at=at,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def newest_good_frame(
    session: Session, line_id: str, station: str, *, look_back: int = 500
) -> Inspection | None:
    """The newest stored frame of ``station`` judged pass with no defect (among the line's last frames)."""
    recent = (
        select(Inspection.id)
        .where(Inspection.line_id == line_id)
        .order_by(Inspection.captured_at.desc())
        .limit(look_back)
        .subquery()
    )
    query = (
        select(Inspection)
        .where(
            Inspection.id.in_(select(recent.c.id)),
            Inspection.station == station,
            Inspection.verdict == "pass",
            Inspection.defect_count == 0,
            Inspection.image_ref.is_not(None),
            Inspection.image_expired_at.is_(None),  # a frame the image retention deleted shows nothing
        )
        .order_by(Inspection.captured_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()
