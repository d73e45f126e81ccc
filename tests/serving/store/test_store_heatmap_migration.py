"""Migration 0008 adds the nullable ``defects.heatmap_ref`` and takes it away again, keeping the rows."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from lc_plain_rows import T, insert_rows, inspection_rows
from sqlalchemy import inspect

from linecheck.serving.store.db import alembic_config, current_revision, make_engine


def _columns(engine: sa.Engine) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns("defects")}


def _seed_defect(engine: sa.Engine) -> int:
    """One line, unit, inspection and defect written as plain rows of revision 0007."""
    rows = inspection_rows(
        line_id="textile-01", kind="textile", code="RL0000000001", inspection_id="i-0008", station="cam1",
        code_status="trigger", size=64, defect_count=1,
    )  # fmt: skip
    defect = dict(
        inspection_id="i-0008", line_id="textile-01", captured_at=T, class_name="anomaly", confidence=0.9,
        x1=1.0, y1=1.0, x2=9.0, y2=9.0, crop_ref="c" * 64, review_state="pending", final_class="anomaly",
    )  # fmt: skip
    with engine.begin() as conn:
        insert_rows(conn, rows)
        stmt = sa.table("defects", *(sa.column(k) for k in [*defect, "id"])).insert().values(**defect)
        return int(conn.execute(stmt.returning(sa.column("id"))).scalar_one())


def _defect(engine: sa.Engine, defect_id: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT * FROM defects WHERE id = {defect_id}")).mappings().one())


def test_0008_adds_a_nullable_heatmap_ref_and_its_downgrade_keeps_the_defects(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0007")
        assert "heatmap_ref" not in _columns(engine)
        defect_id = _seed_defect(engine)

        command.upgrade(config, "0008")
        assert current_revision(engine) == "0008"
        column = _columns(engine)["heatmap_ref"]
        assert column["nullable"] and getattr(column["type"], "length", None) == 64
        assert _defect(engine, defect_id)["heatmap_ref"] is None  # stored before: no heat map
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE defects SET heatmap_ref = '{'h' * 64}' WHERE id = {defect_id}"))
        assert _defect(engine, defect_id)["heatmap_ref"] == "h" * 64

        command.downgrade(config, "0007")
        assert current_revision(engine) == "0007"
        assert "heatmap_ref" not in _columns(engine)
        kept = _defect(engine, defect_id)
        assert (kept["class_name"], kept["crop_ref"], kept["x2"]) == ("anomaly", "c" * 64, 9.0)

        command.upgrade(config, "head")  # and up again
        assert _defect(engine, defect_id)["heatmap_ref"] is None
    finally:
        engine.dispose()
