"""The readiness probe's row: rewritten by ``/readyz`` to prove the store takes a write."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linecheck.serving.store.models import ReadinessProbe
from linecheck.serving.store.repositories.base import insert_for, table_of

_PROBE_ID = 1


def touch_probe(session: Session, *, by: str, at: datetime) -> None:
    """Write the probe row (insert or overwrite); the caller commits."""
    stmt = insert_for(session, table_of(ReadinessProbe)).values(id=_PROBE_ID, at=at, by=by)
    session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"at": at, "by": by}))
