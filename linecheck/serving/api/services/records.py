"""Genealogy links and process events: idempotent writes that record who made them.

Scope: a unit belongs to the line that first inspected it (``units.line_id``; a code typed in for
an unread frame belongs to that frame's line). Codes without a unit (raw-material lots, batches,
boxes) belong to no line, and writing about them claims nothing:

* a process event for a unit needs a key that may write for the unit's line; any line key may
  record events for a code no line owns;
* a genealogy link may touch units of the key's lines only; a line key needs at least one of its
  own units in the link, a reviewer key may also link two codes no line owns;
* a link that would close a cycle (``A`` contains ``B`` ... contains ``A``) is refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linecheck.errors import ConflictError, PermissionDeniedError
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.schemas import GenealogyIn, ProcessEventIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import events as event_repo
from linecheck.serving.store.repositories import genealogy as genealogy_repo
from linecheck.serving.store.repositories import inspections as inspection_repo

#: Codes a cycle check visits at most below the new child before it refuses the link.
CYCLE_CHECK_MAX_CODES = 100_000


def tz_offset(minutes: int) -> str:
    """``+HH:MM`` for an offset in minutes."""
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def offset_of(value: datetime) -> str:
    """The ``+HH:MM`` offset ``value`` was given in."""
    offset = value.utcoffset()
    return tz_offset(int(offset.total_seconds() // 60) if offset else 0)


def owner_of(session: Session, code: str) -> str | None:
    """The line that owns ``code`` (the line of its unit), or None when no line does."""
    unit = inspection_repo.get_unit(session, code)
    return unit.line_id if unit is not None else None


def _check_owner(key: KeyInfo, field: str, code: str, owner: str | None) -> None:
    if owner is not None and not key.may_write_line(owner):
        raise PermissionDeniedError(
            f"{field}={code!r} is a unit of line {owner}; API key {key.id} may only write for lines "
            f"{list(key.lines)}"
        )


def _check_link_scope(session: Session, body: GenealogyIn, key: KeyInfo) -> None:
    owners = {
        field: owner_of(session, code) for field, code in (("parent", body.parent), ("child", body.child))
    }
    _check_owner(key, "parent", body.parent, owners["parent"])
    _check_owner(key, "child", body.child, owners["child"])
    if key.role == "line" and owners["parent"] is None and owners["child"] is None:
        raise PermissionDeniedError(
            f"parent={body.parent!r} and child={body.child!r} are units of no line: a line key links its "
            "own lines' units; a reviewer key links codes no line owns"
        )


def _check_no_cycle(session: Session, body: GenealogyIn) -> None:
    """Refuse ``parent`` -> ``child`` when ``parent`` is already below ``child``."""
    try:
        path = genealogy_repo.descent_path(session, body.child, body.parent, max_codes=CYCLE_CHECK_MAX_CODES)
    except OverflowError as exc:
        raise ConflictError(
            f"parent={body.parent!r}, child={body.child!r}: cannot check for a genealogy cycle ({exc})"
        ) from None
    if path is not None:
        cycle = " -> ".join([*path, body.child])
        raise ConflictError(
            f"parent={body.parent!r}, child={body.child!r}: {body.parent} is already below {body.child}, "
            f"so this link would close the cycle {cycle}"
        )


def add_genealogy(db: Database, body: GenealogyIn, key: KeyInfo) -> bool:
    """Link parent and child; True when new, False when the same link was already stored.

    :class:`PermissionDeniedError` outside the key's scope, :class:`ConflictError` for a cycle.
    """
    at = body.at or utcnow()
    with db.writer() as session:
        genealogy_repo.lock_for_writes(session)
        _check_link_scope(session, body, key)
        if genealogy_repo.has_link(session, parent=body.parent, child=body.child, relation=body.relation):
            return False
        _check_no_cycle(session, body)
        created = genealogy_repo.add_link(
            session,
            parent=body.parent,
            child=body.child,
            relation=body.relation,
            at=at,
            at_tz=offset_of(at),
            actor=key.actor,
        )
        session.commit()
    return created


def add_event(db: Database, lines: LineRegistry, code: str, body: ProcessEventIn, key: KeyInfo) -> bool:
    """Record a process event for ``code``; True when new, False for a repeat of (code, type, at).

    :class:`PermissionDeniedError` when ``code`` is a unit of a line the key may not write for.
    """
    if body.line_id is not None:
        lines.require_field(body.line_id)
        require_line(key, body.line_id)
    with db.writer() as session:
        _check_owner(key, "code", code, owner_of(session, code))
        created = event_repo.add_event(
            session,
            code=code,
            type=body.type,
            at=body.at,
            at_tz=offset_of(body.at),
            line_id=body.line_id,
            location=body.location,
            detail=body.detail,
            actor=key.actor,
        )
        session.commit()
    return created
