"""Dialect-specific statements the repositories share (SQLite and PostgreSQL both speak ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Select, Table, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from linecheck.serving.store.models import Inspection


def insert_for(session: Session, table: Any) -> Any:
    """An ``INSERT`` for ``table`` with this backend's ``on_conflict_do_nothing/update``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def newest_inspections_first(session: Session, query: Select[Any], *, limit: int, offset: int) -> list[Any]:
    """A page of an inspections query, newest capture first (ties by id), as the listings page them."""
    query = query.order_by(Inspection.captured_at.desc(), Inspection.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def of_units(units: Sequence[tuple[str, str]]) -> Any:
    """The condition "an inspection of one of ``units``" ((line id, code) pairs: a line's challenge parts)."""
    return or_(*(and_(Inspection.line_id == line, Inspection.code == code) for line, code in units))


def count_capped(session: Session, ids: Select[Any], *, cap: int) -> int:
    """How many rows ``ids`` selects, counting no further than ``cap + 1`` (a page's "10,000+")."""
    matching = ids.limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(matching)) or 0)


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table of a mapped class (Core statements skip the ORM's per-row bookkeeping)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class epoch_seconds(GenericFunction[float]):
    """Seconds since 1970 of a timestamp column, on SQLite (naive UTC text) and PostgreSQL alike."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"
