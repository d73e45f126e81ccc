"""API test fixtures: a real migrated SQLite file per test, the real app under TestClient, keys per role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Api, make_settings
from fastapi.testclient import TestClient

from linecheck.serving.api.app import create_app
from linecheck.serving.api.context import ApiContext
from linecheck.serving.store.keys import create_key
from linecheck.serving.store.testing import (
    copy_sqlite,
    find_postgres,
    migrated_sqlite_template,
    new_postgres_schema,
    temporary_postgres_database,
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("api-template"))


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path) -> str:
    return copy_sqlite(sqlite_template, tmp_path / "linecheck.db")


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    app = create_app(make_settings(db_url, tmp_path))
    with TestClient(app) as client:
        context: ApiContext = app.state.context
        keys = {
            "textile": create_key(context.db, "line", "textile-01", name="textile line"),
            "pv": create_key(context.db, "line", "pv-01"),
            "bearing": create_key(context.db, "line", "bearing-01"),
            "reviewer": create_key(context.db, "reviewer", name="qa"),
            "viewer": create_key(context.db, "viewer"),
        }
        yield Api(client=client, context=context, keys=keys)


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
def any_db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite file, or a fresh schema in the session's PostgreSQL database."""
    if request.param == "sqlite":
        return copy_sqlite(sqlite_template, tmp_path / "linecheck.db")
    url = new_postgres_schema(request.getfixturevalue("postgres_database"))
    return url
