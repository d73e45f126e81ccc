"""Reads behind exports and reviewer statistics: defects of a period, reviews of a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import Defect, Inspection, Review
from linecheck.serving.store.repositories.base import table_of


def defects_page(
    session: Session,
    line_id: str,
    since: datetime,
    until: datetime,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Row[Any]]:
    """Defects of ``line_id`` captured in [since, until) with their frame, in (captured_at, id) order.

    ``after`` is the last (captured_at, id) of the previous page (keyset paging: each page is one
    indexed range, however deep).
    """
    d = table_of(Defect)
    query = (
        select(d, Inspection.station, Inspection.code, Inspection.model_name, Inspection.model_version)
        .join(Inspection, Inspection.id == d.c.inspection_id)
        .where(d.c.line_id == line_id, d.c.captured_at >= since, d.c.captured_at < until)
    )
    if after is not None:
        at, last_id = after
        query = query.where(or_(d.c.captured_at > at, and_(d.c.captured_at == at, d.c.id > last_id)))
    return list(session.execute(query.order_by(d.c.captured_at, d.c.id).limit(limit)))


def reviews_between(
    session: Session, since: datetime, until: datetime, *, line_id: str | None
) -> list[Row[Any]]:
    """Reviews made in [since, until) (of ``line_id``'s defects), oldest first, with the defect's class."""
    r = table_of(Review)
    query = (
        select(r, Defect.class_name, Defect.source, Defect.line_id)
        .join(Defect, Defect.id == r.c.defect_id)
        .where(r.c.at >= since, r.c.at < until)
    )
    if line_id is not None:
        query = query.where(Defect.line_id == line_id)
    return list(session.execute(query.order_by(r.c.id)))
