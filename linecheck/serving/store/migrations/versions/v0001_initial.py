"""Initial traceability schema: lines, stations, units, inspections, defects, reviews, genealogy,
process events, images and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "lines",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("config", JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lines"),
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name="fk_stations_line_id_lines"),
        sa.PrimaryKeyConstraint("id", name="pk_stations"),
        sa.UniqueConstraint("line_id", "name", name="uq_stations_line_id_name"),
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name="fk_units_line_id_lines"),
        sa.PrimaryKeyConstraint("code", name="pk_units"),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("code_status", sa.String(16), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        _ts("captured_at"),
        sa.Column("captured_tz", sa.String(6), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("frame_seq", sa.Integer(), nullable=True),
        sa.Column("image_width", sa.Integer(), nullable=False),
        sa.Column("image_height", sa.Integer(), nullable=False),
        sa.Column("image_ref", sa.String(64), nullable=True),
        sa.Column("roll_offset_m", sa.Float(), nullable=True),
        sa.Column("defect_count", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("code_assigned_by", sa.String(64), nullable=True),
        _ts("code_assigned_at", nullable=True),
        sa.ForeignKeyConstraint(["code"], ["units.code"], name="fk_inspections_code_units"),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name="fk_inspections_line_id_lines"),
        sa.PrimaryKeyConstraint("id", name="pk_inspections"),
    )
    op.create_index("ix_inspections_code", "inspections", ["code"])
    op.create_index("ix_inspections_line_id_captured_at", "inspections", ["line_id", "captured_at"])
    op.create_index(
        "ix_inspections_unread",
        "inspections",
        ["captured_at"],
        sqlite_where=sa.text("code IS NULL"),
        postgresql_where=sa.text("code IS NULL"),
    )
    op.create_table(
        "defects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("inspection_id", sa.String(64), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        _ts("captured_at"),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("location", JSON, nullable=True),
        sa.Column("location_key", sa.String(32), nullable=True),
        sa.Column("along_m", sa.Float(), nullable=True),
        sa.Column("size_m", sa.Float(), nullable=True),
        sa.Column("cell_row", sa.Integer(), nullable=True),
        sa.Column("cell_col", sa.Integer(), nullable=True),
        sa.Column("zone", sa.String(16), nullable=True),
        sa.Column("crop_ref", sa.String(64), nullable=True),
        sa.Column("review_state", sa.String(16), nullable=False),
        sa.Column("final_class", sa.String(64), nullable=False),
        _ts("reviewed_at", nullable=True),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"], name="fk_defects_inspection_id_inspections"),
        sa.PrimaryKeyConstraint("id", name="pk_defects"),
    )
    op.create_index("ix_defects_inspection_id", "defects", ["inspection_id"])
    op.create_index("ix_defects_class_name", "defects", ["class_name"])
    op.create_index("ix_defects_line_id_captured_at", "defects", ["line_id", "captured_at"])
    op.create_index(
        "ix_defects_review_state_line_id_captured_at", "defects", ["review_state", "line_id", "captured_at"]
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("defect_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("new_class", sa.String(64), nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        _ts("at"),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["defect_id"], ["defects.id"], name="fk_reviews_defect_id_defects"),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
    )
    op.create_index("ix_reviews_defect_id", "reviews", ["defect_id"])
    op.create_table(
        "genealogy",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("parent_code", sa.String(64), nullable=False),
        sa.Column("child_code", sa.String(64), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        _ts("at"),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_genealogy"),
        sa.UniqueConstraint(
            "parent_code", "child_code", "relation", name="uq_genealogy_parent_code_child_code_relation"
        ),
    )
    op.create_index("ix_genealogy_parent_code", "genealogy", ["parent_code"])
    op.create_index("ix_genealogy_child_code", "genealogy", ["child_code"])
    op.create_table(
        "process_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        _ts("at"),
        sa.Column("at_tz", sa.String(6), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("detail", JSON, nullable=True),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_process_events"),
        sa.UniqueConstraint("code", "type", "at", name="uq_process_events_code_type_at"),
    )
    op.create_index("ix_process_events_code_at", "process_events", ["code", "at"])
    op.create_table(
        "images",
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("ref", name="pk_images"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in (
        "api_keys",
        "images",
        "process_events",
        "genealogy",
        "reviews",
        "defects",
        "inspections",
        "units",
        "stations",
        "lines",
    ):
        op.drop_table(table)
