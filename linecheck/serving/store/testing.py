"""Real databases for tests: migrated SQLite files and throw-away PostgreSQL databases / schemas.

* :func:`migrated_sqlite_template` migrates a SQLite file once; :func:`copy_sqlite` clones it per
  test in a millisecond instead of migrating again.
* :func:`find_postgres` finds the local PostgreSQL server (``LINECHECK_TEST_POSTGRES_URL``, else
  ``127.0.0.1:5432`` database ``test`` as user ``postgres`` or ``root``).
* :func:`temporary_postgres_database` creates a uniquely named database and drops it afterwards;
  :func:`new_postgres_schema` adds a fresh schema inside it and returns a URL that uses it, so
  parallel test runs and tests never see each other's rows.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from linecheck.harness_settings import get_harness_settings
from linecheck.serving.store.db import make_engine, sqlite_url, upgrade_head

POSTGRES_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
#: PostgreSQL's refusal when every connection slot is taken, and how long to wait for a free one.
SATURATED = "too many clients already"
SATURATED_WAIT_S = 30.0


def migrated_sqlite_template(directory: Path) -> Path:
    """Create ``directory/template.db`` migrated to head, checkpointed into one file."""
    path = Path(directory) / "template.db"
    engine = make_engine(sqlite_url(path))
    try:
        upgrade_head(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return path


def copy_sqlite(template: Path, target: Path) -> str:
    """Copy a migrated template to ``target``; return its URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return sqlite_url(target)


def find_postgres() -> tuple[str | None, str]:
    """(server URL, "") for the first reachable candidate, or (None, why none was reachable)."""
    override = get_harness_settings().postgres_url
    candidates = (override,) if override else POSTGRES_CANDIDATES
    deadline = time.monotonic() + SATURATED_WAIT_S
    while True:
        reasons: list[str] = []
        for url in candidates:
            engine = create_engine(url, connect_args={"connect_timeout": 3})
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return url, ""
            except Exception as exc:  # any driver error means "not reachable with this URL"
                reasons.append(f"{make_url(url).render_as_string()}: {str(exc).splitlines()[0]}")
            finally:
                engine.dispose()
        # A server that is up but out of connection slots may free them in a moment (another
        # job's burst): wait for it a little rather than failing every store test at once.
        if not any(SATURATED in reason for reason in reasons) or time.monotonic() > deadline:
            return None, "; ".join(reasons)
        time.sleep(1.0)


@contextmanager
def temporary_postgres_database(server_url: str, *, prefix: str = "linecheck_test") -> Iterator[str]:
    """Create a uniquely named database on the server of ``server_url``; drop it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def new_postgres_schema(database_url: str) -> str:
    """Create a fresh schema in ``database_url``'s database; return a URL whose search_path is it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)
