"""Process events (received, processed, assembled, packed, shipped) of codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import ProcessEvent, utcnow
from linecheck.serving.store.repositories.base import insert_for, table_of


def add_event(
    session: Session,
    *,
    code: str,
    type: str,
    at: datetime,
    at_tz: str,
    line_id: str | None,
    location: str | None,
    detail: dict[str, Any] | None,
    actor: str,
) -> bool:
    """Record an event once per (code, type, at); True when this call created it."""
    table = table_of(ProcessEvent)
    stmt = (
        insert_for(session, table)
        .values(
            code=code,
            type=type,
            at=at,
            at_tz=at_tz,
            line_id=line_id,
            location=location,
            detail=detail,
            created_at=utcnow(),
            created_by=actor,
        )
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return session.execute(stmt).first() is not None


_EVENTS_FOR_CODES = (
    select(ProcessEvent)
    .where(ProcessEvent.code.in_(bindparam("codes", expanding=True)))
    .order_by(ProcessEvent.at, ProcessEvent.id)
)


def events_for_codes(session: Session, codes: Sequence[str]) -> list[ProcessEvent]:
    """Events of ``codes`` in time order."""
    return list(session.scalars(_EVENTS_FOR_CODES, {"codes": list(codes)}))
