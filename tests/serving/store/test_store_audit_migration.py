"""Migration 0013 adds ``inspections.audit_sample`` and the append-only ``audits``, and takes them away."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from lc_plain_rows import insert_rows, inspection_rows
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from linecheck.serving.store.db import alembic_config, current_revision, make_engine
from linecheck.serving.store.integrity import AUDIT_GUARDS, check_store

INDEX = "ix_inspections_audit_sample"
T = "2026-12-12 10:00:00.000000"


def _columns(engine: sa.Engine) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns("inspections")}


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {
        i["name"]: list(i["column_names"]) for i in inspect(engine).get_indexes("inspections") if i["name"]
    }


def _audit(conn: sa.Connection, outcome: str, inspection_id: str = "i-0013") -> None:
    table = sa.table(
        "audits", *(sa.column(c) for c in ("inspection_id", "outcome", "actor", "comment", "created_at"))
    )
    conn.execute(
        table.insert().values(
            inspection_id=inspection_id, outcome=outcome, actor="key:qa", comment=None, created_at=T
        )
    )


def _migrated_to_0012_with_a_pass(url: str) -> sa.Engine:
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0012")
    rows = inspection_rows(
        line_id="pv-01", kind="pv", code="PV000000000013", inspection_id="i-0013", station="el",
        code_status="read", size=400, defect_count=0,
    )  # fmt: skip
    rows["inspections"]["verdict"] = "pass"
    with engine.begin() as conn:
        insert_rows(conn, rows)
    return engine


def test_0013_adds_the_sample_flag_and_the_audits_and_its_downgrade_keeps_the_inspections(
    empty_url: str,
) -> None:
    engine = _migrated_to_0012_with_a_pass(empty_url)
    config = alembic_config(engine)
    try:
        assert "audit_sample" not in _columns(engine)
        command.upgrade(config, "0013")
        assert current_revision(engine) == "0013"
        column = _columns(engine)["audit_sample"]
        assert not column["nullable"]
        assert _indexes(engine)[INDEX] == ["line_id", "captured_at"]
        assert "audits" in inspect(engine).get_table_names()
        # the table as revision 0013 has it
        table = sa.Table("inspections", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == "i-0013")).one()
            assert row.audit_sample is False  # stored before: not a sample
            conn.execute(table.update().where(table.c.id == "i-0013").values(audit_sample=True))
            _audit(conn, "ok")
            _audit(conn, "escape")  # a re-audit is a new row
        with engine.connect() as conn:
            samples = conn.execute(
                sa.select(table.c.id).where(table.c.line_id == "pv-01", sa.text("audit_sample"))
            ).scalars()
            assert list(samples) == ["i-0013"]
            outcomes = conn.execute(sa.text("SELECT outcome FROM audits ORDER BY id")).scalars()
            assert list(outcomes) == ["ok", "escape"]
        with pytest.raises(DBAPIError), engine.begin() as conn:
            _audit(conn, "maybe")  # the outcome's check constraint

        command.downgrade(config, "0012")
        assert current_revision(engine) == "0012"
        assert "audit_sample" not in _columns(engine)
        assert INDEX not in _indexes(engine)
        assert "audits" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT * FROM inspections WHERE id = 'i-0013'")).mappings().one()
        assert (kept["code"], kept["verdict"], kept["image_width"]) == ("PV000000000013", "pass", 400)

        command.upgrade(config, "head")  # and up again
        with engine.connect() as conn:
            flag = conn.execute(sa.text("SELECT audit_sample FROM inspections WHERE id = 'i-0013'")).scalar()
            assert not flag
            assert conn.execute(sa.text("SELECT count(*) FROM audits")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audits SET outcome = 'ok'", "DELETE FROM audits", "TRUNCATE audits", "REPLACE INTO audits"],
)
def test_audits_are_append_only(empty_url: str, statement: str) -> None:
    engine = _migrated_to_0012_with_a_pass(empty_url)
    try:
        command.upgrade(alembic_config(engine), "head")
        with engine.begin() as conn:
            _audit(conn, "escape")
        postgres = engine.dialect.name == "postgresql"
        if statement.startswith("REPLACE"):
            if postgres:
                pytest.skip("REPLACE INTO is SQLite's")
            statement = (
                "REPLACE INTO audits (id, inspection_id, outcome, actor, created_at) "
                "SELECT id, inspection_id, 'ok', actor, created_at FROM audits"
            )
        elif statement.startswith("TRUNCATE") and not postgres:
            pytest.skip("TRUNCATE is PostgreSQL's")
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT outcome FROM audits")).scalars().all()
        assert rows == ["escape"]
    finally:
        engine.dispose()


def test_verify_names_a_missing_audit_guard(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        command.upgrade(alembic_config(engine), "head")
        guards = [f for f in check_store(engine) if f.check == "guards"]
        assert [f.level for f in guards] == ["ok"] * 4  # reviews, audits, holds, hold releases
        assert any("audit triggers present" in f.message for f in guards)
        dialect = engine.dialect.name
        dropped = AUDIT_GUARDS[dialect][0]
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"DROP TRIGGER {dropped}" + (" ON audits" if dialect == "postgresql" else ""))
            )
        errors = [f.message for f in check_store(engine) if f.level == "error"]
        assert errors == [f"audit triggers missing{' (dropped?)' if dialect == 'sqlite' else ''}: {dropped}"]
    finally:
        engine.dispose()
