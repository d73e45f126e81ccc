"""Metadata rows of stored images (who stored which bytes, when)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linecheck.serving.store.models import Image, utcnow
from linecheck.serving.store.repositories.base import insert_for, table_of


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


def get_image(session: Session, ref: str) -> Image | None:
    """The record of ``ref``, or None."""
    return session.get(Image, ref)
