"""Migration 0011 adds the image retention's expiry columns and partial indexes, and takes them away."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from lc_plain_rows import T, insert_rows, inspection_rows
from sqlalchemy import inspect

from linecheck.serving.store.db import alembic_config, current_revision, make_engine

REF = "ab" * 32
COLUMNS = {
    "images": {"expired_at", "expired_by", "file_deleted_at"},
    "inspections": {"image_expired_at"},
    "defects": {"crop_expired_at", "heatmap_expired_at"},
}
INDEXES = {
    "inspections": {
        "ix_inspections_pass_image_live",
        "ix_inspections_other_image_live",
        "ix_inspections_image_ref_live",
    },
    "defects": {"ix_defects_images_live", "ix_defects_crop_ref_live", "ix_defects_heatmap_ref_live"},
    "images": {"ix_images_live_created_at", "ix_images_expired_file_left"},
}


def _columns(engine: sa.Engine, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns(table)}


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table) if i["name"]}


def _row(engine: sa.Engine, table: str, key: str, value: object) -> sa.Row:
    """One row, read with the table as the database has it now (not the models' columns)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return conn.execute(sa.select(reflected).where(reflected.c[key] == value)).one()


def test_0011_adds_the_expiry_columns_and_its_downgrade_keeps_every_row(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    try:
        command.upgrade(config, "0010")
        rows = inspection_rows(
            line_id="pv-01", kind="pv", code="PV000000000001", inspection_id="i-0011", station="el",
            code_status="read", size=512, defect_count=0,
        )  # fmt: skip
        rows["inspections"]["image_ref"] = REF
        rows["images"] = dict(ref=REF, content_type="image/png", size_bytes=7, created_at=T, created_by="k")
        with engine.begin() as conn:
            insert_rows(conn, rows)

        command.upgrade(config, "0011")
        assert current_revision(engine) == "0011"
        for table, added in COLUMNS.items():
            columns = _columns(engine, table)
            assert added <= set(columns) and all(columns[c]["nullable"] for c in added)
            assert INDEXES[table] <= _indexes(engine, table)
        # nothing stored before has expired
        assert _row(engine, "inspections", "id", "i-0011").image_expired_at is None
        image = _row(engine, "images", "ref", REF)
        assert (image.expired_at, image.expired_by, image.file_deleted_at) == (None, None, None)
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE images SET expired_at = :t, expired_by = 'X=1' WHERE ref = :r"),
                {"t": T, "r": REF},
            )

        command.downgrade(config, "0010")
        assert current_revision(engine) == "0010"
        for table, added in COLUMNS.items():
            assert not added & set(_columns(engine, table))
            assert not INDEXES[table] & _indexes(engine, table)
        kept = _row(engine, "inspections", "id", "i-0011")
        assert (kept.image_ref, kept.verdict, kept.image_width) == (REF, "fail", 512)
        assert _row(engine, "images", "ref", REF).size_bytes == 7

        command.upgrade(config, "head")  # and up again
        assert _row(engine, "images", "ref", REF).expired_at is None
    finally:
        engine.dispose()
