"""Migration 0015 adds the holds and their releases with their append-only guards, on SQLite and PostgreSQL,
and its downgrade takes them away again, leaving the inspections as they were."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect

from linecheck.serving.store.db import alembic_config, current_revision, head_revision, make_engine
from linecheck.serving.store.integrity import HOLD_GUARDS, check_store

HOLD = (
    "INSERT INTO holds (line_id, since, until, cause, reason, created_by, created_at) VALUES "
    "('bearing-01', '2026-12-01 08:00:00', '2026-12-01 16:00:00', :cause, 'rabbit passed', 'key:qa', "
    "'2026-12-01 16:05:00')"
)


def test_0015_adds_holds_and_releases_append_only_and_its_downgrade_drops_them(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0014")
        assert not {"holds", "hold_releases"} & set(inspect(engine).get_table_names())
        command.upgrade(config, "0015")
        assert current_revision(engine) == "0015" == head_revision()
        with engine.begin() as conn:
            conn.execute(sa.text(HOLD), {"cause": "verification"})
            conn.execute(
                sa.text(
                    "INSERT INTO hold_releases (hold_id, code, comment, created_by, created_at) "
                    "VALUES (1, NULL, 'sorted', 'key:qa', '2026-12-01 18:00:00')"
                )
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text(HOLD), {"cause": "bad luck"})  # the cause's check constraint
        for statement in ("UPDATE holds SET cause = 'other'", "DELETE FROM hold_releases"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(statement))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT cause FROM holds")).scalars().all() == ["verification"]

        command.downgrade(config, "0014")
        assert current_revision(engine) == "0014"
        assert not {"holds", "hold_releases"} & set(inspect(engine).get_table_names())
        command.upgrade(config, "0015")  # and up again: nothing of the guards was left behind
        assert {"holds", "hold_releases"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_verify_names_a_missing_hold_guard(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        command.upgrade(alembic_config(engine), "head")
        assert any("hold release triggers present" in f.message for f in check_store(engine))
        dialect = engine.dialect.name
        dropped = HOLD_GUARDS[dialect][0]
        with engine.begin() as conn:
            on = " ON holds" if dialect == "postgresql" else ""
            conn.execute(sa.text(f"DROP TRIGGER {dropped}{on}"))
        errors = [f.message for f in check_store(engine) if f.level == "error"]
        assert errors == [f"hold triggers missing{' (dropped?)' if dialect == 'sqlite' else ''}: {dropped}"]
    finally:
        engine.dispose()
