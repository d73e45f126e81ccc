"""Engines and sessions for SQLite (default) and PostgreSQL, and the Alembic upgrade step.

SQLite connections run in WAL mode with foreign keys on, a busy timeout and ``synchronous=FULL``
(every commit is fsynced, so what the API acknowledged survives a power cut). Transactions are
begun explicitly: a write session starts with ``BEGIN IMMEDIATE`` so that concurrent writers
queue on the busy timeout instead of failing when a read lock cannot be upgraded; read
sessions use a plain deferred ``BEGIN``. Within one process, SQLite write sessions also queue on
a lock before they begin: SQLite's busy handler sleeps and polls, letting late writers overtake,
which stretched the p99 of concurrent ingest to seconds (``bench/RESULTS.md``, API ingest).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from linecheck.errors import ConfigError, StoreError, StoreFullError

#: Execution option that marks an engine (view) whose transactions write.
WRITE_OPTION = "linecheck_write"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Alembic keeps its running context in module globals: one migration at a time per process.
_MIGRATION_LOCK = threading.Lock()


#: Errors of the database server or file rather than of the statement: the store is unavailable or full.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
#: SQLite's SQLITE_FULL, PostgreSQL's disk_full SQLSTATE.
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def store_error(exc: OperationalError | InterfaceError) -> StoreError:
    """The linecheck error for a database failure: :class:`StoreFullError` when its disk is full."""
    orig = exc.orig
    reason = (str(orig if orig is not None else exc).strip().splitlines() or ["(no message)"])[0]
    full = (
        getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(orig, "sqlstate", None) == _PG_DISK_FULL
        or "No space left on device" in reason
    )
    if full:
        return StoreFullError(
            f"the database's disk is full, nothing was stored (free space or grow it): {reason}"
        )
    return StoreError(f"the database is unavailable: {reason}")


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite database file."""
    return f"sqlite+pysqlite:///{Path(path).resolve()}"


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=FULL")  # a commit the API acknowledged survives a power cut
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str | URL, *, busy_timeout_ms: int = 15000, pool_size: int = 10) -> Engine:
    """Create an engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError for malformed URLs
        raise ConfigError(f"database_url={str(url)!r}: not a valid SQLAlchemy URL ({exc})") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise ConfigError(f"database_url={str(url)!r}: use a SQLite file, not an in-memory database")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
        )
        _install_sqlite_pragmas(engine, busy_timeout_ms)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True)
    raise ConfigError(f"database_url={str(url)!r}: unsupported backend {backend!r}; use sqlite or postgresql")


class Database:
    """An engine plus the two session factories the services use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)
        # SQLite has one writer at a time: wait in line here, in order, not in its polling busy handler.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str | URL, **engine_kwargs: Any) -> Database:
        """Create the engine for ``url`` and wrap it."""
        return cls(make_engine(url, **engine_kwargs))

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def reader(self) -> Session:
        """A session for reads."""
        return self._read()

    @contextmanager
    def writer(self) -> Iterator[Session]:
        """A write session (``with db.writer() as session``) holding SQLite's write lock up front.

        On SQLite the session also holds this process's write lock for its lifetime, so writers of
        one process take turns in arrival order; PostgreSQL writers run concurrently. A full disk
        raises :class:`StoreFullError`, a database that cannot be reached or written :class:`StoreError`.
        """
        try:
            if self._write_lock is None:
                with self._write() as session:
                    yield session
                return
            with self._write_lock, self._write() as session:
                yield session
        except UNAVAILABLE_ERRORS as exc:
            raise store_error(exc) from exc

    def analyze(self) -> None:
        """Refresh SQLite's planner statistics (bounded sampling: milliseconds even at millions of rows).

        PostgreSQL's autovacuum keeps its own statistics, so this does nothing there.
        """
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(engine: Engine | None = None) -> Any:
    """Alembic ``Config`` pointing at the packaged migrations (and ``engine`` when given)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade_head(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe when several processes start at once)."""
    from alembic import command

    with _MIGRATION_LOCK:
        command.upgrade(alembic_config(engine), "head")


def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigError(f"no migrations found under {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(url: str, *, migrate: bool = True) -> Database:
    """Connect to the store at ``url`` (bringing its schema to head unless ``migrate`` is False)."""
    db = Database.from_url(url)
    if migrate:
        upgrade_head(db.engine)
    return db
