"""Dialect-specific statements the repositories share (SQLite and PostgreSQL both speak ON CONFLICT)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def insert_for(session: Session, table: Any) -> Any:
    """An ``INSERT`` for ``table`` with this backend's ``on_conflict_do_nothing/update``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table of a mapped class (Core statements skip the ORM's per-row bookkeeping)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
