"""Migrations own the schema; engine settings; timestamps; constraints (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from linecheck.errors import ConfigError
from linecheck.serving.store.db import (
    Database,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    sqlite_url,
    upgrade_head,
)
from linecheck.serving.store.models import Base, Line, ProcessEvent, Unit

TABLES = {
    "lines", "stations", "units", "inspections", "defects", "reviews",
    "genealogy", "process_events", "images", "api_keys", "golden_samples", "readiness_probe", "audits",
}  # fmt: skip


def test_migrations_create_exactly_the_models(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        upgrade_head(engine)
        upgrade_head(engine)  # idempotent
        assert current_revision(engine) == head_revision() == "0015"
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
        command.downgrade(alembic_config(engine), "base")
        assert not TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_concurrent_start_ups_migrate_once(empty_url: str) -> None:
    """Three processes (like three API workers) migrate the same empty database at once."""
    script = (
        "import sys; from linecheck.serving.store.db import make_engine, upgrade_head; "
        "upgrade_head(make_engine(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, empty_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], [err for _, err in results]
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) == head_revision() == "0015"
    finally:
        engine.dispose()


def test_threads_in_one_process_migrate_one_at_a_time(empty_url: str) -> None:
    engines = [make_engine(empty_url) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def start(engine: Engine) -> None:
        try:
            barrier.wait()
            upgrade_head(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert errors == []


def test_sqlite_runs_wal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "x.db"), busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    finally:
        engine.dispose()


def test_sqlite_writer_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "x.db")
    db = Database.from_url(url)
    other = Database.from_url(url, busy_timeout_ms=0)
    try:
        upgrade_head(db.engine)
        with db.writer() as session:
            session.execute(select(Line)).all()  # a read only, but BEGIN IMMEDIATE already locked
            with other.writer() as blocked, pytest.raises(OperationalError, match="locked"):
                blocked.execute(text("SELECT 1"))
        with db.reader() as reader:
            reader.execute(select(Line)).all()
            with other.writer() as free:  # a deferred reader does not block writers
                free.execute(text("SELECT 1"))
                free.commit()
    finally:
        db.dispose()
        other.dispose()


def test_sqlite_writers_of_one_process_take_turns_instead_of_polling(tmp_path: Path) -> None:
    # With a 1 ms busy timeout, writers that reached SQLite together would fail with "locked";
    # the process-wide write lock makes them wait their turn before BEGIN IMMEDIATE.
    db = Database.from_url(sqlite_url(tmp_path / "x.db"), busy_timeout_ms=1)
    upgrade_head(db.engine)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write(worker: int) -> None:
        start.wait()
        try:
            for n in range(10):
                with db.writer() as session:
                    session.add(Line(id=f"line-{worker}-{n}", kind="bearing", name="x", config={}))
                    session.flush()
                    time.sleep(0.002)  # hold the transaction open for a moment
                    session.commit()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        with db.reader() as session:
            assert len(session.execute(select(Line)).all()) == 80
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("sqlite://", "in-memory"),
        ("mysql+pymysql://u@h/db", "unsupported backend"),
        ("not a url", "not a valid"),
    ],
)
def test_bad_database_urls(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        make_engine(url)
    assert "database_url" in str(info.value)


def test_timestamps_are_stored_as_utc_instants(db: Database) -> None:
    at = datetime(2026, 11, 23, 11, 30, 0, 123000, tzinfo=timezone(timedelta(hours=1)))
    with db.writer() as session:
        session.add(
            ProcessEvent(
                code="LOT-1", type="received", at=at, at_tz="+01:00", created_by="test", created_at=at
            )
        )
        session.commit()
    with db.reader() as session:
        stored = session.scalars(select(ProcessEvent)).one()
        assert stored.at == at
        assert stored.at.tzinfo is not None and stored.at.utcoffset() == timedelta(0)
        found = session.scalars(select(ProcessEvent).where(ProcessEvent.at == at.astimezone(UTC))).all()
        assert len(found) == 1


def test_naive_timestamps_are_refused(db: Database) -> None:
    with db.writer() as session:
        session.add(ProcessEvent(code="LOT-1", type="received", at=datetime(2026, 1, 1), created_by="t"))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_foreign_keys_are_enforced(db: Database) -> None:
    with db.writer() as session:
        session.add(Unit(code="RL0000000001", kind="textile", line_id="no-such-line"))
        with pytest.raises(IntegrityError):
            session.commit()
