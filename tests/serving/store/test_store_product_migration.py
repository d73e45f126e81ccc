"""Migration 0012 adds ``inspections.product`` and its index, and takes them away."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from lc_plain_rows import insert_rows, inspection_rows
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from linecheck.serving.store.db import alembic_config, current_revision, make_engine
from linecheck.serving.store.models import Inspection

INDEX = "ix_inspections_line_id_product_captured_at"


def _columns(engine: sa.Engine) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns("inspections")}


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {
        i["name"]: list(i["column_names"]) for i in inspect(engine).get_indexes("inspections") if i["name"]
    }


def test_0012_adds_the_product_and_its_downgrade_keeps_the_inspections(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0011")
        assert "product" not in _columns(engine)
        rows = inspection_rows(
            line_id="pv-01", kind="pv", code="PV000000000001", inspection_id="i-0012", station="el",
            code_status="read", size=512, defect_count=0,
        )  # fmt: skip
        with engine.begin() as conn:
            insert_rows(conn, rows)

        command.upgrade(config, "0012")
        assert current_revision(engine) == "0012"
        column = _columns(engine)["product"]
        assert column["nullable"] and getattr(column["type"], "length", None) == 64
        assert _indexes(engine)[INDEX] == ["line_id", "product", "captured_at"]
        # the table as revision 0012 has it (not the models' later columns)
        table = sa.Table("inspections", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == "i-0012")).one()
            assert row.product is None  # stored before: the line's own config
            conn.execute(table.update().where(table.c.id == "i-0012").values(product="PV-6x12"))
        with engine.connect() as conn:
            found = (
                conn.execute(
                    sa.select(table.c.id).where(table.c.line_id == "pv-01", table.c.product == "PV-6x12")
                )
                .scalars()
                .all()
            )
            assert found == ["i-0012"]

        command.downgrade(config, "0011")
        assert current_revision(engine) == "0011"
        assert "product" not in _columns(engine)
        assert INDEX not in _indexes(engine)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT * FROM inspections WHERE id = 'i-0012'")).mappings().one()
        assert (kept["code"], kept["verdict"], kept["image_width"]) == ("PV000000000001", "fail", 512)

        command.upgrade(config, "head")  # and up again
        with Session(engine) as session:
            again = session.get(Inspection, "i-0012")
            assert again is not None and again.product is None
    finally:
        engine.dispose()
