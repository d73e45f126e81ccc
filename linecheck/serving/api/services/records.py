"""Genealogy links and process events: idempotent writes that record who made them."""

from __future__ import annotations

from linecheck.errors import InvalidFieldError
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.schemas import GenealogyIn, ProcessEventIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import events as event_repo
from linecheck.serving.store.repositories import genealogy as genealogy_repo


def tz_offset(minutes: int) -> str:
    """``+HH:MM`` for an offset in minutes."""
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def add_genealogy(db: Database, body: GenealogyIn, key: KeyInfo) -> bool:
    """Link parent and child; True when new, False when the same link was already stored."""
    with db.writer() as session:
        created = genealogy_repo.add_link(
            session,
            parent=body.parent,
            child=body.child,
            relation=body.relation,
            at=body.at or utcnow(),
            actor=key.actor,
        )
        session.commit()
    return created


def add_event(db: Database, lines: LineRegistry, code: str, body: ProcessEventIn, key: KeyInfo) -> bool:
    """Record a process event for ``code``; True when new, False for a repeat of (code, type, at)."""
    if body.line_id is not None:
        if lines.get(body.line_id) is None:
            raise InvalidFieldError(
                "line_id", body.line_id, f"not a registered line; known: {sorted(lines.all())}"
            )
        require_line(key, body.line_id)
    offset = body.at.utcoffset()
    with db.writer() as session:
        created = event_repo.add_event(
            session,
            code=code,
            type=body.type,
            at=body.at,
            at_tz=tz_offset(int(offset.total_seconds() // 60) if offset else 0),
            line_id=body.line_id,
            location=body.location,
            detail=body.detail,
            actor=key.actor,
        )
        session.commit()
    return created
