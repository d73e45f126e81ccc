"""Migration 0014 adds ``inspections.audit_borderline`` (near misses) and widens the audit queue's partial
index to both flags, and takes them away again; the audit queries read through that index on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from lc_plain_rows import insert_rows, inspection_rows
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from linecheck.serving.store.db import alembic_config, current_revision, make_engine
from linecheck.serving.store.repositories import audits as repo

KEPT = "ix_inspections_audit_kept"
SAMPLES = "ix_inspections_audit_sample"
T = "2026-12-14 10:00:00.000000"


def _columns(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    return {c["name"]: dict(c) for c in inspect(engine).get_columns("inspections")}


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {
        i["name"]: list(i["column_names"]) for i in inspect(engine).get_indexes("inspections") if i["name"]
    }


def _index_sql(engine: sa.Engine, name: str) -> str:
    """The index's definition as the database keeps it (where its partial predicate shows)."""
    query = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = :name AND schemaname = current_schema()"
        if engine.dialect.name == "postgresql"
        else "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    )
    with engine.connect() as conn:
        return str(conn.execute(sa.text(query), {"name": name}).scalar_one())


def _migrated_to_0013_with_an_audited_sample(url: str) -> sa.Engine:
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0013")
    rows = inspection_rows(
        line_id="pv-01", kind="pv", code="PV000000000014", inspection_id="i-0014", station="el",
        code_status="read", size=400, defect_count=0,
    )  # fmt: skip
    rows["inspections"].update(verdict="pass", audit_sample=True)
    with engine.begin() as conn:
        insert_rows(conn, rows)
        conn.execute(
            sa.text(
                "INSERT INTO audits (inspection_id, outcome, actor, created_at) "
                "VALUES ('i-0014', 'ok', 'key:qa', :at)"
            ),
            {"at": T},
        )
    return engine


def test_0014_adds_the_near_miss_flag_widens_the_queue_index_and_its_downgrade_keeps_the_rows(
    empty_url: str,
) -> None:
    engine = _migrated_to_0013_with_an_audited_sample(empty_url)
    config = alembic_config(engine)
    try:
        assert "audit_borderline" not in _columns(engine)
        command.upgrade(config, "0014")
        assert current_revision(engine) == "0014"
        column = _columns(engine)["audit_borderline"]
        assert not column["nullable"]
        indexes = _indexes(engine)
        assert indexes[KEPT] == ["line_id", "captured_at"] and SAMPLES not in indexes
        where = _index_sql(engine, KEPT).lower()
        assert "audit_sample" in where and " or " in where and "audit_borderline" in where
        # the table as revision 0014 has it
        table = sa.Table("inspections", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == "i-0014")).one()
            assert (row.audit_sample, row.audit_borderline) == (True, False)  # stored before: no near miss
            conn.execute(table.update().where(table.c.id == "i-0014").values(audit_borderline=True))
        with engine.connect() as conn:
            both = conn.execute(
                sa.select(table.c.id).where(sa.text("audit_sample"), sa.text("audit_borderline"))
            ).scalars()
            assert list(both) == ["i-0014"]

        command.downgrade(config, "0013")
        assert current_revision(engine) == "0013"
        assert "audit_borderline" not in _columns(engine)
        indexes = _indexes(engine)
        assert indexes[SAMPLES] == ["line_id", "captured_at"] and KEPT not in indexes
        assert "audit_borderline" not in _index_sql(engine, SAMPLES)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT * FROM inspections WHERE id = 'i-0014'")).mappings().one()
            audits = conn.execute(sa.text("SELECT outcome FROM audits")).scalars().all()
        assert (kept["code"], kept["verdict"], kept["image_width"], bool(kept["audit_sample"])) == (
            "PV000000000014", "pass", 400, True,
        )  # fmt: skip
        assert audits == ["ok"]

        command.upgrade(config, "head")  # and up again
        with engine.connect() as conn:
            flags = conn.execute(
                sa.text("SELECT audit_sample, audit_borderline FROM inspections WHERE id = 'i-0014'")
            ).one()
        assert (bool(flags[0]), bool(flags[1])) == (True, False)
    finally:
        engine.dispose()


def _plant(engine: sa.Engine, frames: int = 300) -> None:
    """One line whose frames are mostly plain passes, every 20th a sample, every 30th a near miss."""
    rows = inspection_rows(
        line_id="pv-01", kind="pv", code="PV000000000000", inspection_id="i-0", station="el",
        code_status="read", size=400, defect_count=0,
    )  # fmt: skip
    flags = ("audit_sample", "audit_borderline")
    table = sa.table("inspections", *(sa.column(c) for c in (*rows["inspections"], *flags)))
    with engine.begin() as conn:
        insert_rows(conn, {"lines": rows["lines"], "units": rows["units"]})
        conn.execute(
            table.insert(),
            [
                {
                    **rows["inspections"],
                    "id": f"i-{n}",
                    "verdict": "pass",
                    "captured_at": f"2026-12-14 {n // 60 % 24:02d}:{n % 60:02d}:00.000000",
                    "audit_sample": n % 20 == 0,
                    "audit_borderline": n % 30 == 0,
                }
                for n in range(frames)
            ],
        )
        conn.execute(sa.text("ANALYZE"))


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) the block runs on ``engine``."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _plan(engine: sa.Engine, statement: str, parameters: Any) -> str:
    """The query plan of one statement (PostgreSQL told not to scan a table it could read by an index)."""
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.close()
        conn.rollback()
    return plan


@pytest.mark.parametrize("reason", [None, "sample", "borderline"])
def test_the_audit_queue_and_counts_read_the_kept_frames_through_their_index(
    empty_url: str, reason: repo.AuditReason | None
) -> None:
    engine = make_engine(empty_url)
    try:
        command.upgrade(alembic_config(engine), "head")
        _plant(engine)
        flt = repo.AuditFilter(
            state="pending",
            reason=reason,
            line_id="pv-01",
            since=datetime(2026, 12, 14, tzinfo=UTC),
            until=datetime(2026, 12, 15, tzinfo=UTC),
        )
        with _statements(engine) as seen, Session(engine) as session:
            page = repo.audit_queue(session, flt, limit=5, offset=0)
            total = repo.count_audit_queue(session, flt, cap=1000)
            counts = repo.audit_counts(session, flt)
        expected = {None: 15 + 10 - 5, "sample": 15, "borderline": 10}[reason]
        assert (len(page), total, counts.kept, counts.audited) == (5, expected, expected, 0)
        assert len(seen) == 3
        for statement, parameters in seen:
            plan = _plan(engine, statement, parameters)
            assert KEPT in plan, f"{statement}\n---\n{plan}"
    finally:
        engine.dispose()
