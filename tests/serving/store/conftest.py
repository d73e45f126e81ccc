"""Store fixtures: each test runs on a fresh SQLite file and, when reachable, a fresh PostgreSQL schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from linecheck.config import load_lines
from linecheck.serving.store.db import Database, sqlite_url, upgrade_head
from linecheck.serving.store.repositories.lines import upsert_line
from linecheck.serving.store.testing import find_postgres, new_postgres_schema, temporary_postgres_database

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL server (skipped outside CI when none is reachable)."""
    server, why = find_postgres()
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no PostgreSQL server is reachable: {why}")
        pytest.skip(f"no PostgreSQL server reachable ({why})")
    with temporary_postgres_database(server) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database (no tables yet)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "store.db")
    return new_postgres_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture
def db(empty_url: str) -> Iterator[Database]:
    """A migrated database with the shipped lines registered."""
    database = Database.from_url(empty_url)
    upgrade_head(database.engine)
    with database.writer() as session:
        for line in load_lines(ROOT / "configs" / "lines").values():
            upsert_line(session, line, actor="test")
        session.commit()
    yield database
    database.dispose()
