"""Migration 0009 adds the nullable ``inspections.geometry`` and takes it away again, keeping the rows."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from lc_plain_rows import insert_rows, inspection_rows
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from linecheck.serving.store.db import alembic_config, current_revision, make_engine

RING = {"cx": 301.5, "cy": 288.25, "r_inner": 50.0, "r_outer": 180.0, "r_split": 115.2}


def _columns(engine: sa.Engine) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns("inspections")}


def _seed_inspection(engine: sa.Engine) -> None:
    """One line, unit and inspection written as plain rows of revision 0008."""
    rows = inspection_rows(
        line_id="bearing-01", kind="bearing", code="BR0000000001", inspection_id="i-0009", station="face",
        code_status="read", size=640, defect_count=0,
    )  # fmt: skip
    with engine.begin() as conn:
        insert_rows(conn, rows)


def _geometry(engine: sa.Engine) -> object:
    """The stored geometry, read with the table as revision 0009 has it (not the models' later columns)."""
    table = sa.Table("inspections", sa.MetaData(), autoload_with=engine)
    with Session(engine) as session:
        return session.execute(sa.select(table.c.geometry).where(table.c.id == "i-0009")).scalar_one()


def _unread_index_where(engine: sa.Engine) -> str:
    """The partial index's condition as the database holds it (it must survive the downgrade)."""
    if engine.dialect.name == "postgresql":
        query = (
            "SELECT indexdef FROM pg_indexes"
            " WHERE indexname = 'ix_inspections_unread' AND schemaname = current_schema()"
        )
    else:
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_inspections_unread'"
    with engine.connect() as conn:
        return str(conn.execute(sa.text(query)).scalar_one())


def test_0009_adds_a_nullable_geometry_and_its_downgrade_keeps_the_inspections(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0008")
        assert "geometry" not in _columns(engine)
        _seed_inspection(engine)
        unread = _unread_index_where(engine)
        assert "code IS NULL" in unread

        command.upgrade(config, "0009")
        assert current_revision(engine) == "0009"
        assert _columns(engine)["geometry"]["nullable"]
        assert _geometry(engine) is None  # stored before: no geometry
        table = sa.Table("inspections", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.id == "i-0009").values(geometry=RING))
        assert _geometry(engine) == RING

        command.downgrade(config, "0008")
        assert current_revision(engine) == "0008"
        assert "geometry" not in _columns(engine)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT * FROM inspections WHERE id = 'i-0009'")).mappings().one()
        assert (kept["code"], kept["verdict"], kept["image_width"]) == ("BR0000000001", "fail", 640)
        assert _unread_index_where(engine) == unread

        command.upgrade(config, "head")  # and up again
        assert _geometry(engine) is None
    finally:
        engine.dispose()
