"""Fixtures of the reliability suite: migrated SQLite copies, a real API (uvicorn thread), keys."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import Served

from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.testing import (
    copy_sqlite,
    find_postgres,
    migrated_sqlite_template,
    new_postgres_schema,
    temporary_postgres_database,
)

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder is a reliability test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def rel_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("rel-template"))


@pytest.fixture
def db_url(rel_template: Path, tmp_path: Path) -> str:
    return copy_sqlite(rel_template, tmp_path / "api" / "linecheck.db")


ApiFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def api_server(db_url: str, tmp_path: Path) -> ApiFactory:
    """``with api_server(**settings) as base_url``: the real API over uvicorn on a free port."""

    @contextmanager
    def start(**settings: Any) -> Iterator[str]:
        with run_api(db_url, tmp_path / "api", settings=settings) as base:
            yield base

    return start


@pytest.fixture
def keys(db_url: str) -> dict[str, str]:
    """One key per role and scope: ``textile`` / ``bearing`` line keys, ``reviewer``, ``viewer``, ..."""
    return {
        "textile": create_key(db_url, "line", "textile-01", name="textile line"),
        "bearing": create_key(db_url, "line", "bearing-01", name="bearing line"),
        "reviewer": create_key(db_url, "reviewer", name="qa"),
        "reviewer2": create_key(db_url, "reviewer", name="qa 2"),
        "viewer": create_key(db_url, "viewer", name="dashboard"),
    }


@pytest.fixture(scope="session")
def rel_postgres() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL server (skipped outside CI when none is reachable)."""
    server, why = find_postgres()
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no PostgreSQL server is reachable: {why}")
        pytest.skip(f"no PostgreSQL server reachable ({why})")
    with temporary_postgres_database(server, prefix="linecheck_rel") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, rel_template: Path, tmp_path: Path) -> str:
    """A fresh store on each database: a migrated SQLite copy, or a new schema in PostgreSQL."""
    if request.param == "sqlite":
        return copy_sqlite(rel_template, tmp_path / "store" / "linecheck.db")
    return new_postgres_schema(request.getfixturevalue("rel_postgres"))


@pytest.fixture
def served(store_url: str, tmp_path: Path) -> Iterator[Served]:
    """The real API (uvicorn) on SQLite and on PostgreSQL, with keys."""
    keys = {
        "textile": create_key(store_url, "line", "textile-01", name="textile line"),
        "bearing": create_key(store_url, "line", "bearing-01", name="bearing line"),
        "reviewer": create_key(store_url, "reviewer", name="qa"),
        "viewer": create_key(store_url, "viewer", name="dashboard"),
    }
    with run_api(store_url, tmp_path / "served") as base:
        yield Served(base=base, url=store_url, keys=keys)
