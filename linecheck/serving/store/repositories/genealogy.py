"""Genealogy links between codes (parent = the later, larger thing: module, batch, box)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, bindparam, select, text
from sqlalchemy.orm import Session

from linecheck.serving.store.models import GenealogyLink, utcnow
from linecheck.serving.store.repositories.base import insert_for, table_of

#: Key of the PostgreSQL advisory lock genealogy writers take (so a cycle check sees every link).
_WRITE_LOCK_KEY = 0x6C63_6765_6E65  # "lcgene"


def lock_for_writes(session: Session) -> None:
    """Serialise genealogy writers until the transaction ends (SQLite writers already queue)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK_KEY})


def add_link(
    session: Session, *, parent: str, child: str, relation: str, at: datetime, at_tz: str, actor: str
) -> bool:
    """Record a link once (``at_tz``: the offset it was posted with); True when this call created it."""
    table = table_of(GenealogyLink)
    stmt = (
        insert_for(session, table)
        .values(
            parent_code=parent,
            child_code=child,
            relation=relation,
            at=at,
            at_tz=at_tz,
            created_at=utcnow(),
            created_by=actor,
        )
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return session.execute(stmt).first() is not None


# Read statements of the trace path are built once (expanding IN parameters): building and
# coercing a select per call cost more than running it on an indexed column.
_PARENTS_OF = select(GenealogyLink).where(GenealogyLink.child_code.in_(bindparam("codes", expanding=True)))
_CHILDREN_OF = select(GenealogyLink).where(GenealogyLink.parent_code.in_(bindparam("codes", expanding=True)))


def _links(session: Session, query: Select[GenealogyLink], codes: Sequence[str]) -> list[GenealogyLink]:
    """``query``'s links for ``codes``, :data:`_IN_CHUNK` codes a query (a hold's units are thousands)."""
    found: list[GenealogyLink] = []
    for start in range(0, len(codes), _IN_CHUNK):
        found += session.scalars(query, {"codes": list(codes[start : start + _IN_CHUNK])})
    return found


def parents_of(session: Session, codes: Sequence[str]) -> list[GenealogyLink]:
    """Links whose child is one of ``codes``."""
    return _links(session, _PARENTS_OF, codes)


def children_of(session: Session, codes: Sequence[str]) -> list[GenealogyLink]:
    """Links whose parent is one of ``codes``."""
    return _links(session, _CHILDREN_OF, codes)


_LINK = select(GenealogyLink.id).where(
    GenealogyLink.parent_code == bindparam("parent"),
    GenealogyLink.child_code == bindparam("child"),
    GenealogyLink.relation == bindparam("relation"),
)
_CHILD_CODES_OF = select(GenealogyLink.parent_code, GenealogyLink.child_code).where(
    GenealogyLink.parent_code.in_(bindparam("codes", expanding=True))
)
#: Codes one descent query asks about at most (SQLite's bound-parameter limit is far above).
_IN_CHUNK = 900


def has_link(session: Session, *, parent: str, child: str, relation: str) -> bool:
    """Whether exactly this link is stored."""
    return (
        session.execute(_LINK, {"parent": parent, "child": child, "relation": relation}).first() is not None
    )


def descent_path(session: Session, start: str, goal: str, *, max_codes: int) -> list[str] | None:
    """Codes from ``start`` down to ``goal`` through child links (any relation), or None when none.

    Breadth-first, one query per level (chunked), each code visited once. Raises
    :class:`OverflowError` after visiting ``max_codes`` codes without an answer, so that a huge
    genealogy cannot stall a write (the caller refuses the link rather than guess).
    """
    came_from: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        if len(came_from) > max_codes:
            raise OverflowError(f"more than {max_codes} codes below {start!r}")
        following: list[str] = []
        for i in range(0, len(frontier), _IN_CHUNK):
            rows = session.execute(_CHILD_CODES_OF, {"codes": frontier[i : i + _IN_CHUNK]})
            for parent, child in rows:
                if child in came_from:
                    continue
                came_from[child] = parent
                if child == goal:
                    path = [child]
                    while (step := came_from[path[-1]]) is not None:
                        path.append(step)
                    return path[::-1]
                following.append(child)
        frontier = following
    return None
