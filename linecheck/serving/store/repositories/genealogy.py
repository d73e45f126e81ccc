"""Genealogy links between codes (parent = the later, larger thing: module, batch, box)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import GenealogyLink, utcnow
from linecheck.serving.store.repositories.base import insert_for, table_of


def add_link(session: Session, *, parent: str, child: str, relation: str, at: datetime, actor: str) -> bool:
    """Record a link once; True when this call created it (a repeat is a no-op)."""
    table = table_of(GenealogyLink)
    stmt = (
        insert_for(session, table)
        .values(
            parent_code=parent,
            child_code=child,
            relation=relation,
            at=at,
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


def parents_of(session: Session, codes: Sequence[str]) -> list[GenealogyLink]:
    """Links whose child is one of ``codes``."""
    return list(session.scalars(_PARENTS_OF, {"codes": list(codes)}))


def children_of(session: Session, codes: Sequence[str]) -> list[GenealogyLink]:
    """Links whose parent is one of ``codes``."""
    return list(session.scalars(_CHILDREN_OF, {"codes": list(codes)}))
