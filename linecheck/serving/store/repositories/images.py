"""Metadata rows of stored images (who stored which bytes, when; whether the retention expired them)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linecheck.serving.store.models import Image, utcnow
from linecheck.serving.store.repositories.base import insert_for, table_of

#: Refs per ``IN (...)`` list (SQLite's bound-parameter limit is far above it).
_IN_CHUNK = 900


def record_image(session: Session, ref: str, *, content_type: str, size_bytes: int, actor: str) -> bool:
    """Record an image once; True when this call created the record."""
    stmt = (
        insert_for(session, table_of(Image))
        .values(
            ref=ref, content_type=content_type, size_bytes=size_bytes, created_at=utcnow(), created_by=actor
        )
        .on_conflict_do_nothing()
        .returning(table_of(Image).c.ref)
    )
    return session.execute(stmt).first() is not None


def revive_image(session: Session, ref: str, *, actor: str, at: datetime) -> bool:
    """Make an expired image stored again (the same bytes were uploaded anew); True when it had expired.

    It counts as stored by ``actor`` at ``at`` from now on; the records that said it expired keep saying so.
    """
    result = session.execute(
        update(Image)
        .where(Image.ref == ref, Image.expired_at.is_not(None))
        .values(expired_at=None, expired_by=None, file_deleted_at=None, created_at=at, created_by=actor)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def get_image(session: Session, ref: str) -> Image | None:
    """The record of ``ref``, or None."""
    return session.get(Image, ref)


def expired_among(session: Session, refs: Iterable[str | None], *, lock: bool = False) -> dict[str, datetime]:
    """When each of ``refs`` that expired did (refs without a record, or not expired, are left out).

    ``lock`` takes a share lock on every record found (PostgreSQL; SQLite's writer holds the whole
    database), so that the retention cannot expire one of them before this transaction ends: a
    writer that refers to an image reads here whether it expired, then stores that with its rows.
    """
    wanted = sorted({ref for ref in refs if ref is not None})
    table = table_of(Image)
    found: dict[str, datetime] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query = select(table.c.ref, table.c.expired_at).where(table.c.ref.in_(chunk)).order_by(table.c.ref)
        if lock:
            query = query.with_for_update(read=True)
        found.update(
            {row.ref: row.expired_at for row in session.execute(query) if row.expired_at is not None}
        )
    return found
