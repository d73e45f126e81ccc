"""Migration 0010 adds ``inspections.trigger_id`` / ``encoder_count`` and their index, and takes them away."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from lc_plain_rows import insert_rows, inspection_rows
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from linecheck.serving.store.db import alembic_config, current_revision, make_engine
from linecheck.serving.store.models import Inspection

INDEX = "ix_inspections_line_id_trigger_id"


def _columns(engine: sa.Engine) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns("inspections")}


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {
        i["name"]: list(i["column_names"]) for i in inspect(engine).get_indexes("inspections") if i["name"]
    }


def test_0010_adds_the_trigger_columns_and_its_downgrade_keeps_the_inspections(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0009")
        assert "trigger_id" not in _columns(engine)
        rows = inspection_rows(
            line_id="pv-01", kind="pv", code="PV000000000001", inspection_id="i-0010", station="el",
            code_status="trigger", size=512, defect_count=0,
        )  # fmt: skip
        with engine.begin() as conn:
            insert_rows(conn, rows)

        command.upgrade(config, "0010")
        assert current_revision(engine) == "0010"
        columns = _columns(engine)
        assert columns["trigger_id"]["nullable"] and columns["encoder_count"]["nullable"]
        assert getattr(columns["trigger_id"]["type"], "length", None) == 128
        assert _indexes(engine)[INDEX] == ["line_id", "trigger_id"]
        # the table as revision 0010 has it (not the models' later columns)
        table = sa.Table("inspections", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == "i-0010")).one()
            assert (row.trigger_id, row.encoder_count) == (None, None)  # stored before: neither
            conn.execute(  # a wrapped signed counter
                table.update()
                .where(table.c.id == "i-0010")
                .values(trigger_id="M-1001", encoder_count=-(2**63))
            )
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(table).where(table.c.line_id == "pv-01", table.c.trigger_id == "M-1001")
            ).one()
            assert (found.id, found.encoder_count) == ("i-0010", -(2**63))

        command.downgrade(config, "0009")
        assert current_revision(engine) == "0009"
        assert not {"trigger_id", "encoder_count"} & set(_columns(engine))
        assert INDEX not in _indexes(engine)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT * FROM inspections WHERE id = 'i-0010'")).mappings().one()
        assert (kept["code"], kept["verdict"], kept["image_width"]) == ("PV000000000001", "fail", 512)

        command.upgrade(config, "head")  # and up again
        with Session(engine) as session:
            again = session.get(Inspection, "i-0010")
            assert again is not None and again.trigger_id is None
    finally:
        engine.dispose()
