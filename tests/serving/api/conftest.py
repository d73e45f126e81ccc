"""API test fixtures: a real migrated SQLite file per test, the real app under TestClient, keys per role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Api, make_settings
from fastapi.testclient import TestClient
from lc_challenge import qa_lines_in

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


@pytest.fixture(scope="module")
def qa_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped lines; bearing-01 with challenge parts, pv-01 making two products (PV-6x10, PV-6x12)."""
    return qa_lines_in(tmp_path_factory.mktemp("lines"))


@pytest.fixture
def qa_api(any_db_url: str, qa_lines: Path, tmp_path: Path) -> Iterator[Api]:
    """The app over :func:`qa_lines` on SQLite and PostgreSQL, with line keys, reviewers (one of bearing-01
    only) and a viewer."""
    app = create_app(make_settings(any_db_url, tmp_path, lines_dir=qa_lines))
    with TestClient(app) as client:
        db = app.state.context.db
        keys = {
            "pv": create_key(db, "line", "pv-01"),
            "bearing": create_key(db, "line", "bearing-01"),
            "reviewer": create_key(db, "reviewer", name="qa"),
            "bearing-reviewer": create_key(db, "reviewer", "bearing-01"),
            "viewer": create_key(db, "viewer"),
        }
        yield Api(client=client, context=app.state.context, keys=keys)
